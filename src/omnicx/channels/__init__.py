"""Channels: one adapter per channel (verify, parse inbound into a canonical message
event, send outbound through the outbox)."""
