"""The one error base class. Library code raises these; only the CLI turns them into
messages and exit codes."""

from __future__ import annotations


class BulletinError(Exception):
    """A mistake the user can fix: the message says where and what to do."""


class SettingsError(BulletinError):
    """bulletin.toml is missing, malformed or inconsistent."""


class IssueError(BulletinError):
    """An issue file is malformed or breaks the contract."""


class RenderError(BulletinError):
    """A theme template or the MJML it produced could not be rendered."""


class TokenError(BulletinError, ValueError):
    """A signed token was tampered with, forged, expired or malformed."""


class ServiceError(BulletinError):
    """A server could not start: the port is taken, say."""


class BrowserError(BulletinError):
    """Chromium is missing or failed."""


class SendError(BulletinError):
    """Mail cannot be sent with these settings: TLS refused or missing, the login rejected,
    the server unreachable at the start. Never carries a password."""


class OutputError(BulletinError):
    """A file or folder to write cannot be written."""
