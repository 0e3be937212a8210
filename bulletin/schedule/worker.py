"""The scheduled sends run beside `bulletin serve`: a thread that looks at the waiting
schedules every CYCLE seconds (and wakes for the soonest one), claims each that is due with
the store's conditional UPDATE, so that two services on one database never start one
schedule twice, and runs it on a thread of its own (a schedule due during another's long
send starts at its time); one that is more than its grace period late (the service was
down) is marked missed and logged, never sent by itself.

A schedule left running by a service of this machine that was killed (its pid gone, or this
very pid, reused: a container's restarted service is PID 1 again), or by any service whose
lease ran out (it renews a heartbeat on the row while it sends; none for timing.LEASE: killed
on another host), is marked stopped (the send resumes with `bulletin send`, never by itself).
Failures of a look (the store gone) are logged in one line and tried again next cycle."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

from ..background import Loop
from ..store.schedules import RUNNING, WAITING, ScheduleRecord
from ..store.store import Store
from . import jobs, timing

log = logging.getLogger("bulletin.schedule")

CYCLE = 5.0
"""Seconds between looks (one indexed SELECT each): a new schedule is seen within this; one
already seen starts at its time (the worker wakes for it). A cancel is the store's at once."""


class Scheduler(Loop):
    """Runs `store`'s due schedules between `start()` and `stop()`."""

    def __init__(self, store: Store, config: Path | None, cycle: float = CYCLE) -> None:
        self.store = store
        self.config = config
        self.cycle = cycle
        self.name = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        """This service, as its claims name it."""
        self.looks = 0
        self.up_since: datetime | None = None
        """Since when this service has looked without a failure: a schedule due after that
        was due while it ran (busy with another send, say), and is not missed."""
        super().__init__("bulletin-schedule")
        self._sends: list[threading.Thread] = []
        self._mine: dict[int, threading.Thread] = {}
        """The schedules this service is sending, whose leases its looks renew."""

    def stop(self) -> None:
        """Ends the loop; a send under way stops at its next look (resumable)."""
        super().stop()
        self.wait_for_sends()

    def wait_for_sends(self) -> None:
        """Returns when the sends this service started have ended."""
        for thread in list(self._sends):
            thread.join()
        self._sends = [thread for thread in self._sends if thread.is_alive()]

    def step(self) -> float:
        return self.look()

    def look(self, now: datetime | None = None) -> float:
        """One look: mark the missed, run the due; the seconds until the next look."""
        try:
            self._renew(now)
            self._settle_dead(now)
            waiting = self.store.schedules.all(statuses=(WAITING,))
            if self.up_since is None:
                self.up_since = now or datetime.now(UTC)
            for record in waiting:
                if self._stopping.is_set():
                    break
                when = timing.due(record.at, now or datetime.now(UTC), record.grace,
                                  self.up_since)
                if when is timing.Due.MISSED and self.store.schedules.miss(record.id):
                    log.warning("schedule #%d (%s to %s at %s) missed: more than %d minutes "
                                "late; not sent; `bulletin send %s --list %s` sends it now",
                                record.id, record.issue, record.list_name, record.shown,
                                record.grace, record.path, record.list_name)
                elif when is timing.Due.START and self.store.schedules.claim(record.id,
                                                                             self.name):
                    log.info("schedule #%d (%s to %s at %s): starting", record.id,
                             record.issue, record.list_name, record.shown)
                    self._send(record)
            left = self.store.schedules.all(statuses=(WAITING,))
            return timing.sleep_for([r.at for r in left], now or datetime.now(UTC),
                                    self.cycle)
        except Exception as exc:  # the service goes on; the next look tries again
            self.up_since = None  # not looking meanwhile: what falls due now may be missed
            log.error("scheduled sends: the look failed (%s: %s; tried again in %g s)",
                      type(exc).__name__, " ".join(str(exc).split())[:200], self.cycle)
            return self.cycle
        finally:
            self.looks += 1

    def _send(self, record: ScheduleRecord) -> None:
        thread = threading.Thread(target=jobs.run, name=f"bulletin-schedule-{record.id}",
                                  args=(self.store, record, self.config, self._stopping.is_set),
                                  kwargs={"worker": self.name}, daemon=True)
        self._mine[record.id] = thread
        self._sends = [send for send in self._sends if send.is_alive()] + [thread]
        thread.start()

    def _renew(self, now: datetime | None) -> None:
        """Renew the lease of each schedule this service is still sending (a send stuck
        on a slow relay reports no progress, yet its service is alive)."""
        self._mine = {number: thread for number, thread in self._mine.items()
                      if thread.is_alive()}
        for number in self._mine:
            self.store.schedules.beat(number, self.name, now)

    def _settle_dead(self, now: datetime | None = None) -> None:
        """A schedule left running by a service that is gone (killed mid-send: its pid gone
        on this machine, or its lease run out on any) is marked stopped, with how to resume
        it; another service never sends it by itself."""
        host = socket.gethostname()
        for record in self.store.schedules.all(statuses=(RUNNING,)):
            if record.claimed_by == self.name:
                continue
            where, _, rest = (record.claimed_by or "").partition(":")
            pid = rest.partition(":")[0]
            resume = f"`bulletin send {record.path} --list {record.list_name}` resumes it"
            if where == host and pid.isdigit() and (
                    not _alive(int(pid))  # killed; or this pid's earlier life (a container's 1)
                    or int(pid) == os.getpid()):
                self.store.schedules.finish(
                    record.id, jobs.STOPPED, f"the service sending it ({record.claimed_by}) "
                    f"stopped; {resume}")
            elif not timing.lease_expired(record.claimed_at, record.heartbeat_at,
                                          now or datetime.now(UTC)) \
                    or not self.store.schedules.expire(
                        record, jobs.STOPPED, f"the service sending it ({record.claimed_by}) "
                        f"has not renewed its lease for over {timing.LEASE.seconds // 60} "
                        f"minutes (stopped, or cut off); {resume}"):
                continue
            log.warning("schedule #%d: its service (%s) is gone; marked stopped",
                        record.id, record.claimed_by)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
