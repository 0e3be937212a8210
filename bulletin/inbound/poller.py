"""The bounce mailbox read every few minutes, for `bulletin serve`: one pass of the IMAP
intake (bulletin.inbound.mailbox.fetch) at start and then every `every` seconds, in a thread
of its own, so that a slow mailbox (ten thousand bounces, a server that does not answer)
never holds up the service's event loop.

A pass that fails (the server unreachable, the login refused, the store gone) is logged in
one line and tried again at the next interval; nothing is lost, since a message leaves the
folder only once it is processed. The log names the mailbox (host and account), never the
password, and no subscriber's address. Mail found not to be ours is remembered by
(UIDVALIDITY, UID) for the poller's life, so it is not fetched again every few minutes."""

from __future__ import annotations

import logging

from ..background import Loop
from ..errors import TokenError
from ..store.errors import StoreError
from .imap import Account, MailboxError
from .mailbox import Handler, Many, Tally, fetch

log = logging.getLogger("bulletin.inbound")


class Poller(Loop):
    """Reads `folder` of `account` every `every` seconds between `start()` and `stop()`."""

    def __init__(self, account: Account, folder: str, processed_folder: str, handle: Handler,
                 every: float, many: Many | None = None) -> None:
        self.account = account
        self.many = many
        """Processes each batch in one transaction (mailbox.fetch's `many`)."""
        self.folder = folder
        self.processed_folder = processed_folder
        self.handle = handle
        self.every = every
        self.passes = 0
        """Passes done, whether they succeeded or not."""
        self.last: Tally | None = None
        """What the last pass that succeeded did."""
        self._skip: set[tuple[int, int]] = set()
        super().__init__("bulletin-inbound")

    def step(self) -> float:
        """One pass; a stop ends a pass under way after its current batch of messages."""
        self.poll()
        return self.every

    def poll(self) -> None:
        """One pass over the mailbox; failures are logged, never raised."""
        where = f"{self.account.username} at {self.account.where}"
        again = f"tried again in {self.every / 60:g} minutes"
        try:
            tally = fetch(self.account, self.folder, self.processed_folder, self.handle,
                          skip=self._skip, stop=self._stopping.is_set, many=self.many)
        except MailboxError as exc:
            log.error("bounce mailbox not read: %s (%s)", exc, again)
        except StoreError as exc:
            log.error("bounce mailbox %s not processed: the store is unavailable (%s; %s)",
                      where, type(exc).__name__, again)
        except TokenError:
            log.error("bounce mailbox %s not processed: BULLETIN_SECRET_KEY is not usable "
                      "(%s)", where, again)
        except Exception as exc:  # the service goes on; the next pass tries again
            log.error("bounce mailbox %s: the pass failed (%s; %s)", where,
                      type(exc).__name__, again)
        else:
            self.last = tally
            if tally.processed or tally.unreadable:
                log.info("bounce mailbox %s: %s", where, tally.line())
        finally:
            self.passes += 1
