"""Settings, database, the event log, processors, outbox, errors and time."""
