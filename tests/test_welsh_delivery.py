"""Delivery of a bilingual newsletter with delivery = "each" through a real SMTP server
(aiosmtpd): each subscriber gets their language, one with no recorded language the edition
the newsletter's `unknown_language` says, and the languages' editions interleaved in one send
(never all of one language, then the other), as `bulletin status` shows."""

from __future__ import annotations

import email
import shutil
from email import policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store.store import Store
from tests.conftest import ROOT
from tests.smtp_server import SmtpServer, ready_to_send

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"
LIST = "cohes3ion-bilingual"
SUBJECTS = {"cy": "Cylchlythyr Cohes3ion Rhifyn 4", "en": "Cohes3ion Newsletter Issue 4",
            "cy+en": "Cylchlythyr Cohes3ion Rhifyn 4 / Cohes3ion Newsletter Issue 4"}


def bulletin(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def prepare(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch,
            people: dict[str, str | None], extra: str = "") -> Path:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    config = workspace / "bulletin.toml"
    text = config.read_text()
    assert text.count('\ndelivery = "bilingual"\n') == 1
    config.write_text(text.replace('\ndelivery = "bilingual"\n',
                                   f'\ndelivery = "each"\n{extra}'))
    shutil.copy(BILINGUAL, workspace / "issues" / BILINGUAL.name)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list(LIST, newsletter=LIST)
        for address, language in people.items():
            store.subscribe(address, LIST, source="test", language=language)
    return workspace / "issues" / BILINGUAL.name


def subjects(server: SmtpServer) -> list[tuple[str, str]]:
    return [(m.rcpt_tos[0], email.message_from_bytes(m.content, policy=policy.default)
             ["Subject"]) for m in server.received]


def mixed(welsh: int, english: int, unknown: int) -> dict[str, str | None]:
    """Welsh readers first, then English, then the unknown: a list in the order people
    joined, where sending in that order would send all the Welsh, then all the English."""
    return {**{f"cy{n}@example.org": "cy" for n in range(welsh)},
            **{f"en{n}@example.org": "en" for n in range(english)},
            **{f"anon{n}@example.org": None for n in range(unknown)}}


def test_unknown_language_gets_both_by_default_with_welsh(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    people = mixed(3, 3, 3)
    code, output = bulletin("send", str(prepare(workspace, server, monkeypatch, people)),
                            "--yes")
    assert code == 0, output
    assert "Languages:  cy, en, cy+en (each subscriber in their own; cy+en: those with none " \
        "recorded)" in output
    got = dict(subjects(server))
    assert got == {address: SUBJECTS[language or "cy+en"]
                   for address, language in people.items()}


def test_unknown_language_first_gets_the_first_language(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    people = mixed(2, 2, 2)
    path = prepare(workspace, server, monkeypatch, people, 'unknown_language = "first"\n')
    code, output = bulletin("send", str(path), "--yes")
    assert code == 0, output
    assert dict(subjects(server)) == {address: SUBJECTS[language or "cy"]
                                      for address, language in people.items()}


def test_one_send_interleaves_the_languages_and_status_shows_the_timing(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    people = mixed(100, 200, 30)
    path = prepare(workspace, server, monkeypatch, people)
    code, output = bulletin("send", str(path), "--yes")
    assert code == 0, output
    order = [people[address] for address, _ in subjects(server)]
    assert len(order) == len(people)
    total = len(order)
    for language in ("cy", "en", None):
        places = [n for n, got in enumerate(order) if got == language]
        # each language spread over the whole send: begun in its first tenth, ended in its last
        assert places[0] < total * 0.1 and places[-1] > total * 0.9, (language, places[:5])
    code, output = bulletin("status", str(path))
    assert code == 0, output
    assert "Sent, by language:" in output and "Skew:" in output
    lines = {line.split()[0]: line for line in output.splitlines() if line.startswith("  ")}
    assert "100" in lines["cy"] and "200" in lines["en"]


def test_send_lang_warns_that_it_sends_one_language_ahead(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    path = prepare(workspace, server, monkeypatch, mixed(1, 1, 0))
    code, output = bulletin("send", str(path), "--lang", "en", "--yes")
    assert code == 0, output
    assert "this sends en ahead of the other languages" in output


def test_a_language_the_newsletter_is_not_written_in_counts_as_not_known(
        workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A subscriber whose recorded language is neither Welsh nor English (chosen for another
    newsletter, or imported) is one whose language among these is not known: they get what
    unknown_language says (every language, by default with Welsh), not the Welsh alone."""
    people: dict[str, str | None] = {"cy0@example.org": "cy", "en0@example.org": "en",
                                     "fr0@example.org": "fr", "anon0@example.org": None}
    code, output = bulletin("send", str(prepare(workspace, server, monkeypatch, people)),
                            "--yes")
    assert code == 0, output
    assert dict(subjects(server)) == {"cy0@example.org": SUBJECTS["cy"],
                                      "en0@example.org": SUBJECTS["en"],
                                      "fr0@example.org": SUBJECTS["cy+en"],
                                      "anon0@example.org": SUBJECTS["cy+en"]}
