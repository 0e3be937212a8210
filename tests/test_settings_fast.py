"""bulletin.toml is read with tomllib, and with tomlkit (for the line of each key) only when
a message names a line: loading a workspace does not import tomlkit, the data are the same
as tomlkit's, and a line asked for afterwards is the same line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bulletin.settings import load_workspace
from bulletin.tomlsource import toml_with_lines
from tests.conftest import EXAMPLE, ROOT
from tests.waiting import SAFETY

STARTER = ROOT / "bulletin" / "starter" / "bulletin.toml"

LOAD = """
import sys
from pathlib import Path
from bulletin.settings import load_workspace
workspace = load_workspace(Path(sys.argv[1]))
print("tomlkit" in sys.modules)
print(workspace.where(("newsletters", "cohes3ion", "brand", "colours", "link")))
print("tomlkit" in sys.modules)
"""


@pytest.mark.parametrize("path", [ROOT / "bulletin.toml", STARTER])
def test_the_data_are_tomlkits(path: Path) -> None:
    text = path.read_text()
    assert tomllib.loads(text) == toml_with_lines(text, path)[0]


def test_loading_a_workspace_leaves_tomlkit_until_a_line_is_asked_for() -> None:
    config = ROOT / "bulletin.toml"
    done = subprocess.run([sys.executable, "-c", LOAD, str(config)], capture_output=True,
                          text=True, timeout=SAFETY)
    assert done.returncode == 0, done.stderr
    before, where, after = done.stdout.split("\n")[:3]
    lines = toml_with_lines(config.read_text(), config)[1]
    assert (before, after) == ("False", "True")
    assert where == f"{config}:{lines[('newsletters', 'cohes3ion', 'brand', 'colours', 'link')]}"
    assert load_workspace(config).lines == lines


def test_toml_that_tomllib_refuses_is_told_as_before(tmp_path: Path) -> None:
    from bulletin.errors import SettingsError

    config = tmp_path / "bulletin.toml"
    config.write_text('base_url = "https://example.org"\nbase_url = "https://example.com"\n')
    with pytest.raises(SettingsError) as raised:
        load_workspace(config)
    with pytest.raises(SettingsError) as before:
        toml_with_lines(config.read_text(), config)
    assert str(raised.value) == str(before.value)
    assert f"{config}:2" in str(raised.value)


RENDER = """
import sys
from typer.testing import CliRunner
from bulletin.cli import app
result = CliRunner().invoke(app, ["render", sys.argv[1], "--out", sys.argv[2]])
assert result.exit_code == 0, result.output
print("tomlkit" in sys.modules)
"""


def test_a_render_that_names_no_line_does_not_read_the_lines(workspace: Path,
                                                             tmp_path: Path) -> None:
    """The logo in bulletin.toml is a local file: its line is found only for a message."""
    issue = workspace / "issues" / EXAMPLE.name
    issue.write_text(EXAMPLE.read_text())
    done = subprocess.run([sys.executable, "-c", RENDER, str(issue), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=SAFETY)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_workspace_pickles_with_its_lines_still_to_find() -> None:
    """The sender gets its rendered issue, workspace included, from a child process."""
    import pickle

    config = ROOT / "bulletin.toml"
    copy = pickle.loads(pickle.dumps(load_workspace(config)))
    assert copy.lines == toml_with_lines(config.read_text(), config)[1]
    assert copy.settings == load_workspace(config).settings
