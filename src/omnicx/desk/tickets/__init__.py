"""Tickets: work that outlives a conversation (a repair, an invoice, a complaint), with a
type, priority, status, owner and team, linked conversations, internal comments, the
history of every change and an SLA resolution clock."""
