"""Per-recipient placeholders: written into the email once at render time, filled in per
recipient by plain substitution. `%%name%%` survives Jinja, MJML, premailer, URLs, text
wrapping and quoted-printable unchanged."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

UNSUBSCRIBE_URL = "%%unsubscribe_url%%"
PREFERENCES_URL = "%%preferences_url%%"
EMAIL = "%%email%%"

NAMES = ("unsubscribe_url", "preferences_url", "email")
PATTERN = re.compile(r"%%([A-Za-z0-9_.-]+)%%")


def fill(text: str, values: Mapping[str, str], *, html_escape: bool = False) -> str:
    """Replace every known placeholder; unknown ones stay for the checks to report."""
    if html_escape:
        values = {name: html.escape(value) for name, value in values.items()}
    return PATTERN.sub(lambda m: values.get(m[1], m[0]), text)


def unknown(text: str) -> list[str]:
    """Placeholders in `text` that no recipient value will fill."""
    return sorted({m[0] for m in PATTERN.finditer(text) if m[1] not in NAMES})
