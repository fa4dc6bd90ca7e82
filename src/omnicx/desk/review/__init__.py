"""The review queues: unmatched senders to link, identifiers the CRM lacks to backfill."""
