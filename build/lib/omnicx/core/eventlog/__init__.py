"""The durable event log: accepted events are appended here before they are acknowledged.

Two backends share one interface. ``TableEventLog`` keeps the log in the ``events``
table of the database (embedded default). ``JetStreamEventLog`` publishes to a NATS
JetStream stream; workers then record each event into the same ``events`` table in
the transaction that processes it, so the table is the complete record in both modes
(replay, timelines) and ``(source_id, message_id)`` stays unique forever.
"""

from omnicx.core.eventlog.base import EventLog, LogEvent, make_event_log

__all__ = ["EventLog", "LogEvent", "make_event_log"]
