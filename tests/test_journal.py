"""The send journal's file (bulletin/store/journal.py): what a sender writes is what recovery
reads, replies of any text included; a journal whose sender lives is left alone; a journal
started afresh keeps what is still open; where journals live."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulletin.send.config import DispatchSettings
from bulletin.send.dispatch import Dispatcher
from bulletin.send.files import MemoryTransport
from bulletin.store import journal
from bulletin.store.journal import Journal, dead_runs, directory_for, read
from bulletin.store.store import Store
from bulletin.workflow import Prepared

ISSUE = "cohes3ion/cohes3ion-04"


def logs(directory: Path, run: str) -> list[Path]:
    return sorted(directory.glob(f"{run}.*.log"))


@given(st.lists(st.tuples(st.integers(1, 10**9), st.sampled_from(sorted(journal._STATES)),
                          st.text()), max_size=20))
def test_answers_read_back_as_written(answers: list[tuple[int, str, str]]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        written = Journal(Path(folder))
        for delivery_id, state, reply in answers:
            written.handed(delivery_id)
            written.answered(delivery_id, state, reply)
        record = read(written.run, logs(Path(folder), written.run))
        written.close()
    assert record.trusted
    assert record.handed == {a[0] for a in answers}
    assert record.answered == {a[0]: (a[1], a[2]) for a in answers}


def test_a_live_sender_s_journal_is_left_alone(tmp_path: Path) -> None:
    live = Journal(tmp_path)
    live.handed(7)
    with dead_runs(tmp_path) as runs:
        assert runs == []
    live.close(remove=False)  # it stopped without settling: now it is recovered
    with dead_runs(tmp_path) as runs:
        assert [(record.run, record.handed) for record, _ in runs] == [(live.run, {7})]


def test_a_fresh_journal_keeps_what_is_still_open(tmp_path: Path) -> None:
    sender = Journal(tmp_path)
    for delivery_id in range(1, 100):
        sender.handed(delivery_id)
        sender.answered(delivery_id, "sent", "250 OK")
    sender.handed(100)
    sender.rotate([100], [(99, "sent", "250 OK")])
    (only,) = logs(tmp_path, sender.run)
    record = read(sender.run, [only])
    sender.close()
    assert record.handed == {100} and record.answered == {99: ("sent", "250 OK")}
    assert list(tmp_path.iterdir()) == []


def test_where_journals_live(tmp_path: Path) -> None:
    assert directory_for(f"sqlite:///{tmp_path}/bulletin.db") == tmp_path / "bulletin.db.journal"
    assert directory_for("sqlite://") is None
    one = directory_for("postgresql+psycopg://u:secret@db.example/news")
    assert one == directory_for("postgresql+psycopg://u:other@db.example/news")  # no password
    assert one != directory_for("postgresql+psycopg://u@db.example/other")
    assert one != directory_for("postgresql+psycopg://u@db.example/news?options=-csearch_path%3Dx")


def test_a_long_send_starts_its_journal_afresh_and_removes_it_at_the_end(
        tmp_path: Path, example: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    from bulletin.personalise import MessageTemplate

    monkeypatch.setattr(journal, "ROTATE_BYTES", 200)  # a new file every few messages
    url = f"sqlite:///{tmp_path / 'bulletin.db'}"
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, b"k" * 32)
    transport = MemoryTransport()
    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for n in range(200):
            store.subscribe(f"reader{n}@example.org", "cohes3ion", source="test")
        store.ledger.create(ISSUE, "cohes3ion")
        report = asyncio.run(Dispatcher(
            store.ledger, ISSUE, {example.rendered.language: template}, example.rendered.language,
            "news@example.org", lambda: transport, DispatchSettings(connections=2)).run())
        counts = store.ledger.counts(ISSUE)
    assert report.sent == counts["sent"] == 200 and len(transport.messages) == 200
    assert list((tmp_path / "bulletin.db.journal").iterdir()) == []
