"""The public copy of an issue in the archive: its own neutral footer (no Unsubscribe or
Manage preferences links, which belong to a subscriber; a subscribe link instead), neutral
words where the email said the reader's address, and the index dated with the issue's own
date (its file's `date:`), not the day it was sent."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from bulletin.public_copy import public_copy
from bulletin.workflow import prepare_editions
from tests.conftest import ROOT
from tests.web_helpers import Web, publish

pytest_plugins = ["tests.web_fixtures"]

EXAMPLE = ROOT / "issues" / "cohes3ion-04.yaml"
BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"


def copy_issue(web: Web, source: Path, body: str | None = None) -> Path:
    target = web.root / "issues" / source.name
    shutil.copy(source, target)
    if body is not None:
        text = target.read_text()
        target.write_text(text.replace("    body: |\n", f"    body: |\n      {body}\n\n", 1))
    return target


def visible(html: str) -> str:
    html = re.sub(r"(?s)<(style|head)\b.*?</\1>", " ", html)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_archive_index_shows_the_issues_own_date(web: Web) -> None:
    publish(prepare_editions(copy_issue(web, EXAMPLE)), web.store)  # date: 2022-01-31
    index = web.http.get("/archive/cohes3ion")
    assert '<span class="date">31 January 2022</span>' in index.text


def test_the_public_copy_has_a_neutral_footer(web: Web) -> None:
    issue = copy_issue(web, EXAMPLE, body="We will write to %%email%% (that's your address).")
    [edition] = prepare_editions(issue)
    html, text = public_copy(edition)
    words = visible(html)
    assert "Unsubscribe" not in words and "Manage preferences" not in words
    assert "preferences page" not in words and "This email was sent to" not in words
    assert "This is a copy of an email Welsh Government sent to its subscribers." in words
    assert "We will write to your email address (that's your address)." in words
    assert "write to you " not in words
    subscribe = f"{web.url}/subscribe/cohes3ion"
    assert re.search(rf'<a href="{re.escape(subscribe)}"[^>]*>Subscribe</a>', html)
    assert "Unsubscribe" not in text and "Manage preferences" not in text
    assert "This email was sent to" not in text and "preferences page" not in text
    assert "This is a copy of an email Welsh Government sent to its subscribers." in text
    assert "We will write to your email address" in text
    assert f"<{subscribe}>" in text


def test_the_bilingual_public_copy_in_each_language(web: Web) -> None:
    [edition] = prepare_editions(copy_issue(web, BILINGUAL))
    html, text = public_copy(edition)
    words = visible(html)
    assert "Dad-danysgrifio" not in words and "Unsubscribe" not in words
    assert "This is a copy of an email Welsh Government sent to its subscribers." in words
    assert "Anfonwyd yr e-bost hwn at" not in words
    for part in (words, text):
        assert "Tanysgrifio / Subscribe" in part or "Subscribe" in part
    assert "%%" not in html and "%%" not in text
