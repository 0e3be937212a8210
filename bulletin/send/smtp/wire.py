"""SMTP on the wire as pure functions and a parser (bytes in, bytes out, no I/O): reading the
server's replies (whole, or as the bytes arrive), formatting the envelope commands, and the
dot-stuffing of the data (written once in `bulletin.dotstuff`, which the byte templates use
too, and offered here with the rest)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ...dotstuff import dot_stuff, dot_unstuff
from ...message import AddressError, header_address

__all__ = ["END_OF_DATA", "Reply", "ReplyParser", "dot_stuff", "dot_unstuff", "envelope_path",
           "has_unsafe", "mail_command", "parse_extensions", "parse_reply", "parse_reply_line",
           "rcpt_command"]

END_OF_DATA = b".\r\n"
"""Ends the data; it follows the CRLF that ends the data's last line."""
_UNSAFE = re.compile(r"[\x00-\x20\x7f<>]")


def has_unsafe(text: str) -> bool:
    """Whether `text` holds a character that cannot stand in a command's argument (a space, a
    control character, an angle bracket)."""
    return _UNSAFE.search(text) is not None


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    text: str
    """The text of every line, without the codes, joined by newlines."""

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")


def parse_reply_line(line: bytes) -> tuple[int, bool, str]:
    """One line of a server's reply: its code, whether it is the reply's last line, and its
    text. Raises ValueError for anything that is not a reply line."""
    if line.endswith(b"\r\n"):
        line = line[:-2]
    elif line.endswith(b"\n"):
        line = line[:-1]
    code, separator = line[:3], line[3:4]
    if len(code) != 3 or not code.isdigit() or code[0] not in b"2345" or separator not in (
            b"", b" ", b"-"):
        raise ValueError(f"not an SMTP reply line: {line[:80]!r}")
    return int(code), separator != b"-", line[4:].decode("utf-8", "replace")


def parse_reply(lines: Iterable[bytes]) -> Reply:
    """A whole reply from its lines (each with or without its line end)."""
    code, texts, last = 0, [], False
    for line in lines:
        if last:
            raise ValueError("an SMTP reply goes on after its last line")
        line_code, last, text = parse_reply_line(line)
        if code and line_code != code:
            raise ValueError(f"an SMTP reply changes its code from {code} to {line_code}")
        code = line_code
        texts.append(text)
    if not last:
        raise ValueError("an SMTP reply without its last line")
    return Reply(code, "\n".join(texts))


def parse_extensions(reply: Reply) -> dict[str, str]:
    """The service extensions an EHLO reply announces: keyword (upper case) to parameters."""
    extensions = {}
    for line in reply.lines[1:]:
        keyword, _, parameters = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = parameters.strip()
    return extensions


def envelope_path(address: str) -> bytes | None:
    """`address` for MAIL FROM or RCPT TO: its domain as punycode, UTF-8 bytes (ASCII unless
    the local part is not); None if it cannot go in an envelope."""
    try:
        address = header_address(address)
    except AddressError:
        return None
    if has_unsafe(address):
        return None
    return address.encode("utf-8")


def mail_command(path: bytes, *, size: int | None = None, smtputf8: bool = False,
                 eight_bit: bool = False) -> bytes:
    """MAIL FROM with the parameters the server offers: SIZE (RFC 1870), SMTPUTF8 (RFC 6531)
    and, with it, BODY=8BITMIME (RFC 6152)."""
    options = b" SIZE=%d" % size if size is not None else b""
    if smtputf8:
        options += b" SMTPUTF8"
        if eight_bit:
            options += b" BODY=8BITMIME"
    return b"MAIL FROM:<%s>%s\r\n" % (path, options)


def rcpt_command(path: bytes) -> bytes:
    return b"RCPT TO:<%s>\r\n" % path


_CODES = {b"%d" % code: code for code in range(200, 600)}
"""The codes a reply may have (as parse_reply_line reads them), by their three digits."""


class ReplyParser:
    """Replies from a stream's bytes as they arrive: `feed` each chunk; every whole reply goes
    to `out`, in order. A line that is not a reply line, a reply that changes its code, or a
    line longer than `limit` raises ValueError (the replies before it are out already)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._rest = b""
        """An unfinished line."""
        self._lines: list[bytes] = []
        """The lines so far of an unfinished reply."""

    @property
    def pending(self) -> int:
        """Bytes taken that are not yet part of a whole reply."""
        return len(self._rest) + sum(map(len, self._lines))

    def feed(self, data: bytes, out: Callable[[Reply], object]) -> None:
        if self._rest:
            data, self._rest = self._rest + data, b""
        limit, start = self._limit, 0
        while (end := data.find(b"\n", start)) >= 0:
            line, start = data[start:end + 1], end + 1
            if len(line) > limit:
                raise ValueError("the server sent an over-long line")
            if not self._lines and line[3:4] == b" " and line[:3] in _CODES \
                    and line[-2:] == b"\r\n":  # the usual: a one-line reply, CRLF
                out(Reply(_CODES[line[:3]], line[4:-2].decode("utf-8", "replace")))
                continue
            code, last, text = parse_reply_line(line)
            if not last:
                self._lines.append(line)
            elif self._lines:
                self._lines.append(line)
                lines, self._lines = self._lines, []
                out(parse_reply(lines))
            else:  # a one-line reply: the usual
                out(Reply(code, text))
        if len(data) - start > limit:
            raise ValueError("the server sent an over-long line")
        self._rest = data[start:]
