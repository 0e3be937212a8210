"""One-click unsubscribes: written to a journal first, then committed together.

After a send, mailbox providers post one-click unsubscribes in bursts, and they rarely retry:
an unsubscribe that fails is lost. Each needs a write, and SQLite takes one writer at a time,
so a long import (or anything else holding the write lock) could keep one waiting past the
database's busy timeout. So:

1. Requests that arrive while a write is under way wait for the next one, which takes all of
   them together (group commit).
2. The batch is appended to a journal file beside the database. That needs no database
   lock; from here on the death of the process cannot lose them.
3. Then the batch is unsubscribed in one transaction, waiting at most WAIT seconds for the
   write lock. If the database is busy or down, the journal is fdatasync'd (so that a power
   cut cannot lose them either) and a background task takes over: it waits for the lock
   (SQLite's busy handler wakes when it is free) and applies everything owed, as many times
   as it takes; meanwhile new requests are only journaled, and synced, before their answer.
4. When nothing is owed any more the journal is emptied. A service that stops or dies with
   unsubscribes still owed applies them when it starts again, from the journal.

The commits go through connections of their own (`_committer`), not the store's pool: requests
that wait for the write lock each hold one of the pool's connections meanwhile, and enough of
them would keep a one-click waiting for a connection (past WAIT, then failing). Whatever a
commit raises, the unsubscribes stay journaled and owed.

**Guarantee:** a 200 means the unsubscribe is committed, or is in the journal and will be
applied. Committed: as durable as any write to the store (SQLite's synchronous=NORMAL). In
the journal only (the database was busy for WAIT seconds, or failed): fdatasync'd. Only when
the journal itself cannot be written (a full or read-only disk) does a request fall back to
the database alone, waiting as long as the store waits, and then a failure is a StoreError
(the service answers 503, worth a retry).

Each service process owns one journal file (an exclusive lock on it for its life); a second
process on the same database takes the next file (`…-oneclick.1`, …), and a restarted one
takes up, and applies, whatever a process that died left in the file it gets."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from ...store import Store
from ...store.engine import create
from ...store.subscriptions import Subscriptions

BATCH = 500
WAIT = 2.0
"""Seconds a request waits for the database's write lock before it is answered from the
journal alone."""
RETRY_PAUSE = 1.0
"""Seconds between attempts of the background task when the database fails outright (a busy
database is waited for by the store itself, and wakes it as soon as it is free)."""
SLOTS = 16

log = logging.getLogger("bulletin.web")

Entry = tuple[int, str]
"""(subscriber id, audit source)."""


class Journal:
    """An append-only file of unsubscribes not yet known to be committed: one line each,
    `ID SOURCE`. A line cut short by a crash (never acknowledged) is dropped on opening."""

    def __init__(self, base: Path) -> None:
        self.path, self._fd = _take_slot(base)

    def read(self) -> list[Entry]:
        """The complete entries in the file; a torn last line is cut off."""
        with open(self.path, "rb") as stream:
            data = stream.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            os.ftruncate(self._fd, end)
        entries: list[Entry] = []
        for line in data[:end].splitlines():
            subscriber, _, source = line.decode("ascii", "replace").partition(" ")
            if subscriber.isdigit() and source:
                entries.append((int(subscriber), source))
        return entries

    def append(self, entries: list[Entry], *, sync: bool = True) -> None:
        """Write the entries (then safe from the death of this process) and, if `sync`,
        make them durable (fdatasync: safe from a power cut too) before returning."""
        data = "".join(f"{subscriber} {source}\n" for subscriber, source in entries)
        view = memoryview(data.encode("ascii"))
        while view:
            view = view[os.write(self._fd, view):]
        if sync:
            self.sync()

    def sync(self) -> None:
        os.fdatasync(self._fd)

    def clear(self) -> None:
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        os.close(self._fd)  # and with it the lock


def journal_path(store: Store, workspace_root: Path) -> Path:
    """Beside a SQLite database (`bulletin.db-oneclick`); for PostgreSQL, in the workspace."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and \
            not url.database.startswith("file:"):
        return Path(f"{url.database}-oneclick")
    return workspace_root / "bulletin-oneclick.journal"


def _take_slot(base: Path) -> tuple[Path, int]:
    for slot in range(SLOTS):
        path = base if slot == 0 else base.with_name(f"{base.name}.{slot}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return path, fd
    raise OSError(f"all {SLOTS} one-click journals beside {base} are in use")


class OneClick:
    def __init__(self, store: Store, journal: Path | None, source: str = "one-click") -> None:
        self.store = store
        self.source = source
        self._committer: Subscriptions | None = None
        """The unsubscribes' own connections to the store's database (made at start)."""
        self._base = journal
        self._journal: Journal | None = None
        self._owed: list[Entry] = []
        """Journaled and not yet known to be committed, oldest first."""
        self._waiting: list[tuple[Entry, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def owed(self) -> int:
        """Unsubscribes answered but not yet committed."""
        return len(self._owed)

    def is_owed(self, subscriber_id: int) -> bool:
        """Whether an unsubscribe of theirs is journaled and not yet committed."""
        return any(subscriber == subscriber_id for subscriber, _ in self._owed)

    async def start(self) -> None:
        """Open the journal and apply what a previous run left in it (in the background)."""
        if self._lock is not None:
            return
        self._lock = asyncio.Lock()
        self._committer = await run_in_threadpool(lambda: Subscriptions(create(self.store.url)))
        if self._base is None:
            return
        try:
            self._journal = await run_in_threadpool(Journal, self._base)
            left = await run_in_threadpool(self._journal.read)
        except OSError as exc:
            log.error("one-click journal unavailable (%s); unsubscribes go to the database "
                      "alone", exc.strerror or exc)
            self._journal = None
            return
        if left:
            log.info("one-click journal: %d unsubscribe(s) from an earlier run to apply",
                     len(left))
            self._owed.extend(left)
            self._catch_up()

    async def stop(self) -> None:
        """Stop trying; anything still owed stays in the journal for the next start."""
        if self._catching_up is not None:
            self._catching_up.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._catching_up
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        if self._committer is not None:
            await run_in_threadpool(self._committer.engine.dispose)

    async def unsubscribe(self, subscriber_id: int, source: str | None = None) -> None:
        """Return once the unsubscribe (from everything) is journaled, and committed unless
        the database was busy; raise StoreError only if it could be neither."""
        await self.start()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(((subscriber_id, source or self.source), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            entries = [entry for entry, _ in batch]
            try:
                await self._journaled(entries)
            except Exception as exc:  # every request is answered
                _settle(batch, exc)
            else:
                _settle(batch, None)

    async def _journaled(self, entries: list[Entry]) -> None:
        assert self._lock is not None and self._committer is not None
        async with self._lock:
            journal = self._journal
            if journal is not None:
                # Nothing is owed unless the background task is catching up (it takes
                # everything owed), so then only journal; else journal and commit these.
                commit = self._catching_up is None
                try:
                    done = await run_in_threadpool(self._write_through, journal, entries,
                                                   commit)
                except OSError as exc:
                    log.error("one-click journal cannot be written (%s); unsubscribing "
                              "without it", exc.strerror or exc)
                else:
                    if not done:
                        self._owed.extend(entries)
                        self._catch_up()
                    return
        await run_in_threadpool(_commit, self._committer, entries, None)

    def _write_through(self, journal: Journal, entries: list[Entry], commit: bool) -> bool:
        """(In a worker thread: one hop for the whole.) Journal the entries; then, if
        `commit`, commit them, waiting at most WAIT for the lock, and empty the journal.
        True if committed."""
        # Written before the database is tried, so that no death of the process loses
        # them; made durable against a power cut (fdatasync) only if they are to stay owed.
        # A commit is as durable as the store makes it (SQLite's synchronous=NORMAL: like
        # the journal's unsynced write; PostgreSQL: durable).
        journal.append(entries, sync=not commit)
        if not commit:
            return False
        assert self._committer is not None
        try:
            _commit(self._committer, entries, WAIT)
        except Exception as exc:  # busy, down or anything else: kept, and applied later
            journal.sync()
            log.warning("one-click: database busy or unavailable (%s); unsubscribes "
                        "journaled, applying them when it answers", exc)
            return False
        journal.clear()
        return True

    def _catch_up(self) -> None:
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._keep_applying())

    async def _keep_applying(self) -> None:
        assert self._lock is not None and self._committer is not None
        try:
            while True:
                # Without the lock while waiting for the database (the store's busy timeout:
                # SQLite wakes it as soon as the write lock is free), so that new requests
                # are journaled and answered meanwhile; they are applied in the next round.
                owed = list(self._owed)
                try:
                    await run_in_threadpool(_commit, self._committer, owed, None)
                except Exception as exc:  # as in _write_through: tried again, never dropped
                    log.warning("one-click: still cannot apply %d journaled unsubscribe(s): "
                                "%s", len(self._owed), exc)
                    await asyncio.sleep(RETRY_PAUSE)
                    continue
                async with self._lock:
                    del self._owed[:len(owed)]
                    if not self._owed:
                        if self._journal is not None:
                            await run_in_threadpool(self._journal.clear)
                        self._catching_up = None
                        log.info("one-click: journaled unsubscribes applied")
                        return
        finally:
            if self._catching_up is asyncio.current_task():
                self._catching_up = None


def _commit(writer: Subscriptions, entries: list[Entry], wait: float | None) -> None:
    by_source: dict[str, list[int]] = {}
    for subscriber, source in entries:
        by_source.setdefault(source, []).append(subscriber)
    for source, ids in by_source.items():
        writer.unsubscribe_many(ids, source=source, wait=wait)


def _settle(batch: list[tuple[Entry, asyncio.Future[None]]], exc: Exception | None) -> None:
    for _, done in batch:
        if not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)
