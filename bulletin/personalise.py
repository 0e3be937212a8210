"""Per-recipient messages by byte patching: the MIME is built once per issue and language,
then each recipient's values are spliced in. Building an EmailMessage per recipient costs
milliseconds; this costs microseconds.

Placeholders in the bodies sit between quoted-printable soft line breaks, so a value of any
length is folded to lines of at most 76 characters on its own, and decoding gives exactly
the text of the slow path (`message.build_message`). Per-recipient headers are written as
`message.recipient_headers` makes them: ASCII (an internationalised domain as punycode, a
long or unusual name as folded encoded words), or UTF-8 for an address whose local part is
not ASCII, which only a server offering SMTPUTF8 takes."""

from __future__ import annotations

import datetime as dt
import html
import re
import time
from dataclasses import dataclass
from email import quoprimime
from email.utils import format_datetime

from . import links
from . import placeholders as ph
from .dkim import DkimSigner, SigningPlan, header_fields, relaxed_header
from .dotstuff import stuff_lines
from .message import (
    Recipient,
    delivery_message_id,
    fixed_headers,
    new_message,
    random_message_id,
    recipient_head,
    recipient_headers,
    sender_domain,
    to_bytes,
    unsubscribe_mailto,
)
from .render import Rendered
from .settings import Newsletter

_SOFT_BREAK = b"=\r\n"
_QP_LINE = 76
Segments = tuple[bytes | str, ...]


_dates: dict[int, str] = {}


def date_header() -> str:
    """The Date header for a message going now, made once a second rather than once a
    message."""
    second = int(time.time())
    date = _dates.get(second)
    if date is None:
        _dates.clear()
        date = _dates[second] = format_datetime(dt.datetime.fromtimestamp(second, dt.UTC))
    return date


def _latin1(text: str) -> str:
    """quoprimime encodes characters as bytes: hand it UTF-8 bytes, one per character."""
    return text.encode("utf-8").decode("latin-1")


_QP_UNSAFE = re.compile(rb"[^\x21-\x3c\x3e-\x7e]")
_HTML_SPECIAL = re.compile(r"[&<>\"']")
_QP_SAFE = bytes(b for b in range(256) if 33 <= b <= 126 and b != 61)


def _escape_byte(match: re.Match[bytes]) -> bytes:
    return b"=%02X" % match[0][0]


def qp_fold(value: str) -> bytes:
    """`value` quoted-printable encoded (every byte but printable ASCII escaped, so spaces and
    line breaks too) in lines of at most 76 characters, each ending in a soft line break, so
    that it can stand between two other soft breaks. No line starts with a dot (one there is
    written =2E), so the value needs no dot-stuffing for SMTP's DATA."""
    encoded = value.encode("utf-8")
    width = _QP_LINE - 1
    if not encoded.translate(None, _QP_SAFE):  # the usual case: a URL or an address
        if b"." not in encoded[::width]:  # and no line would start with a dot
            if len(encoded) <= width:
                return encoded + _SOFT_BREAK
            return _SOFT_BREAK.join([encoded[i:i + width]
                                     for i in range(0, len(encoded), width)]) + _SOFT_BREAK
    else:
        encoded = _QP_UNSAFE.sub(_escape_byte, encoded)
    lines, start = [], 0
    while start < len(encoded):
        first = b""
        if encoded[start] == 0x2E:  # a dot to start the line: escaped, as SMTP would stuff it
            first, start = b"=2E", start + 1
        end = min(start + width - len(first), len(encoded))
        escape = encoded.rfind(b"=", max(start, end - 2), end)
        if escape != -1 and end < len(encoded) and end - escape < 3:
            end = escape  # never split an =XX escape
        lines.append(first + encoded[start:end] + _SOFT_BREAK)
        start = end
    return b"".join(lines)


_PLAIN = bytes(b for b in _QP_SAFE if b not in b"&<>\"'")
"""Bytes that quoted-printable and HTML both leave as they are."""


def _fold_both(value: str) -> tuple[bytes, bytes]:
    """`value` as qp_fold makes it, and as qp_fold makes it escaped for HTML: for a URL with
    its token or an address (a line or two, nothing to escape), the same bytes twice, made
    faster than qp_fold makes them."""
    encoded = value.encode("utf-8")
    if encoded.translate(None, _PLAIN):
        folded = qp_fold(value)
        return folded, qp_fold(html.escape(value)) if _HTML_SPECIAL.search(value) else folded
    width = _QP_LINE - 1
    if len(encoded) <= width:
        if encoded[:1] != b".":
            folded = encoded + _SOFT_BREAK
            return folded, folded
    elif len(encoded) <= 2 * width and encoded[0] != 0x2E and encoded[width] != 0x2E:
        folded = b"".join((encoded[:width], _SOFT_BREAK, encoded[width:], _SOFT_BREAK))
        return folded, folded
    folded = qp_fold(value)  # longer, or a line would start with a dot
    return folded, folded


def _segments(text: str) -> Segments:
    """The body QP-encoded and cut at each placeholder: bytes for the literal runs (each
    ending in a line break, soft or hard), placeholder names between them."""
    out: list[bytes | str] = []
    position = 0
    for match in ph.PATTERN.finditer(text):
        if match[1] in ph.NAMES:
            out += [_chunk(text[position:match.start()], _SOFT_BREAK), match[1]]
            position = match.end()
    out.append(_chunk(text[position:], b"\r\n"))
    return tuple(part for part in out if part)


def _chunk(text: str, end: bytes) -> bytes:
    if not text:
        return b""
    lines = quoprimime.body_encode(_latin1(text), maxlinelen=_QP_LINE)
    encoded = lines.replace("\n", "\r\n").encode("ascii")
    return encoded if encoded.endswith(b"\r\n") else encoded + end


_VALUES = ("unsubscribe_url", "preferences_url", "email")
"""The per-recipient values MessageTemplate.message makes, in the order it makes them; a
placeholder name (placeholders.NAMES) missing here fails the template's build, loudly."""


@dataclass(frozen=True)
class MessageTemplate:
    """One issue in one language as bytes with holes for each recipient's values."""

    signer: links.Signer
    domain: str
    """The sender's domain, for Message-IDs."""
    mailto: str | None
    parts: list[bytes]
    """The message in pieces: a hole first for the recipient's headers; the fixed headers,
    the blank line and the text part's headers; the bodies cut at each placeholder."""
    stuffed_parts: list[bytes]
    """The same dot-stuffed for SMTP's DATA, each piece on its own: every piece starts a line
    and ends with a line break."""
    holes: tuple[tuple[int, int], ...]
    """(index in parts, its value's index in _VALUES, plus len(_VALUES) in the HTML part) for
    each placeholder."""
    link_prefixes: tuple[str, str]
    """The unsubscribe and preferences URLs up to their token."""
    body_start: bytes
    """The part of parts[1] after the header section: where the body, which DKIM hashes,
    begins."""
    dkim: SigningPlan | None = None
    verp: bool = False
    """The newsletter's `verp`: each message's envelope sender carries its delivery token."""

    @classmethod
    def build(cls, rendered: Rendered, newsletter: Newsletter, base_url: str, key: bytes,
              subject_prefix: str = "", dkim: DkimSigner | None = None) -> MessageTemplate:
        skeleton = new_message(fixed_headers(rendered, newsletter, base_url, subject_prefix),
                               "TEXT\n", "HTML\n")
        head, rest = to_bytes(skeleton).split(b"TEXT\r\n", 1)
        middle, tail = rest.split(b"HTML\r\n", 1)
        parts, holes = [b"", head], []
        for segments, in_html in ((_segments(rendered.text), False),
                                  (_segments(rendered.html), True)):
            for segment in segments:
                if isinstance(segment, str):
                    if segment not in _VALUES:
                        raise ValueError(f"no per-recipient value for the placeholder {segment}")
                    holes.append((len(parts), _VALUES.index(segment) + len(_VALUES) * in_html))
                    parts.append(b"")
                else:
                    parts.append(segment)
            parts.append(tail if in_html else middle)
        section, body_start = head.split(b"\r\n\r\n", 1)
        prefixes = (links.unsubscribe_url(base_url, ""), links.preferences_url(base_url, ""))
        return cls(
            links.Signer(key), sender_domain(newsletter), unsubscribe_mailto(newsletter),
            parts, [stuff_lines(part) for part in parts], tuple(holes), prefixes, body_start,
            dkim.prepare(header_fields(section + b"\r\n")) if dkim else None, newsletter.verp)

    def message(self, recipient: Recipient, date: str | None = None, *,
                stuffed: bool = False, token: str | None = None) -> tuple[str, bytes]:
        """(Message-ID, the whole message) for one recipient; with `stuffed`, dot-stuffed
        ready for SMTP's DATA (the same bytes as `dotstuff.dot_stuff` of the plain message, made
        without scanning the whole message again). `token`, the delivery token of its ledger
        row (links.Signer.sign_delivery), goes into the Message-ID (message.message_id)."""
        # What message.recipient_values makes, made faster: both tokens in one go.
        tokens = self.signer.sign_both(recipient.id)
        unsubscribe_url = self.link_prefixes[0] + tokens[0]
        message_id = delivery_message_id(token, self.domain) if token else \
            random_message_id(self.domain)
        date = date or date_header()
        # Each value quoted-printable (in _VALUES' order), as text, then as HTML.
        (unsubscribe, unsubscribe_html), (preferences, preferences_html), (email, email_html) = \
            _fold_both(unsubscribe_url), _fold_both(self.link_prefixes[1] + tokens[1]), \
            _fold_both(recipient.email)
        values = (unsubscribe, preferences, email, unsubscribe_html, preferences_html, email_html)
        # The values have no line that starts with a dot (qp_fold), nor have header lines,
        # which start with a name: nothing to stuff there.
        parts = self._filled(self.stuffed_parts if stuffed else self.parts, values)
        signature = b""
        if self.dkim is None:
            head = recipient_head(recipient, unsubscribe_url, self.mailto, date, message_id)
        else:  # signed as it will be read: before dot-stuffing
            headers = recipient_headers(recipient, {"unsubscribe_url": unsubscribe_url},
                                        self.mailto, date, message_id)
            head = "".join([f"{name}: {value}\r\n" for name, value in headers])
            canonical = {name.lower().encode("ascii"): relaxed_header(name, value)
                         for name, value in headers}
            body = self._filled(self.parts, values) if stuffed else parts
            signature = self.dkim.signature(canonical, [self.body_start, *body[2:]])
        # UTF-8 only where an address's local part is not ASCII (sent only with SMTPUTF8).
        parts[0] = signature + head.encode("utf-8")
        return message_id, b"".join(parts)

    def _filled(self, parts: list[bytes], values: tuple[bytes, ...]) -> list[bytes]:
        """A copy of `parts` (plain or stuffed) with each hole filled with its value."""
        parts = parts.copy()
        for index, value in self.holes:
            parts[index] = values[value]
        return parts
