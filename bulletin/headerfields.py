"""bulletin.toml's values that go into every email's headers (the from and reply-to
addresses, the newsletter's name, the feedback id): one line each, written plainly (never as
RFC 2047 encoded words, which the message would encode again: readers would see the
"=?utf-8?q?...?=" itself), and an address one address as mail readers read it, so that what
is checked is what is sent."""

from __future__ import annotations

import re
from email.errors import InvalidHeaderDefect
from email.headerregistry import AddressHeader, HeaderRegistry
from email.utils import parseaddr
from typing import Annotated, cast

from pydantic import AfterValidator

from .fields import Prose
from .textchars import LINE_BREAK


def _one_line(value: str) -> str:
    """A value that goes into a header (the from address, the newsletter's name): one line."""
    if LINE_BREAK.search(value):
        raise ValueError("has a line break in it; it goes into an email header, which is one "
                         "line: write it on one line")
    return value


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
"""An RFC 2047 encoded word, =?charset?q-or-b?text?=."""


def _plain(text: str, what: str, decoded: str) -> None:
    """`text` (a display name, or a whole value) holds no encoded word; else the error, with
    `decoded`, the value as it was meant, to write instead."""
    found = _ENCODED_WORD.search(text)
    if found is not None:
        fix = f"write it plainly: '{decoded}'" if decoded.isprintable() and "=?" not in decoded \
            else "write it plainly"
        raise ValueError(f"{what} is an RFC 2047 encoded word ({found.group()}), which every "
                         f"email would encode again and so show as typed; {fix}")


def _header_text(value: str) -> str:
    _plain(_one_line(value), "the text", str(_ADDRESS_HEADER("Subject", value)))
    return value


def _address(value: str) -> str:
    """One address, alone or after a name: 'News <news@example.org>' or news@example.org.
    Anything a mail reader would read otherwise (a second address, words after the address,
    an unclosed '<', a group such as 'Team: News <...>', whose name is dropped) is refused,
    not sent as something else."""
    _one_line(value)
    parsed = _ADDRESS_HEADER("From", value)
    header = cast(AddressHeader, parsed)
    name, address = parseaddr(value)
    decoded = header.addresses[0].display_name if len(header.addresses) == 1 else ""
    _plain(name, "the name", f"{decoded} <{address}>" if decoded else address)
    local, _, domain = address.rpartition("@")
    one = len(header.groups) == 1 and header.groups[0].display_name is None and \
        len(header.addresses) == 1 and header.addresses[0].addr_spec == address and \
        not any(isinstance(defect, InvalidHeaderDefect) for defect in parsed.defects)
    if not local or "." not in domain or not one:
        raise ValueError(f"expected one email address such as 'News <news@example.org>' "
                         f"(got {value!r})")
    return value


_ADDRESS_HEADER = HeaderRegistry()
"""Reads an address header as mail readers do (email.headerregistry)."""


Address = Annotated[str, AfterValidator(_address)]
HeaderText = Annotated[str, AfterValidator(_header_text)]


def _one_line_prose(value: str | dict[str, str]) -> str | dict[str, str]:
    for text in value.values() if isinstance(value, dict) else (value,):
        _header_text(text)
    return value


HeaderProse = Annotated[Prose, AfterValidator(_one_line_prose)]
