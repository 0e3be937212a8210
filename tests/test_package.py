"""What an installed bulletin is made of: every package and template folder is listed for the
wheel, the bundled files are found through importlib.resources, and `bulletin init` starts a
workspace that renders and passes its checks at once, never overwriting anything. (.ci/package
builds and installs the real wheel.)"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.settings import BUNDLED_TEMPLATES
from bulletin.starter import FILES, FIRST_ISSUE
from bulletin.store.migrate import SCRIPTS
from bulletin.workflow import prepare_editions, run_checks
from tests.conftest import ROOT


def _setuptools() -> dict[str, Any]:
    config: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(config["tool"]["setuptools"])


def test_every_package_and_template_folder_is_listed_for_the_wheel() -> None:
    listed = set(_setuptools()["packages"])
    code = {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "bulletin").rglob("__init__.py")}
    templates = {".".join(("bulletin", *p.relative_to(ROOT).parts))
                 for p in [ROOT / "templates", *(ROOT / "templates").rglob("*")]
                 if p.is_dir() and p.name != "__pycache__"}
    assert code | templates == listed


def test_bundled_files_come_from_the_package() -> None:
    assert (BUNDLED_TEMPLATES / "default" / "email.mjml.j2").is_file()
    assert (BUNDLED_TEMPLATES / "web" / "pages" / "base.html.j2").is_file()
    assert (SCRIPTS / "script.py.mako").is_file()
    assert (ROOT / "bulletin" / "py.typed").is_file()


def test_init_writes_a_workspace_that_renders_and_passes_its_checks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init", "news"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "news"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == \
        sorted(FILES)
    assert "bulletin.db" in (folder / ".gitignore").read_text().split()
    assert "Welsh Government" not in (folder / "bulletin.toml").read_text()

    findings = [f for prepared in prepare_editions(folder / FIRST_ISSUE, None, None, None)
                for f in run_checks(prepared)]
    assert findings == []
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, ["render", str(FIRST_ISSUE), "--out", "out"])
    assert result.exit_code == 0, result.output
    html = (folder / "out" / "first-issue.html").read_text()
    for shown in ("Longer library opening hours", "Take part in the consultation",
                  "Example Council, 1 High Street"):
        assert shown in html


def test_init_overwrites_nothing_and_writes_nothing_when_a_file_is_there(
        tmp_path: Path) -> None:
    (tmp_path / "issues").mkdir()
    (tmp_path / FIRST_ISSUE).write_text("mine")
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists" in result.output and str(FIRST_ISSUE) in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert (tmp_path / FIRST_ISSUE).read_text() == "mine"
    assert not (tmp_path / "bulletin.toml").exists()


def test_init_into_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = CliRunner().invoke(app, ["init", str(tmp_path / "taken")])
    assert result.exit_code == 1
    assert "not a folder" in result.output
    assert "Traceback" not in result.output


def test_init_says_the_next_command_as_the_shell_would_run_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder with a space or a semicolon is quoted in the command it suggests (before,
    `cd a b;touch x && ...` would have run `touch`)."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["init", "a b;touch x"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"then cd 'a b;touch x' && bulletin render {FIRST_ISSUE}" in result.output
