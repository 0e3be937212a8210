"""Dot-stuffing (RFC 5321 4.5.2), written once: the data that follows SMTP's DATA ends at a
line holding a single dot, so a dot that starts a line of the message is doubled.

The SMTP client stuffs a whole message with `dot_stuff`; the byte templates of
`bulletin.personalise` stuff each fixed piece once, when the template is built, with
`stuff_lines` (the values spliced in per recipient are made so that they need none); the
file transport and the tests undo it with `dot_unstuff`. Bytes in, bytes out, and nothing
imported, so that building messages does not load the SMTP client.
"""

from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\r|\n")


def stuff_lines(data: bytes) -> bytes:
    """`data`, which starts a line and has CRLF line ends, with a second dot before every dot
    that starts a line. A message cut into pieces that each start a line is stuffed piece by
    piece: the stuffed pieces joined are the stuffed message."""
    if b"\n." in data:
        data = data.replace(b"\r\n.", b"\r\n..")
    return b"." + data if data[:1] == b"." else data


def dot_stuff(data: bytes) -> bytes:
    """`data` made ready to follow DATA: every line end CRLF (a lone CR or LF becomes one), a
    CRLF after the last line, and a second dot before any dot that starts a line. Appending
    b".\\r\\n" then ends the data, and nowhere before that end does the data contain
    CRLF "." CRLF."""
    crlf = data.count(b"\r\n")
    if data.count(b"\r") != crlf or data.count(b"\n") != crlf:
        data = _LINE_END.sub(b"\r\n", data)
    if data and not data.endswith(b"\r\n"):
        data += b"\r\n"
    return stuff_lines(data)


def dot_unstuff(stuffed: bytes) -> bytes:
    """What a server makes of dot-stuffed data: the first dot of each line that starts with
    one removed. `dot_unstuff(dot_stuff(m)) == m` for a message with CRLF line ends."""
    if stuffed.startswith(b"."):
        stuffed = stuffed[1:]
    return stuffed.replace(b"\r\n..", b"\r\n.")
