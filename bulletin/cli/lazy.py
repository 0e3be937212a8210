"""The top-level group that imports a command's module only when that command is asked for,
so that `bulletin render` does not load the web service, the store or the mail stack (nor
build typer's parameters for every other command) before it renders.

`bulletin --help` lists every command from a table of names and one-line help (kept in
bulletin.cli, and held equal to the real commands by tests/test_cli_lazy.py), so that listing
them imports none of them either."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import typer
from rich.markup import escape
from typer.core import TyperCommand

from .helptext import ConventionalGroup, _conventional

# A command's name -> (the module under bulletin.cli that defines it, its one-line help).
Table = Mapping[str, tuple[str, str]]


def load(module: str, name: str) -> Any:
    """Command `name` as module `module`'s typer app defines it at the top level, with the
    whole tree's conventional help. (Typed Any: the click classes are typer's, and recent
    typer carries its own copy of click.)"""
    part: typer.Typer = importlib.import_module(f"{__package__}.{module}").app
    holder = typer.Typer()
    holder.add_typer(part)  # added without a name, as the eager tree added it
    command = typer.main.get_group(holder).commands[name]
    _conventional(command)
    return command


class _Commands(Mapping[str, Any]):
    """The group's commands, each loaded the first time it is looked up."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            if name not in self._table:
                raise KeyError(name)
            self._loaded[name] = load(self._table[name][0], name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)


class LazyGroup(ConventionalGroup):
    """The root group over `table` (set by a subclass): commands load when run or asked for
    by name; the listing in --help comes from the table."""

    table: ClassVar[Table] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self.table)  # type: ignore[assignment]
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if self._listing and cmd_name in self.table:
            return TyperCommand(cmd_name, help=escape(self.table[cmd_name][1]))
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
