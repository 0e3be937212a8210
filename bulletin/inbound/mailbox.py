"""The IMAP intake: read the bounce mailbox once, hand each message to the processing
use-case, and move what was ours to the processed folder; everything else stays where it was,
unread.

Nothing is remembered between runs, so nothing can be lost by remembering wrongly: a message
is moved only after it was processed (recorded in the store), and processing is idempotent
(the same message counts once), so a run cut short anywhere (the connection lost, the store
gone, Ctrl-C) is finished by the next one. Mail that is not ours is read each time (fetched
with BODY.PEEK, so it stays unread); a long-lived poller may pass it over with `skip`, which
holds (UIDVALIDITY, UID) pairs the server guarantees are never reused for other mail.

Messages are fetched in batches (`BATCH` messages or `BATCH_BYTES` a command, whichever
comes first) and the batch's processed ones moved in one command, so ten thousand bounces
take a few hundred round trips, not forty thousand. With `many` (bulletin.inbound.process's
process_many), a batch is also recorded in one store transaction, and moved only once it
committed: one commit a batch, not one a message."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..environment import IMAP_PASSWORD
from ..errors import BulletinError, SettingsError, TokenError
from ..store.errors import StoreError
from .imap import Account, Mailbox

if TYPE_CHECKING:
    from ..settings import Workspace

log = logging.getLogger("bulletin.inbound")

BATCH = 100
"""Messages fetched (and then moved) per command, at most..."""
BATCH_BYTES = 16 * 1024 * 1024
"""... and bytes (a message bigger than this is fetched alone): a bounce can carry the
whole original, attachments and all, and a batch is held in memory."""


def account(workspace: Workspace) -> Account:
    """The mailbox of bulletin.toml's [inbound] table, with its password from the
    environment; ca_file is relative to bulletin.toml's folder."""
    inbound = workspace.settings.inbound
    if inbound is None:
        raise SettingsError(f"{workspace.config_path}: no [inbound] table: add one with the "
                            f"mailbox's host and username (see README, \"Bounces\")")
    password = os.environ.get(IMAP_PASSWORD, "")
    if not password:
        raise SettingsError(f"{workspace.where(('inbound', 'username'))}: [inbound] needs the "
                            f"password of '{inbound.username}' in the environment: set "
                            f"{IMAP_PASSWORD}")
    port = inbound.port or (993 if inbound.security == "tls" else 143)
    return Account(inbound.host, port, inbound.security, inbound.username, password,
                   ca_file(workspace), inbound.timeout)


def ca_file(workspace: Workspace) -> Path | None:
    """The [inbound] table's ca_file (relative to bulletin.toml's folder), None when it names
    none; one named that is not a file is an error, wherever the mailbox is read (`bounces
    fetch`, `serve`): a mistake in bulletin.toml, not a secret yet to be given."""
    inbound = workspace.settings.inbound
    found = workspace.root / inbound.ca_file if inbound and inbound.ca_file else None
    if found is not None and not found.is_file():
        raise SettingsError(f"{workspace.where(('inbound', 'ca_file'))}: inbound.ca_file "
                            f"{found} is not a file; give the path of the mailbox server's "
                            f"CA certificate (PEM)")
    return found


class Outcome(Protocol):
    """What the processing use-case says of one message (bulletin.inbound.process's
    Processed)."""

    @property
    def kind(self) -> str: ...
    @property
    def ours(self) -> bool: ...
    @property
    def duplicate(self) -> bool: ...


Handler = Callable[[bytes], Outcome]
Many = Callable[[list[bytes]], Sequence[Outcome | Exception]]
"""Processes a batch at once: for each message, what became of it or the error that kept
it from being processed; raises StoreError or TokenError when nothing could be."""

LABELS = (("hard", "hard"), ("soft", "soft"), ("complaint", "complaints"),
          ("auto-reply", "auto-replies"), ("unsubscribe", "unsubscribes"))


@dataclass
class Tally:
    """What one pass over the mailbox did."""

    kinds: Counter[str] = field(default_factory=Counter)
    """Processed (moved) messages by kind."""
    duplicates: int = 0
    """Of those, messages processed before (moved now, counted once)."""
    left: int = 0
    """Not ours: left where they were, unread."""
    unreadable: int = 0
    """Not an email, or failing to process: left where they were, tried again next time."""
    passed_over: int = 0
    """Known from an earlier pass not to be ours (`skip`), not fetched again."""

    @property
    def processed(self) -> int:
        return sum(self.kinds.values())

    def line(self) -> str:
        kinds = ", ".join(f"{label} {self.kinds[kind]}" for kind, label in LABELS)
        text = f"processed {self.processed}: {kinds}; left alone {self.left + self.passed_over}"
        if self.duplicates:
            text += f" ({self.duplicates} of the processed were counted before)"
        if self.unreadable:
            text += f"; could not process {self.unreadable} (left in place)"
        return text


def fetch(account: Account, folder: str, processed_folder: str, handle: Handler, *,
          skip: set[tuple[int, int]] | None = None, stop: Callable[[], bool] | None = None,
          use_move: bool = True, batch: int = BATCH, many: Many | None = None) -> Tally:
    """Process every message of `folder` once with `handle` (or each batch with `many`)
    and move the ones that are ours to `processed_folder`. Stops early, keeping what is
    done, when `stop()` turns true; a StoreError or TokenError from `handle` (the store
    gone, no secret key) stops the pass too, after moving what was processed, and is raised
    again."""
    tally = Tally()
    with Mailbox.open(account) as mailbox:
        mailbox.select(folder)
        uids = mailbox.uids()
        if skip is not None:
            known = {uid for validity, uid in skip if validity == mailbox.uidvalidity}
            tally.passed_over = sum(uid in known for uid in uids)
            uids = [uid for uid in uids if uid not in known]
        for chunk in batches(uids, mailbox.sizes(uids), batch):
            if stop is not None and stop():
                break
            done: list[int] = []
            try:
                fetched = mailbox.fetch(chunk)
                pairs = _handled(fetched, handle, tally) if many is None else \
                    _handled_together(list(fetched), many, tally)
                for uid, outcome in pairs:
                    if outcome is None:
                        continue
                    if outcome.ours:
                        done.append(uid)
                        tally.kinds[outcome.kind] += 1
                        tally.duplicates += outcome.duplicate
                    else:
                        tally.left += 1
                        if skip is not None:
                            skip.add((mailbox.uidvalidity, uid))
            finally:
                mailbox.move(done, processed_folder, use_move=use_move)
    return tally


def batches(uids: list[int], sizes: dict[int, int], most: int = BATCH,
            most_bytes: int = BATCH_BYTES) -> Iterator[list[int]]:
    """`uids` in order, in runs of at most `most` messages and `most_bytes` bytes (a
    bigger message alone)."""
    run: list[int] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if run and (len(run) == most or total + size > most_bytes):
            yield run
            run, total = [], 0
        run.append(uid)
        total += size
    if run:
        yield run


def _handled(fetched: Iterator[tuple[int, bytes]], handle: Handler,
             tally: Tally) -> Iterator[tuple[int, Outcome | None]]:
    """Each message handled as it arrives."""
    for uid, raw in fetched:
        try:
            outcome: Outcome | Exception = handle(raw)
        except (StoreError, TokenError):
            raise
        except Exception as exc:
            outcome = exc
        yield uid, _outcome(uid, outcome, tally)


def _handled_together(fetched: list[tuple[int, bytes]], many: Many,
                      tally: Tally) -> Iterator[tuple[int, Outcome | None]]:
    """The batch handled at once (one store transaction)."""
    outcomes = many([raw for _, raw in fetched])
    for (uid, _), outcome in zip(fetched, outcomes, strict=True):
        yield uid, _outcome(uid, outcome, tally)


def _outcome(uid: int, outcome: Outcome | Exception, tally: Tally) -> Outcome | None:
    """The outcome, or None (counted unreadable, logged) for a message that failed."""
    if not isinstance(outcome, Exception):
        return outcome
    if isinstance(outcome, BulletinError):  # not an email, say: stays, for a person to see
        log.warning("message UID %d left in place: %s", uid, type(outcome).__name__)
    else:  # a bug must not hold up the rest of the mailbox
        log.error("message UID %d left in place: processing failed (%s)", uid,
                  type(outcome).__name__)
    tally.unreadable += 1
    return None
