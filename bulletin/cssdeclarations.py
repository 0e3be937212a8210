"""CSS declarations ("color: #FFFFFF; margin: 0px auto") read into (property, value) pairs
exactly as cssutils reads them for premailer (premailer.merge_style.csstext_to_pairs), for
the plain declarations MJML and themes write, without importing cssutils (about a sixth of
a `bulletin render`): property names in lower case, the last of a repeated property kept in
its place, whitespace made single, ", " between list items, numbers in their shortest form
(a zero length without its unit), units in lower case, #aabbcc as #abc.

Anything else (strings, url(), functions, !important, escapes, comments, exponents, units
not listed here, hex colours of other lengths) is not read here: `pairs` returns None and
the caller asks cssutils. tests/test_cssdeclarations.py holds every answer given here equal
to cssutils' own, over the declarations bulletin's themes produce and many made up."""

from __future__ import annotations

import re

_PLAIN = re.compile(r"[A-Za-z0-9_#%.,:;\- \t\r\n\f]*")
_NAME = re.compile(r"-?[A-Za-z_][A-Za-z0-9_-]*")
_NUMBER = re.compile(r"(-?)(\d{1,9})(?:\.(\d{1,6}))?([A-Za-z]+|%)?")
_HEX = re.compile(r"#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")
_SPACE = re.compile(r"[ \t\r\n\f]+")
_COMMA = re.compile(r"[ \t\r\n\f]*,[ \t\r\n\f]*")

# Units a zero is written without (cssutils' lengths), and units a zero keeps.
_ZERO_BARE = frozenset({"px", "pt", "em", "ex", "cm", "mm", "in", "pc"})
_ZERO_KEEPS = frozenset({"%", "rem", "vw", "vh"})


def pairs(text: str) -> list[tuple[str, str]] | None:
    """The declarations of `text` as cssutils reads them, or None if `text` is not plain
    enough to be sure of that here."""
    if _PLAIN.fullmatch(text) is None:
        return None
    found: dict[str, str] = {}
    for declaration in text.split(";"):
        if not declaration.strip():
            continue
        name, colon, value = declaration.partition(":")
        name = name.strip()
        if not colon or ":" in value or _NAME.fullmatch(name) is None:
            return None
        read = _value(value)
        if read is None:
            return None
        name = name.lower()
        found.pop(name, None)  # the last one counts, where it stands
        found[name] = read
    return list(found.items())


def _value(text: str) -> str | None:
    items = []
    for item in _COMMA.split(text.strip()):
        if not item:
            return None
        words = []
        for word in _SPACE.split(item):
            read = _word(word)
            if read is None:
                return None
            words.append(read)
        items.append(" ".join(words))
    return ", ".join(items)


def _word(word: str) -> str | None:
    if word.startswith("#"):
        if _HEX.fullmatch(word) is None:
            return None
        if len(word) == 7 and word[1] == word[2] and word[3] == word[4] \
                and word[5] == word[6]:
            return "#" + word[1] + word[3] + word[5]
        return word
    number = _NUMBER.fullmatch(word)
    if number is not None:
        return _number(*number.groups())
    if word.startswith("--") or _NAME.fullmatch(word) is None:
        return None
    return word


def _number(sign: str, whole: str, fraction: str | None, unit: str | None) -> str | None:
    unit = (unit or "").lower()
    if unit and unit not in _ZERO_BARE and unit not in _ZERO_KEEPS:
        return None
    whole = whole.lstrip("0") or "0"
    fraction = (fraction or "").rstrip("0")
    digits = whole + ("." + fraction if fraction else "")
    if digits == "0":
        return "0" if unit in _ZERO_BARE else "0" + unit
    return sign + digits + unit
