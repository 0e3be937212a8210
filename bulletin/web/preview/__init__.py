"""`bulletin preview`: the email at desktop and phone width, its text part, headers, source
and checks, re-rendered whenever the issue, bulletin.toml or the templates change; the open
page follows by itself (server-sent events). session.py keeps the latest render; app.py
serves it."""

from .app import create_app
from .session import Preview, Snapshot

__all__ = ["Preview", "Snapshot", "create_app"]
