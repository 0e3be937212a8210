"""View in browser and the archive: every issue sent, as a public page without any
recipient's data, and an index of past issues per newsletter; `bulletin send` publishes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.public_copy import public_copy
from bulletin.workflow import prepare_editions
from tests.conftest import ROOT
from tests.web_helpers import Web, publish

pytest_plugins = ["tests.web_fixtures"]

BILINGUAL = ROOT / "issues" / "cohes3ion-04-bilingual.yaml"
EXAMPLE = ROOT / "issues" / "cohes3ion-04.yaml"


def copy_issue(web: Web, source: Path) -> Path:
    target = web.root / "issues" / source.name
    shutil.copy(source, target)
    return target


def assert_no_recipient_data(html: str) -> None:
    assert "%%" not in html
    assert "/unsubscribe/" not in html and "/preferences/" not in html
    assert not re.search(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{16,}", html)  # a token's shape
    assert "subscriber@example.com" not in html  # the sample recipient


def test_a_public_copy_has_neutral_values_in_each_language(web: Web) -> None:
    [edition] = prepare_editions(copy_issue(web, BILINGUAL))
    html, text = public_copy(edition)
    assert_no_recipient_data(html)
    assert_no_recipient_data(text)
    assert f"{web.url}/subscribe/cohes3ion-bilingual" in html
    # The public copy's own footer, in each language (no "sent to ADDRESS").
    assert "This is a copy of an email Welsh Government sent to its subscribers." in text
    assert "Dyma gopi o e-bost a anfonodd Llywodraeth Cymru at ei danysgrifwyr." in text
    assert "This is a copy of an email Welsh Government sent to its subscribers." in html
    assert "Dyma gopi o e-bost a anfonodd Llywodraeth Cymru at ei danysgrifwyr." in html


def test_publish_stores_each_language_once_and_again_replaces(web: Web) -> None:
    editions = prepare_editions(copy_issue(web, BILINGUAL))
    assert publish(editions, web.store) == 2  # one bilingual email, under cy and under en
    assert publish(editions, web.store) == 2
    entries = web.store.archive_index("cohes3ion-bilingual")
    assert sorted((e.issue, e.language) for e in entries) == [
        ("cohes3ion-04-bilingual", "cy"), ("cohes3ion-04-bilingual", "en")]


def test_archive_pages_over_http(web: Web) -> None:
    publish(prepare_editions(copy_issue(web, EXAMPLE)), web.store)
    index = web.http.get("/archive/cohes3ion")
    assert index.status_code == 200
    assert 'lang="en"' in index.text
    assert "Past issues of Cohes3ion Newsletter" in index.text
    assert "Cohes3ion Newsletter Issue 4" in index.text
    href = re.search(r'<a href="([^"]+)">Cohes3ion Newsletter Issue 4', index.text)
    assert href and href[1] == "cohes3ion/cohes3ion-04"
    page = web.http.get(f"/archive/{href[1]}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Regional Action Plans Published" in page.text
    assert_no_recipient_data(page.text)
    assert "set-cookie" not in page.headers

    empty = web.http.get("/archive/cohes3ion-bilingual?lang=en")
    assert empty.status_code == 200 and "No issues have been sent yet." in empty.text
    for missing in ("/archive/cohes3ion/nope", "/archive/nope", "/archive/nope/cohes3ion-04",
                    "/archive/cohes3ion/%00"):
        response = web.http.get(missing)
        assert response.status_code == 404, missing
        assert "Page not found" in response.text


def test_the_view_in_browser_link_of_a_language_and_the_index_in_welsh(web: Web) -> None:
    editions = prepare_editions(copy_issue(web, BILINGUAL), delivery="each")
    publish(editions, web.store)
    welsh = web.http.get("/archive/cohes3ion-bilingual/cohes3ion-04-bilingual?lang=cy")
    english = web.http.get("/archive/cohes3ion-bilingual/cohes3ion-04-bilingual?lang=en")
    assert welsh.status_code == english.status_code == 200
    assert '<html lang="cy"' in welsh.text and '<html lang="en"' in english.text
    index = web.http.get("/archive/cohes3ion-bilingual")  # the newsletter's first: Welsh
    assert '<html lang="cy">' in index.text
    assert "Rhifynnau blaenorol o Cylchlythyr Cohes3ion" in index.text
    assert "cohes3ion-bilingual/cohes3ion-04-bilingual?lang=cy" in index.text


@pytest.mark.slow
def test_bulletin_send_publishes_the_issue(web: Web) -> None:
    issue = copy_issue(web, EXAMPLE)
    web.add("reader@example.org")
    result = CliRunner().invoke(app, ["send", str(issue), "--yes"])
    assert result.exit_code == 0, result.output
    assert len(web.received(1)) == 1
    page = web.http.get("/archive/cohes3ion/cohes3ion-04")
    assert page.status_code == 200
    assert "reader@example.org" not in page.text
    assert_no_recipient_data(page.text)
