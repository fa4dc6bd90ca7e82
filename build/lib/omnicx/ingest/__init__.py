"""The tracking API, sources and write keys, imports, dead letters and replay."""
