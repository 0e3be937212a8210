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
        written.flush()
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



def test_a_journal_open_in_this_process_is_alive_where_locks_are_per_process(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS, flock is emulated with POSIX locks, which a process's own second lock does
    not conflict with: the sender's own journal must not look dead to its own `recover`."""
    live = Journal(tmp_path)
    live.handed(7)
    monkeypatch.setattr(journal.fcntl, "flock", lambda fd, operation: None)
    with dead_runs(tmp_path) as runs:
        assert runs == []
    live.close(remove=False)
    with dead_runs(tmp_path) as runs:
        assert [record.run for record, _ in runs] == [live.run]

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
    monkeypatch.setattr(journal, "ROTATE_BYTES", 200)  # a new file every few messages
    _sent_whole(tmp_path, example, 200)


def _sent_whole(tmp_path: Path, example: Prepared, count: int) -> None:
    """A send to `count` readers, through two connections: every one sent, once, and the
    journal gone at the end."""
    from bulletin.personalise import MessageTemplate

    url = f"sqlite:///{tmp_path / 'bulletin.db'}"
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, b"k" * 32)
    transport = MemoryTransport()
    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for n in range(count):
            store.subscribe(f"reader{n}@example.org", "cohes3ion", source="test")
        store.ledger.create(ISSUE, "cohes3ion")
        report = asyncio.run(Dispatcher(
            store.ledger, ISSUE, {example.rendered.language: template}, example.rendered.language,
            "news@example.org", lambda: transport, DispatchSettings(connections=2)).run())
        counts = store.ledger.counts(ISSUE)
    assert report.sent == counts["sent"] == count and len(transport.messages) == count
    assert list((tmp_path / "bulletin.db.journal").iterdir()) == []


def test_answers_wait_for_the_next_handover_or_flush(tmp_path: Path) -> None:
    sender = Journal(tmp_path)

    def written() -> tuple[set[int], dict[int, tuple[str, str]]]:
        record = read(sender.run, logs(tmp_path, sender.run))
        assert record.trusted
        return record.handed, record.answered

    sender.handed(1)
    sender.answered(1, "sent", "250 OK")
    assert sender.waiting and written() == ({1}, {})
    sender.handed(2)  # the answer goes with it, before it
    assert not sender.waiting and written() == ({1, 2}, {1: ("sent", "250 OK")})
    sender.answered(2, "failed", "550 no\nsuch user")
    sender.flush()
    assert written() == ({1, 2}, {1: ("sent", "250 OK"), 2: ("failed", "550 no\nsuch user")})
    sender.answered(3, "unsent", "not sent")
    sender.close(remove=False)  # a sender stopping without settling writes what waits
    with dead_runs(tmp_path) as runs:
        assert runs[0][0].answered[3] == ("unsent", "not sent")


_SHORT = """
import resource, signal, sys
from pathlib import Path
from bulletin.store.journal import Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
sender = Journal(Path(sys.argv[1]))
resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))
n = 0
try:
    while True:
        n += 1
        sender.answered(n, "sent", "250 2.0.0 Ok: queued as " + "x" * n)
        sender.handed(n + 1)
except OSError as error:
    print(n, error)
sender.close(remove=False)
"""


def test_a_short_write_leaves_no_half_line(tmp_path: Path) -> None:
    """A write the file-size limit cuts short is taken back whole: the journal still reads
    as trusted, with every line that was written in full, and the failing one absent."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _SHORT, str(tmp_path)], capture_output=True,
                          text=True, check=True)
    failed_at = int(done.stdout.split()[0])
    assert "short write" in done.stdout or "File too large" in done.stdout, done.stdout
    with dead_runs(tmp_path) as runs:
        ((record, paths),) = runs
    assert record.trusted and paths[0].read_bytes().endswith(b"\n")
    assert record.handed == set(range(1, failed_at + 1)) - {1}
    assert set(record.answered) == set(range(1, failed_at))


def test_answers_are_written_by_progress_while_the_ledger_waits(
        tmp_path: Path, example: Prepared) -> None:
    """Answers wait to be written together, but not for a timer, nor for a next handover
    that may never come: once the replies read together are handled they are in the file.
    Here the ledger's first `record` blocks (the window then fills, and nothing more is
    handed over), so a kill now must find every message answered in the journal."""
    import threading

    from bulletin.personalise import MessageTemplate
    from tests.waiting import wait_for

    url = f"sqlite:///{tmp_path / 'bulletin.db'}"
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, b"k" * 32)
    transport = MemoryTransport()
    release, entered = threading.Event(), threading.Event()
    settings = DispatchSettings(connections=1, flush_every=3600.0)

    with Store.open(url) as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        for n in range(settings.in_flight):  # a window: all of them on their way at once
            store.subscribe(f"reader{n}@example.org", "cohes3ion", source="test")
        store.ledger.create(ISSUE, "cohes3ion")
        ledger = store.ledger

        class Held:
            """The store's ledger, its first `record` held until released."""

            def __getattr__(self, name: str) -> object:
                return getattr(ledger, name)

            def record(self, *args: object, **kwargs: object) -> int:
                entered.set()
                release.wait()
                return ledger.record(*args, **kwargs)  # type: ignore[arg-type]

        dispatcher = Dispatcher(Held(), ISSUE, {example.rendered.language: template},  # type: ignore[arg-type]
                                example.rendered.language, "news@example.org",
                                lambda: transport, settings)
        failed: list[BaseException] = []

        def send() -> None:
            try:
                asyncio.run(dispatcher.run())
            except BaseException as error:
                failed.append(error)
                raise

        sending = threading.Thread(target=send)
        sending.start()
        try:
            wait_for(lambda: entered.is_set() or not sending.is_alive(), "a record")
            wait_for(lambda: len(transport.messages) == settings.in_flight,
                     "the window to be sent")
            directory = tmp_path / "bulletin.db.journal"
            run = dispatcher._run
            answered = wait_for(lambda: len(ids := read(run, logs(directory, run)).answered)
                                == settings.in_flight and ids, "every answer in the journal")
            assert set(answered.values()) == {("sent", "250 OK")}
        finally:
            release.set()
            sending.join()
        assert not failed and store.ledger.counts(ISSUE)["sent"] == settings.in_flight


def test_a_handover_that_cannot_be_written_is_not_written_later(tmp_path: Path) -> None:
    """A failed `handed` (the message then does not go) leaves no `H` line waiting to be
    written with the next answers: a later flush (or close) would have it taken for handed
    over, and so uncertain, though it was never sent."""
    import os

    sender = Journal(tmp_path)
    sender.handed(1)
    sender.answered(1, "sent", "250 OK")
    path = logs(tmp_path, sender.run)[-1]
    unwritable = os.open(path, os.O_RDONLY)
    writable, sender._fd = sender._fd, unwritable
    with pytest.raises(OSError):
        sender.handed(2)
    sender._fd = writable
    os.close(unwritable)
    sender.answered(2, "unsent", "not sent: cannot write the send journal")
    sender.close(remove=False)
    with dead_runs(tmp_path) as runs:
        ((record, _),) = runs
    assert record.trusted and record.handed == {1}
    assert record.answered == {1: ("sent", "250 OK"),
                               2: ("unsent", "not sent: cannot write the send journal")}


def test_a_journal_that_cannot_start_afresh_keeps_its_file_and_answers(tmp_path: Path) -> None:
    """A rotation whose new file cannot be made leaves the old file as the journal, its
    waiting answers still to be written there, and the end removing it (not the new one's
    name)."""
    sender = Journal(tmp_path)
    sender.handed(1)
    sender.answered(1, "sent", "250 OK")
    blocked = tmp_path / f"{sender.run}.000002.log"
    blocked.mkdir()  # the next file's name is taken: it cannot be opened
    with pytest.raises(OSError):
        sender.rotate([1], [(1, "sent", "250 OK")])
    blocked.rmdir()
    sender.flush()
    record = read(sender.run, logs(tmp_path, sender.run))
    assert record.trusted and record.answered == {1: ("sent", "250 OK")}
    sender.handed(2)
    sender.close()
    assert list(tmp_path.iterdir()) == []


def test_a_journal_that_cannot_start_afresh_does_not_stop_the_send(
        tmp_path: Path, example: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting the journal afresh only keeps it small: when the new file cannot be made, the
    old one goes on, and so does the send (rather than ending with the OSError)."""

    def cannot(self: Journal, *args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal, "ROTATE_BYTES", 200)
    monkeypatch.setattr(Journal, "rotate", cannot)
    _sent_whole(tmp_path, example, 100)
