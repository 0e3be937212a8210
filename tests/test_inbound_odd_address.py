"""A report that names something that is not an address (an auto-reply From "ann@intranet",
a bounce of ours naming "root@localhost") is not ours, like any other address that is no
subscriber's: it never stops the intake as if the store were down (the pipe would exit 75
and the MTA retry it forever; an IMAP batch would never be processed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bulletin.inbound.process import process, process_many
from bulletin.settings import Workspace, load_workspace
from bulletin.store import Store
from tests.inbound_mail import dsn

KEY = "a-test-secret-key-of-some-length"
ENVELOPE = "cohes3ion@example.gov.wales"


@pytest.fixture
def intake(workspace: Path, monkeypatch: pytest.MonkeyPatch
           ) -> Iterator[tuple[Store, Workspace]]:
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    with Store.open(f"sqlite:///{workspace / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.subscribe("ann@example.org", "cohes3ion", source="test")
        yield store, load_workspace(workspace / "bulletin.toml")


def _reply(sender: str) -> bytes:
    return (f"From: {sender}\r\nTo: {ENVELOPE}\r\nSubject: Out of Office: hello\r\n"
            "Auto-Submitted: auto-replied\r\nMessage-ID: <r1@example.org>\r\n\r\n"
            "I am away.\r\n").encode()


ORIGINAL = (f"From: Welsh Government <{ENVELOPE}>\r\nTo: root@localhost\r\n"
            "Subject: COHES3ION issue-1\r\nList-Id: <cohes3ion.example.gov.wales>\r\n"
            "Message-ID: <plain-1@example.gov.wales>\r\n\r\nHello\r\n").encode()


@pytest.mark.parametrize("sender", ["ann@intranet", "ann@localhost", "ann@example.org."])
def test_an_auto_reply_from_no_address_is_not_ours(intake: tuple[Store, Workspace],
                                                   sender: str) -> None:
    store, workspace = intake
    done = process(store, workspace, _reply(sender), source="pipe")
    assert (done.kind, done.ours, done.action) == ("auto-reply", False, "ignored")


def test_a_bounce_naming_no_address_leaves_the_batch_whole(
        intake: tuple[Store, Workspace]) -> None:
    store, workspace = intake
    odd = dsn(ORIGINAL, ENVELOPE, "root@localhost", "5.1.1", "550 5.1.1 user unknown")
    results = process_many(store, workspace, [odd, _reply("ann@example.org")], source="imap")
    assert [(r.kind, r.ours) for r in results if not isinstance(r, Exception)] == \
        [("hard", False), ("auto-reply", True)]
