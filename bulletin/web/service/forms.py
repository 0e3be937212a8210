"""What a request brings: the forms the pages post, read whole (URL-encoded, multipart, or a
bare body) and at most 64 KB before any CSRF check or change, what the OpenAPI schema says
of them, the few values they carry that need cleaning; and the `?lang=` every page takes."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any
from urllib.parse import parse_qs

from fastapi import Query, Request
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartParser

from ...csvfields import NAME_LENGTH
from ...textchars import single_line

MAX_BODY = 64 * 1024
Form = dict[str, list[str]]

FORM_BODY: dict[str, Any] = {"requestBody": {"required": False, "content": {
    media: {"schema": {"type": "object", "properties": {
        "csrf": {"type": "string"}, "List-Unsubscribe": {"type": "string"},
        "action": {"type": "string", "enum": ["save", "pause", "resume", "leave",
                                              "resubscribe"]},
        "list": {"type": "array", "items": {"type": "string"}},
        "language": {"type": "string"}, "months": {"type": "string"},
        "email": {"type": "string"}, "name": {"type": "string"}}}}
    for media in ("application/x-www-form-urlencoded", "multipart/form-data")}}}
"""The forms' fields, for the OpenAPI schema (the routes read the body themselves)."""

LangQuery = Query(default=None, max_length=16, description="Language of the page, e.g. cy")


class BadForm(ValueError):
    """Too large, malformed multipart, not UTF-8, too many fields."""


async def read_form(request: Request) -> Form:
    """The posted form, each field's values in order."""
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
        raise BadForm("too large")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadForm("too large")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "multipart/form-data":
            async def replay() -> AsyncGenerator[bytes, None]:
                yield bytes(body)

            parsed = await MultiPartParser(Headers(scope=request.scope), replay(),
                                           max_files=0, max_fields=200).parse()
            return {name: [v for v in parsed.getlist(name) if isinstance(v, str)]
                    for name in parsed}
        return parse_qs(bytes(body).decode("utf-8"), keep_blank_values=True,
                        max_num_fields=200)
    except Exception:  # malformed multipart, not UTF-8, too many fields
        raise BadForm("malformed") from None


def first(form: Form, name: str) -> str | None:
    """The form's first value for `name`, if it has one."""
    values = form.get(name)
    return values[0] if values else None


def clean_name(value: str | None) -> str | None:
    """A name as typed, kept as a name given at a command is (textchars.single_line: one
    line, no control character nor one that reorders or hides text, but the joiners and tags
    of emoji, the Welsh flag and Persian kept), cut at NAME_LENGTH characters: a form cleans
    what it is given rather than refusing someone's name."""
    return single_line(value or "")[:NAME_LENGTH].rstrip() or None
