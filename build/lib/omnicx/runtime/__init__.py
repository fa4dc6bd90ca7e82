"""Wiring: which processors run, and the background workers of one process."""
