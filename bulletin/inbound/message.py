"""Reading one inbound message robustly: bytes to an email.message.Message (compat32, which
never raises on broken headers), decoded header values, the human-readable text of a report
(without the quoted original), the quoted original itself, and email addresses found in
text. Every family parser works on a `Parsed` view so none of them re-parses or re-decodes.

Real bounces are often broken MIME (bad charsets, truncated parts, 8-bit headers), so every
helper here degrades to "" or None rather than raising."""

from __future__ import annotations

import base64
import binascii
import email
import email.header
import email.message
import email.policy
import quopri
import re
from dataclasses import dataclass, field
from functools import cached_property

from bulletin.inbound.model import NotAnEmailError

_HEADER_LINE = re.compile(rb"^(?:From [^\r\n]*(?:\r\n|\r|\n))?[!-9;-~]{1,80}[ \t]*:", re.ASCII)
# An addr-spec as it appears in reports: local part without spaces, a dotted domain.
ADDRESS = re.compile(
    r"(?<![\w.%+=/'`~!#$&*?^{|}-])"
    r"([\w.%+=/'`~!#$&*?^{|}-]{1,64}@(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z]{1,24})(?![\w-])")
_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"[ \t]+")
# Where a plain-text report starts quoting the original message.
_ORIGINAL_MARKERS = re.compile(
    r"^[ \t>]*(?:-{2,}[ \t]*)?(?:"
    r"this is a copy of the message|below this line is a copy of the message|"
    r"original message follows|original message|returned message|undelivered message|"
    r"message headers? follows?|unsent message below|"
    r"text of the original message|copy of original message|"
    r"start of returned message|original message header|"
    r"your original message|included is a copy of the original|"
    r"the header of the original message|the first [\d,]+ lines? of the original)"
    r"[^\n]*$", re.IGNORECASE | re.MULTILINE)
MAX_TEXT = 200_000
_SURROGATE = re.compile("[\udc80-\udcff]")
_PREFIX = re.compile(r"^(?:rfc822\s*;\s*|smtp\s*[=:]\s*|mailto:)<?", re.IGNORECASE)


def parse_bytes(data: bytes) -> email.message.Message:
    """The message in `data`, or NotAnEmailError when it is not an email at all."""
    if not isinstance(data, bytes | bytearray):
        raise NotAnEmailError("not an email: expected the bytes of a message")
    head = bytes(data[:4096]).lstrip(b"\r\n\t ")
    if not head:
        raise NotAnEmailError("not an email: the message is empty")
    if not _HEADER_LINE.match(head):
        raise NotAnEmailError(
            "not an email: it does not start with a header line such as 'From: ...'")
    if b"\x00" in head[:1024]:
        raise NotAnEmailError("not an email: it holds binary data (NUL bytes), not text")
    data = bytes(data).lstrip(b"\r\n\t ")
    if b"\n" not in data[:8192] and b"\r" in data[:8192]:
        # Old Mac line ends (CR alone): the parser copes, but quoted-printable soft breaks
        # ("=" at the end of a line) are only recognised before LF.
        data = data.replace(b"\r", b"\n")
    try:
        return email.message_from_bytes(data, policy=email.policy.compat32)
    except RecursionError as exc:
        raise NotAnEmailError(
            "not an email that can be read: its MIME parts nest too deeply") from exc
    except Exception as exc:  # the parser is lenient; this is a last resort
        raise NotAnEmailError(
            f"not an email that can be read: the parser failed ({type(exc).__name__})") from exc


def decode_header(value: object) -> str:
    """A header value as text: encoded words decoded, folding and control characters removed,
    raw 8-bit bytes read as UTF-8 (else Latin-1)."""
    if value is None:
        return ""
    try:
        chunks = email.header.decode_header(value if isinstance(value, email.header.Header)
                                            else str(value))
        text = "".join(_chunk(data, charset) for data, charset in chunks)
    except Exception:
        text = str(value)
    return _SPACE.sub(" ", re.sub(r"[\r\n\x00-\x08\x0b-\x1f]+", " ", raw_8bit(text))).strip()


def raw_8bit(text: str) -> str:
    """`text` with the raw 8-bit bytes the parser kept as surrogate escapes read as UTF-8
    (else Latin-1)."""
    if _SURROGATE.search(text):
        return bytes_text(text.encode("utf-8", "surrogateescape"))
    return text


def bytes_text(data: bytes) -> str:
    """`data` read as UTF-8, else Latin-1."""
    return _chunk(data, None)


def _chunk(data: bytes | str, charset: str | None) -> str:
    if isinstance(data, str):
        return data
    for candidate in (charset if charset and charset != "unknown-8bit" else "utf-8",
                      "utf-8", "latin-1"):
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def header(msg: email.message.Message, name: str) -> str:
    """The first `name` header of `msg`, decoded ("" when absent or unreadable)."""
    try:
        return decode_header(msg.get(name))
    except Exception:
        return ""


def headers(msg: email.message.Message, name: str) -> list[str]:
    try:
        return [decode_header(v) for v in (msg.get_all(name) or [])]
    except Exception:
        return []


def part_text(part: email.message.Message) -> str:
    """The decoded text of a non-multipart part (HTML reduced to text)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            payload = raw.encode("utf-8", "replace")
        elif isinstance(raw, bytes):
            payload = raw
        else:
            return ""
    if not isinstance(payload, bytes):
        return ""
    payload = payload[:MAX_TEXT]
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    text = ""
    for candidate in (charset, "utf-8", "latin-1"):
        try:
            text = payload.decode(candidate)
            break
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    try:
        subtype = part.get_content_subtype()
    except Exception:
        subtype = "plain"
    if subtype == "html":
        text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
        text = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>|</tr\s*>", "\n", text)
        text = _TAG.sub(" ", text)
        text = (text.replace("&nbsp;", " ").replace("&lt;", "<").replace("&gt;", ">")
                .replace("&quot;", '"').replace("&amp;", "&"))
    return text.replace("\r\n", "\n").replace("\r", "\n")


def content_type(part: email.message.Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def normalise_address(address: str) -> str:
    """`address` with brackets, quotes and trailing punctuation removed, its domain lower-cased."""
    address = address.strip().strip("<>[]()\"'`;:,.*").strip()
    address = _PREFIX.sub("", address)
    local, at, domain = address.rpartition("@")
    if not at:
        return address
    return f"{local}@{domain.lower().rstrip('.')}"


def addresses_in(text: str) -> list[str]:
    return [normalise_address(m) for m in ADDRESS.findall(text)]


@dataclass
class Parsed:
    """One message as the family parsers see it."""

    msg: email.message.Message
    subject: str = ""
    sender: str = ""
    parts: list[email.message.Message] = field(default_factory=list)
    # What the family parsers compute about this message once and share (see base.Exclusions).
    memo: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, msg: email.message.Message) -> Parsed:
        parts: list[email.message.Message] = []
        _collect(msg, parts, inside_rfc822=False, depth=0)
        return cls(msg=msg, subject=header(msg, "Subject"), sender=header(msg, "From"),
                   parts=parts)

    @cached_property
    def text(self) -> str:
        """The human-readable report: every text part outside any quoted message, with the
        quoted original (when inline) cut off."""
        chunks = [part_text(p) for p in self.parts
                  if content_type(p) in ("text/plain", "text/html", "text/enriched")
                  or (not p.is_multipart() and content_type(p).startswith("text/")
                      and content_type(p) != "text/rfc822-headers")]
        if not any(chunk.strip() for chunk in chunks):
            # A multipart whose boundary is broken: its body is one unparsed string.
            raw = self.msg.get_payload()
            if isinstance(raw, str):
                chunks = [raw]
        return "\n".join(chunks)[:MAX_TEXT]

    @cached_property
    def report_text(self) -> str:
        """`text` up to the line where an inline copy of the original message starts."""
        found = _ORIGINAL_MARKERS.search(self.text)
        return self.text[:found.start()] if found else self.text

    @cached_property
    def original(self) -> email.message.Message | None:
        """The quoted original message (or its headers), when the report includes it: past
        any quoted reports (a report of a report), the first that is not one."""
        report: email.message.Message | None = None
        for part in self.msg.walk() if self.msg.is_multipart() else []:
            kind = content_type(part)
            if kind in ("message/rfc822", "message/global"):
                payload = part.get_payload()
                if isinstance(payload, list) and payload and isinstance(
                        payload[0], email.message.Message):
                    if content_type(payload[0]) != "multipart/report":
                        return payload[0]
                    report = report or payload[0]  # walk() goes on into it
                    continue
                if isinstance(payload, str):
                    return email.message_from_string(payload, policy=email.policy.compat32)
            if kind in ("text/rfc822-headers", "text/rfc822-header", "message/rfc822-headers",
                        "message/global-headers"):
                return email.message_from_string(part_text(part).lstrip(),
                                                 policy=email.policy.compat32)
        if report is not None:
            return report
        found = _ORIGINAL_MARKERS.search(self.text)
        if found:
            rest = self.text[found.end():].lstrip("\n")
            rest = "\n".join(line[2:] if line.startswith("> ") else line.lstrip(" ")
                             if re.match(r"^\s+[\w-]+:", line) else line
                             for line in rest.splitlines()[:400])
            candidate = email.message_from_string(rest, policy=email.policy.compat32)
            if candidate.keys():
                return candidate
        return None


def _collect(part: email.message.Message, out: list[email.message.Message],
             inside_rfc822: bool, depth: int) -> None:
    """The leaf parts of `part` that belong to the report itself (not to a quoted message)."""
    if depth > 20 or len(out) > 200:
        return
    kind = content_type(part)
    if kind.startswith("message/") and kind not in ("message/delivery-status",
                                                    "message/global-delivery-status",
                                                    "message/feedback-report"):
        return
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            for child in payload:
                if isinstance(child, email.message.Message):
                    _collect(child, out, inside_rfc822, depth + 1)
        return
    if depth > 0 or not part.is_multipart():
        out.append(part)


def report_fields_text(part: email.message.Message, payload: object) -> str | None:
    """The text of a report's fields part (message/delivery-status, message/feedback-report;
    `payload` its parsed payload) sent base64 or quoted-printable, as some servers do though
    the RFCs say 7bit, which the parser took for header blocks; None for a part in no
    transfer encoding."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return None
    if isinstance(payload, list):
        # Rebuilt from the blocks' fields and bodies (as_string() fails on some charsets).
        chunks = []
        for block in payload:
            if isinstance(block, email.message.Message):
                body = block.get_payload(decode=True)
                chunks.append("\n".join([f"{k}: {v}" for k, v in block.items()] + [
                    "", bytes_text(body) if isinstance(body, bytes) else ""]))
        raw = "\n".join(chunks)
    else:
        raw = payload if isinstance(payload, str) else ""
    try:
        data = base64.b64decode("".join(raw.split())) if encoding == "base64" else \
            quopri.decodestring(raw.encode("ascii", "replace"))
    except (ValueError, binascii.Error):
        return None
    return data.decode("utf-8", "replace")
