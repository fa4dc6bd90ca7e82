"""The agent console: the inbox, and the live stream its pages refresh themselves from."""
