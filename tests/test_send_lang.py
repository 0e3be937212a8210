"""`bulletin send --lang`: one language's edition to its own readers (delivery "each"). Its
plan counts that audience alone, uncertain messages included, and `--resend-uncertain` sends
again only that audience's; `bulletin status` still shows the whole issue."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from bulletin.store.ledger import Audience
from bulletin.store.store import Store
from tests.conftest import ROOT
from tests.smtp_server import SmtpServer, ready_to_send
from tests.test_send import BILINGUAL, bulletin, delivered

pytestmark = pytest.mark.slow  # whole sends through a real SMTP server

KEY = "cohes3ion-bilingual/cohes3ion-04-bilingual"
LIST = "cohes3ion-bilingual"
WELSH = {"gwen@example.org": "cy", "dai@example.org": "cy", "someone@example.org": None,
         "pierre@example.org": "fr"}
"""Who gets the Welsh edition: Welsh is the newsletter's first language, so also those with
no language or one it is not written in."""
ENGLISH = {"ann@example.org": "en", "bob@example.org": "en", "carys@example.org": "en"}


@pytest.fixture
def setup(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bilingual newsletter with delivery "each"; everyone's message claimed by a sender
    that died without a journal (so every one is uncertain), then one newcomer a language."""
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text().replace('delivery = "bilingual"', 'delivery = "each"'))
    (workspace / "issues" / BILINGUAL).write_text((ROOT / "issues" / BILINGUAL).read_text())
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list(LIST, newsletter="cohes3ion-bilingual")
        for address, language in {**WELSH, **ENGLISH}.items():
            store.subscribe(address, LIST, source="test", language=language)
        assert store.ledger.create(KEY, LIST) == 7
        assert len(store.ledger.claim(KEY, 100)) == 7  # left `sending`, by no live sender
        store.subscribe("newcy@example.org", LIST, source="test", language="cy")
        store.subscribe("newen@example.org", LIST, source="test", language="en")
    return workspace


def send(workspace: Path, *extra: str) -> str:
    code, output = bulletin("send", str(workspace / "issues" / BILINGUAL), *extra)
    assert code == 0, output
    return output


def shown(output: str, label: str) -> str:
    found = re.search(rf"^{label}:\s+(.*)$", output, re.MULTILINE)
    assert found, (label, output)
    return found[1]


def uncertain(workspace: Path) -> set[str]:
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        return {claim.email for claim in store.ledger.uncertain(KEY)}


def test_the_plan_counts_the_languages_own_uncertain(setup: Path) -> None:
    for language, people in (("cy", WELSH), ("en", ENGLISH)):
        output = send(setup, "--lang", language, "--dry-run")
        assert shown(output, "To send") == "1", output  # its newcomer
        assert shown(output, "Uncertain").startswith(
            f"{len(people)} message(s) may or may not have gone"), output
        output = send(setup, "--lang", language, "--dry-run", "--resend-uncertain")
        assert shown(output, "Uncertain").endswith("they will be sent again"), output
    output = send(setup, "--dry-run")
    assert shown(output, "To send") == "2" and shown(output, "Uncertain").startswith(
        f"{len(WELSH) + len(ENGLISH)} message(s)"), output


def test_the_ledger_lists_one_audiences_uncertain(setup: Path) -> None:
    with Store.open(f"sqlite:///{setup / 'bulletin.db'}") as store:
        welsh = store.ledger.uncertain(KEY, Audience("cy", ("en",), default=True))
        english = store.ledger.uncertain(KEY, Audience("en", ("cy",)))
        everyone = store.ledger.uncertain(KEY)
    assert {claim.email for claim in welsh} == set(WELSH)
    assert {claim.email for claim in english} == set(ENGLISH)
    assert len(everyone) == len(WELSH) + len(ENGLISH)


def test_resending_one_languages_uncertain_leaves_the_others_alone(
        setup: Path, server: SmtpServer) -> None:
    output = send(setup, "--lang", "cy", "--resend-uncertain", "--yes")
    assert shown(output, "Uncertain").startswith(f"{len(WELSH)} message(s)"), output
    assert delivered(server) == Counter([*WELSH, "newcy@example.org"])
    assert "ledger now holds 5 sent, 0 failed, 0 waiting, 0 uncertain" in output, output
    assert uncertain(setup) == set(ENGLISH)

    code, output = bulletin("status", str(setup / "issues" / BILINGUAL))  # the whole issue
    assert code == 0, output
    assert f"Uncertain ({len(ENGLISH)})" in output and "5 sent" in output, output

    output = send(setup, "--lang", "cy", "--resend-uncertain", "--yes")
    assert "Nothing to send." in output and "Uncertain" not in output, output
    output = send(setup, "--lang", "en", "--yes")  # the newcomer; the uncertain stay so
    assert delivered(server)["newen@example.org"] == 1 and len(server.received) == 6
    assert uncertain(setup) == set(ENGLISH)
    output = send(setup, "--lang", "en", "--resend-uncertain", "--yes")
    assert delivered(server) == Counter([*WELSH, *ENGLISH, "newcy@example.org",
                                         "newen@example.org"])
    assert uncertain(setup) == set()
