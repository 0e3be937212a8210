"""The command modules load lazily: a command imports its own module only, and `--help` lists
every command from bulletin.cli's table, which must say what the commands themselves say."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.core import TyperGroup
from typer.main import get_group
from typer.testing import CliRunner

from bulletin.cli import COMMANDS, app
from bulletin.cli.helptext import ConventionalGroup, _prose
from tests.conftest import EXAMPLE, ROOT
from tests.waiting import SAFETY

OTHERS = ("bulletin.cli.serve", "bulletin.cli.send", "bulletin.cli.subscribers",
          "bulletin.cli.schedule", "bulletin.cli.approve", "bulletin.cli.bounces",
          "bulletin.inbound", "bulletin.web", "bulletin.store", "sqlalchemy", "uvicorn")


def _eager(cls: type[TyperGroup] = ConventionalGroup) -> typer.Typer:
    """The tree as it was built before: every command module imported, added in order."""
    import importlib

    eager = typer.Typer(help="Compose, check and send email bulletins.", cls=cls,
                        no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False)
    for module in dict.fromkeys(module for module, _ in COMMANDS.values()):
        eager.add_typer(importlib.import_module(f"bulletin.cli.{module}").app)
    return eager


def test_render_imports_no_other_command_s_module(tmp_path: Path) -> None:
    """`bulletin render` as a whole command, in a new process: what it has loaded at exit."""
    probe = ("import atexit, json, sys\n"
             "atexit.register(lambda: print(json.dumps(sorted(sys.modules))))\n"
             f"sys.argv = ['bulletin', 'render', {str(EXAMPLE)!r}, '--out', {str(tmp_path)!r}]\n"
             "from bulletin.cli import main\nmain()\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=SAFETY, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "cohes3ion-04.html").exists()
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert "bulletin.cli.authoring" in loaded
    assert {m for m in loaded if m.startswith(OTHERS)} == set()


def test_the_table_is_what_the_commands_say() -> None:
    commands = get_group(_eager(TyperGroup)).commands  # help as written
    assert list(COMMANDS) == list(commands)
    for name, (_, line) in COMMANDS.items():
        first = inspect.cleandoc(commands[name].help or "").split("\n\n")[0]
        assert line == _prose(first), name


@pytest.mark.parametrize("args", [[], *([name] for name in COMMANDS)], ids=" ".join)
def test_help_is_the_same_as_the_eager_tree_s(args: list[str]) -> None:
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    lazy = CliRunner().invoke(app, [*args, "--help"], env=env)
    eager = CliRunner().invoke(_eager(), [*args, "--help"], env=env)
    assert lazy.exit_code == eager.exit_code == 0, lazy.output
    assert lazy.output == eager.output
