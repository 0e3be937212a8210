"""`bulletin compliance ISSUE`: the auditor's report of a multilingual issue, in the terminal
and as HTML: languages and parity, order, what the unknown get, timing of the last send,
subscribers by language and by where they chose it, web pages per language."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import lxml.html
import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store.models import LedgerEntry
from bulletin.store.store import Store
from tests.conftest import ROOT

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"
LIST = "cohes3ion-bilingual"


@pytest.fixture
def issue(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("BULLETIN_DATABASE_URL", raising=False)
    path = workspace / "issues" / BILINGUAL.name
    shutil.copy(BILINGUAL, path)
    return path


def run(issue: Path, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["compliance", str(issue), "--config",
                                      str(issue.parent.parent / "bulletin.toml"), *more])
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


def test_report_of_a_sent_issue_in_terminal_and_html(issue: Path) -> None:
    workspace = issue.parent.parent
    key = f"{LIST}/{issue.stem}"
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list(LIST, newsletter=LIST)
        store.subscribe("gwen@example.org", LIST, source="page", language="cy")
        store.subscribe("dai@example.org", LIST, source="import", language="cy")
        store.subscribe("ann@example.org", LIST, source="api", language="en")
        store.subscribe("someone@example.org", LIST, source="cli")
        store.ledger.create(key, LIST)
        with store.engine.begin() as connection:  # as a send would leave them
            for n, row in enumerate(store.ledger.of_subscriber(
                    store.subscriber("gwen@example.org").id)
                    + store.ledger.of_subscriber(store.subscriber("ann@example.org").id)):
                connection.execute(update(LedgerEntry).where(LedgerEntry.id == row.id).values(
                    state="sent", sent_at=start + timedelta(seconds=3 * n)))
    code, output = run(issue, "--html", str(workspace / "report.html"))
    assert code == 0, output
    assert "languages cy, en; read first: cy" in output
    assert "Parity: 0 error(s), 0 warning(s)" in output
    assert "Skew: 3.0 s" in output
    assert "Subscribers, by language: cy 2, en 1, none recorded 1" in output
    assert "Language chosen via: form 1, import 1, api 1" in output
    assert "?lang=cy" in output and "?lang=en" in output
    page = lxml.html.parse(str(workspace / "report.html")).getroot()
    assert page.get("lang") == "en"
    text = " ".join(page.text_content().split())
    assert "Read first: cy" in text and "Skew: 3.0 s" in text
    assert len(page.xpath("//table")) == 4  # timing, by language, by source, pages


def test_parity_errors_fail_the_report(issue: Path) -> None:
    text = issue.read_text()
    issue.write_text(text.replace("cy: Cyhoeddi Cynlluniau Gweithredu Rhanbarthol",
                                  "cy: \"[Cyfieithiad i ddilyn] Cyhoeddi\"", 1))
    code, output = run(issue)
    assert code == 1
    assert "Parity: 1 error(s)" in output and "sections[0].heading (cy)" in output
    assert "Sent, by language: not sent yet" in output


def test_unknown_language_and_first_language_as_configured(issue: Path) -> None:
    config = issue.parent.parent / "bulletin.toml"
    config.write_text(config.read_text().replace(
        '\ndelivery = "bilingual"\n',
        '\ndelivery = "each"\nfirst_language = "en"\nunknown_language = "first"\n'))
    code, output = run(issue)
    assert code == 0, output
    assert "languages en, cy; read first: en; delivery each" in output
    assert "No recorded language: the first language's edition (en)" in output
