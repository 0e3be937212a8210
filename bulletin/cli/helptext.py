"""`--help` in typer's and click's conventions for the whole command tree: prose that the
terminal wraps, TEXT or PATH rather than <str> or <path>, an argument named in capitals, a flag
(--help too) with no type, and square brackets shown as text rather than read as rich markup.

Applied once, to the root group, when typer builds it (ConventionalGroup), so that each command
module declares its commands plainly and gets the same help."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from rich.markup import escape
from typer.core import TyperArgument, TyperGroup, TyperOption

_TYPE_WORDS = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "Path": "PATH"}


def _prose(help_text: str | None) -> str | None:
    """A docstring's paragraphs each made one line, so that rich wraps them to the terminal
    (typer keeps single line breaks in rich mode). A paragraph starting with \b is kept."""
    if not help_text:
        return help_text
    return "\n\n".join(paragraph if paragraph.startswith("\b") else " ".join(paragraph.split())
                       for paragraph in inspect.cleandoc(help_text).split("\n\n"))


def _type_word(param: TyperOption | TyperArgument) -> str:
    """What click would show for a value: TEXT, INTEGER, PATH, an enum's choices; nothing
    for a flag."""
    if isinstance(param, TyperOption) and param.is_flag:
        return ""
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in descriptor.choices or ()) + "]"
    annotation: Any = descriptor.annotation
    if descriptor.is_list and typing.get_args(annotation):
        annotation = typing.get_args(annotation)[0]
    name = getattr(annotation, "__name__", str(annotation))
    return _TYPE_WORDS.get(name, name.upper())


def _usage(param: TyperArgument) -> str:
    name = param.metavar or (param.name or "value").upper()
    return (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")


def _conventional(command: Any) -> None:
    """Conventional help for `command` and every command under it."""
    # Help is plain text: "[smtp]" is a table's name, not rich markup to swallow.
    help_text = _prose(command.help)
    command.help = escape(help_text) if help_text else help_text
    for param in command.params:
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if isinstance(param, TyperArgument) and param.metavar is None:
            param.metavar = (param.name or "value").upper()
        if isinstance(param, TyperArgument):  # ISSUE, [FOLDER]: click's usage, not {ISSUE}
            setattr(param, "_usage_display_name", lambda param=param: _usage(param))  # noqa: B010
        if isinstance(param, TyperOption | TyperArgument):
            chosen = param.metavar if isinstance(param, TyperOption) else None
            word = chosen if chosen is not None else _type_word(param)
            setattr(param, "display_type_rich", lambda ctx, word=word: word)  # noqa: B010
    help_option = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    setattr(command, "get_help_option", get_help_option)  # noqa: B010
    for sub in getattr(command, "commands", {}).values():
        _conventional(sub)


class ConventionalGroup(TyperGroup):
    """The top-level group: builds as typer's, then gives the whole tree conventional help."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _conventional(self)
