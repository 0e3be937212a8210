"""Web apps: the local preview, and (later) the subscriber service."""
