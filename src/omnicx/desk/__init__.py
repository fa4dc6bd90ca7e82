"""The service desk: conversations, messages, teams, routing, SLAs, tickets."""
