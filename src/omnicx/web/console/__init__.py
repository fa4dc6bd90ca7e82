"""The agent console: the inbox and the live stream its pages refresh themselves from,
and the ticket pages (the conversation view is beside them, in ``web.conversation_*``)."""
