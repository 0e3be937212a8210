"""`bulletin suppressions list|add|remove|export`, on SQLite and PostgreSQL: what each prints
and its exit status, the audit rows of adding and lifting (with the actor), and an export
whose cells no spreadsheet runs as formulas."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.settings import load_workspace
from bulletin.store import Store
from tests.sent_issue import KEY, send

pytest_plugins = ["tests.store_fixtures"]

Run = Callable[..., Result]


@pytest.fixture
def run(workspace: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_DATABASE_URL", database_url)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "300"})
    return invoke


def test_add_list_and_remove_are_audited_with_the_actor(run: Run, database_url: str) -> None:
    with Store.open(database_url) as store:
        store.create_list("news")
        store.subscribe("ann@example.org", "news", source="test")
    added = run("suppressions", "add", "Ann@Example.org", "--reason", "asked by phone")
    assert (added.exit_code, added.stdout) == (0, "suppressed Ann@example.org\n")
    again = run("suppressions", "add", "ann@example.org", "--reason", "twice")
    assert again.exit_code == 0
    assert again.stdout == "Ann@example.org was already suppressed (cli: asked by phone)\n"
    other = run("suppressions", "add", "bob@example.org", "--reason", "moved away",
                "--actor", "helpdesk")
    assert other.exit_code == 0

    listed = run("suppressions", "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    assert lines[0].startswith("bob@example.org  ") and lines[0].endswith(" cli: moved away")
    assert lines[1].startswith("Ann@example.org  ") and lines[1].endswith(
        " cli: asked by phone")
    assert lines[2] == "2 suppressed addresses"
    rows = json.loads(run("suppressions", "list", "--json").stdout)
    assert [(r["email"], r["reason"], r["source"]) for r in rows] == [
        ("bob@example.org", "moved away", "cli"), ("Ann@example.org", "asked by phone", "cli")]
    assert rows[0]["suppressed_at"] >= rows[1]["suppressed_at"]

    removed = run("suppressions", "remove", "ann@example.org", "--reason", "a mistake",
                  "--actor", "helpdesk")
    assert (removed.exit_code, removed.stdout) == (
        0, "lifted the suppression of ann@example.org\n")
    with Store.open(database_url) as store:
        assert not store.is_suppressed("ann@example.org")
        assert store.subscriber("ann@example.org").status == "active"
        trail = [(r.action, r.source, r.actor, r.detail) for r in store.audit("ann@example.org")
                 if r.action in ("suppress", "unsuppress")]
        assert trail[0][:2] == ("suppress", "cli") and trail[0][3] == "asked by phone"
        assert trail[0][2]  # the OS user
        assert trail[1] == ("unsuppress", "cli", "helpdesk", "was: asked by phone; a mistake")
        [bob] = store.audit("bob@example.org")  # no subscriber: the row is the address's
        assert (bob.action, bob.actor, bob.detail) == ("suppress", "helpdesk", "moved away")
    assert run("suppressions", "list").stdout.splitlines()[-1] == "1 suppressed address"


def test_mistakes_are_one_line_and_exit_1(run: Run, database_url: str) -> None:
    missing = run("suppressions", "remove", "nobody@example.org")
    assert (missing.exit_code, missing.stdout) == (1, "")
    assert missing.stderr == ("Error: nobody@example.org is not suppressed; nothing to remove "
                              "(`bulletin suppressions list` shows those that are)\n")
    for args in (("add", "ann@@example.org", "--reason", "x"), ("remove", "ann@@example.org")):
        bad = run("suppressions", *args)
        assert bad.exit_code == 1
        [line] = bad.stderr.splitlines()
        assert line.startswith("Error: 'ann@@example.org' is not a valid email address")
    blank = run("suppressions", "add", "ann@example.org", "--reason", "  ")
    assert blank.exit_code == 1 and blank.stderr.startswith("Error: --reason: say why")
    with Store.open(database_url) as store:
        assert store.suppressions.all() == []
    assert run("suppressions", "list").stdout == "0 suppressed addresses\n"
    assert run("suppressions", "list", "--json").stdout == "[]\n"


def test_export_neutralises_formulas(run: Run, workspace: Path, database_url: str) -> None:
    with Store.open(database_url) as store:
        store.suppress("=1+2@example.org", reason="=HYPERLINK(\"http://x\")", source="cli")
        store.suppress("ann@example.org", reason="-2+3", source="@import")
        store.suppress("bob@example.org", reason="'quoted", source="bounce")
    target = workspace / "suppressed.csv"
    written = run("suppressions", "export", str(target))
    assert (written.exit_code, written.stdout) == (
        0, f"wrote 3 suppressed addresses to {target}\n")
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["email", "reason", "source", "suppressed_at"]
    cells = {row[0]: row[1:3] for row in rows[1:]}
    assert cells == {"'=1+2@example.org": ["'=HYPERLINK(\"http://x\")", "cli"],
                     "ann@example.org": ["'-2+3", "'@import"],
                     "bob@example.org": ["''quoted", "bounce"]}
    assert all(row[3].endswith("+00:00") for row in rows[1:])
    out = run("suppressions", "export")
    assert out.exit_code == 0 and out.stdout == target.read_text(encoding="utf-8")
    assert not list(workspace.glob("*.tmp"))


def test_bounced_addresses_are_listed_with_their_evidence(run: Run, workspace: Path,
                                                          database_url: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with Store.open(database_url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        sent = send(store, load_workspace(workspace / "bulletin.toml"), "cohes3ion/issue-1",
                    ["ann@example.org", "bob@example.org"])
        done = sent.bounce("ann@example.org")
        complained = sent.complaint("bob@example.org")
    rows = json.loads(run("suppressions", "list", "--json").stdout)
    by_address = {row["email"]: row for row in rows}
    assert by_address["ann@example.org"]["source"] == "bounce"
    assert f"inbound #{done.inbound_id}" in by_address["ann@example.org"]["reason"]
    assert by_address["bob@example.org"]["source"] == "complaint"
    assert f"inbound #{complained.inbound_id}" in by_address["bob@example.org"]["reason"]


def test_a_reason_and_an_actor_are_kept_as_one_plain_line(run: Run, database_url: str) -> None:
    """An escape sequence typed (or in a bounce's words) would work on the terminal of
    whoever lists the suppressions; a line break would make two rows of one."""
    added = run("suppressions", "add", "ann@example.org", "--reason",
                "asked\x1b[2J by\nphone\u200b", "--actor", "help\x1b]0;x\x07desk")
    assert added.exit_code == 0, added.output
    listed = run("suppressions", "list")
    assert "\x1b" not in listed.stdout and listed.stdout.splitlines()[0].endswith(
        " cli: asked [2J by phone")
    with Store.open(database_url) as store:
        assert [(r.actor, r.detail) for r in store.audit("ann@example.org")] == [
            ("help ]0;x desk", "asked [2J by phone")]
