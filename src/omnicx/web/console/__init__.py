"""The agent console: the service desk's pages (tickets here; the inbox and the
conversation view beside them)."""
