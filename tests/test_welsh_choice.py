"""Each subscriber's language choice as a record (Welsh Language Standards): where it was
made and when, kept with the subscriber, in the audit trail and in `subscribers show`; on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from bulletin.store import Store
from bulletin.store.language_choice import channel

pytest_plugins = ["tests.store_fixtures"]


def test_the_channel_of_each_source() -> None:
    assert channel("page", subscribing=True) == "form"
    assert channel("page", subscribing=False) == "preferences"
    assert channel("api", subscribing=True) == "api"
    assert channel("import", subscribing=False) == "import"
    assert channel("cli", subscribing=True) == "cli"


def test_a_language_chosen_on_the_form_then_changed_on_the_preferences_page(
        store: Store, news: str) -> None:
    store.subscribe("ann@example.org", news, source="page", language="cy")
    info = store.subscriber("ann@example.org")
    assert (info.language, info.language_source) == ("cy", "form")
    assert info.language_at is not None
    first = info.language_at
    assert store.set_language(info.id, "en", source="page")
    info = store.subscriber("ann@example.org")
    assert (info.language, info.language_source) == ("en", "preferences")
    assert info.language_at is not None and info.language_at >= first
    trail = [(a.action, a.source, a.detail) for a in store.audit(info.id)]
    assert trail[0] == ("subscribe", "page", "language cy (form)")
    assert trail[-1] == ("language", "page", "cy -> en (preferences)")


def test_no_language_no_record(store: Store, news: str) -> None:
    store.subscribe("bob@example.org", news, source="api")
    info = store.subscriber("bob@example.org")
    assert info.language is None and info.language_source is None and info.language_at is None
    store.subscribe("bob@example.org", news, source="api", language="cy")  # filled in
    info = store.subscriber("bob@example.org")
    assert (info.language, info.language_source) == ("cy", "api")
    assert ("language", "api", "language cy (api)") in [
        (a.action, a.source, a.detail) for a in store.audit(info.id)]


def test_subscribers_show_says_where_and_when(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'bulletin.db'}"
    monkeypatch.setenv("BULLETIN_DATABASE_URL", url)
    with Store.open(url) as store:
        store.create_list("news", newsletter="news")
        store.subscribe("ann@example.org", "news", source="page", language="cy")
        store.subscribe("cat@example.org", "news", source="cli")
    result = CliRunner().invoke(app, ["subscribers", "show", "ann@example.org"])
    assert result.exit_code == 0, result.output
    assert "  Language:    cy" in result.output
    assert "  Chosen via:  form, 20" in result.output and " UTC" in result.output
    found = json.loads(CliRunner().invoke(app, ["subscribers", "show", "ann@example.org",
                                                "--json"]).output)
    assert found["language_choice"]["source"] == "form"
    assert found["language_choice"]["at"].startswith("20")
    result = CliRunner().invoke(app, ["subscribers", "show", "cat@example.org"])
    assert "  Chosen via:  not recorded" in result.output


def test_a_language_from_an_import_is_recorded_as_chosen_via_import(
        store: Store, news: str, tmp_path: Path) -> None:
    store.subscribe("old@example.org", news, source="page")  # no language yet
    store.subscribe("kept@example.org", news, source="page", language="en")
    path = tmp_path / "people.csv"
    path.write_text("email,name,language\nnew@example.org,New,cy\nold@example.org,,cy\n"
                    "kept@example.org,,cy\nnone@example.org,,\n")
    store.import_csv(path, news)
    for email in ("new@example.org", "old@example.org"):
        info = store.subscriber(email)
        assert (info.language, info.language_source) == ("cy", "import"), email
        assert info.language_at is not None
    kept = store.subscriber("kept@example.org")  # an import fills blanks, overwrites nothing
    assert (kept.language, kept.language_source) == ("en", "form")
    none = store.subscriber("none@example.org")
    assert none.language is None and none.language_source is None and none.language_at is None
