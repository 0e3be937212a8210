"""One-click unsubscribes, committed together.

After a send, mailbox providers post one-click unsubscribes in bursts. Each needs a write,
and SQLite takes one writer at a time: done one by one from a pool of threads, the writers
queue on the database's lock (and sleep in its busy handler). Instead, requests that arrive
while a write is under way wait for the next one, which unsubscribes all of them in a single
transaction (group commit). Every request is answered only after the transaction that
unsubscribed it has committed, so a 200 always means done."""

from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool

from ..store import Store

BATCH = 500


class OneClick:
    def __init__(self, store: Store, source: str = "one-click") -> None:
        self.store = store
        self.source = source
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def unsubscribe(self, subscriber_id: int) -> None:
        """Return once the subscriber is unsubscribed from everything (or was already, or
        does not exist); raise what the store raised if the write failed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((subscriber_id, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        await done

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH], self._waiting[BATCH:]
            try:
                await run_in_threadpool(self.store.unsubscribe_many,
                                        [subscriber_id for subscriber_id, _ in batch],
                                        source=self.source)
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
