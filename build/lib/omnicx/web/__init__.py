"""The HTTP application: API routers, error rendering, and the server-rendered UI."""
