"""Users, roles, API tokens, the blind index; later masking, audit, consent and privacy."""
