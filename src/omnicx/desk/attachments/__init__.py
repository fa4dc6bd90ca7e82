"""Files attached to desk messages: stored encrypted in the database, with size and type
limits (``store``), the agents' API (``api``), and the store channels call (``channels``)."""
