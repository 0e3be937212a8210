"""The send journal: which claimed messages a sender handed to the SMTP server, and what came
back, kept in a local file so that it outlives the sending process.

Why it exists: a claimed ledger row is `sending` from its claim until its outcome is
recorded, and a sender killed in between (SIGKILL, the OOM killer, a power cut of the
process) leaves every claimed row uncertain, though most were never written to a socket.
The journal narrows that to the truth. Before the end of a message's data is written, the
sender appends `H <id>`; when its reply comes, `A <id> <state> <reply>`. A write(2) to a file
opened for appending: a system call, no database round trip, and the kernel keeps it when the
process dies. Answers wait (`answered`) to go out together: with the next `H` line, or at the
sender's next `flush` (the dispatcher's, once the replies read at one time are handled), so
that a busy sender writes once a message rather than twice. An answer not yet written when the
process dies leaves its message uncertain, just as a death before its reply was read would.
(A journal does not outlive the machine: its header names the boot it was written in, and one
from an earlier boot is not trusted.)

When the store is opened (`Store.open`), `recover` looks for journals whose sender is no
longer running (each holds an exclusive lock on its file while it lives) and settles that
sender's rows still `sending`: an answered message as answered; one handed over and not
answered stays `sending` (uncertain) with the reason in `last_reply`; one never handed over
goes back to `pending`, its attempt not counted, since it cannot have been sent. A row whose
run has no journal here (claimed on another machine, or before journals) is left as it is.

The same locks tell which senders are alive (`live_runs`): a run whose lock is held here is
still sending, and its rows are never taken for uncertain (store/outcomes.py states the rule).

Journals live beside a SQLite database (`bulletin.db.journal/`) or, for a server database,
under `$XDG_STATE_HOME/bulletin/journals/<hash of its URL>/`. A sender's journal is removed
when it finishes; while it runs it is started afresh (with what is still open) whenever it
has grown past `ROTATE_BYTES`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

MAGIC = "bulletin-journal 1"
_OPEN_HERE: set[str] = set()
"""The runs whose journal is open in this process: never dead, even where flock is emulated
with POSIX locks (NFS), which a process's own second lock does not conflict with."""
ROTATE_BYTES = 8 << 20
_STATES = frozenset({"sent", "failed", "pending", "unsent", "uncertain"})


def directory_for(url: str) -> Path | None:
    """Where the journals for the store at `url` live; None for an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return Path(database).resolve().with_name(Path(database).name + ".journal")
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    query = "&".join(f"{name}={value}" for name, value in sorted(parsed.query.items()))
    key = f"{parsed.get_backend_name()}://{parsed.username}@{parsed.host}:{parsed.port}/" \
        f"{parsed.database}?{query}"  # never the password; the options may name a schema
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
    return Path(state) / "bulletin" / "journals" / digest


def boot_id() -> str:
    """This boot of the machine (Linux), or "" where it cannot be told."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def _unescape(text: str) -> str:
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append({"n": "\n", "r": "\r"}.get(following, following))
        else:
            out.append(char)
    return "".join(out)


class Journal:
    """One sender run's journal. `handed` and `answered` are called once a message each,
    from the event loop's thread."""

    def __init__(self, directory: Path) -> None:
        self.run = uuid.uuid4().hex
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        # Locked before it has its name: another sender opening the store at this moment
        # (`dead_runs`) must never find this lock free and take this run for a dead one.
        creating = directory / f".{self.run}.lock.new"
        self._lock = os.open(creating, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC,
                             0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(creating, directory / f"{self.run}.lock")
        _OPEN_HERE.add(self.run)
        self._sequence = 0
        self._fd = -1
        self._size = 0
        self._answers: list[bytes] = []
        """Answers not yet written."""
        self._open_next([])

    def _path(self, sequence: int) -> Path:
        return self.directory / f"{self.run}.{sequence:06d}.log"

    def _open_next(self, carried: list[bytes]) -> None:
        """A new file for this run, starting with `carried` (what is still open), made
        durable (with its header) before the old one is removed."""
        old, new = (self._fd, self._path(self._sequence)), self._path(self._sequence + 1)
        fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        data = f"{MAGIC} {boot_id()} {os.getpid()}\n".encode() + b"".join(carried)
        try:  # if it cannot be made, the old one stays this run's journal
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            os.close(fd)
            new.unlink(missing_ok=True)
            raise
        _sync_directory(self.directory)
        self._sequence += 1
        self._fd, self._size = fd, len(data)
        if old[0] >= 0:
            os.close(old[0])
            old[1].unlink(missing_ok=True)

    def handed(self, delivery_id: int) -> None:
        """The message of ledger row `delivery_id` is about to be taken by the server: written
        at once (with the answers waiting, before it), or OSError."""
        # The line goes only with them: if the write fails, they still wait and it does not.
        self._write(b"".join(self._answers) + b"H %d\n" % delivery_id)
        self._answers.clear()

    def answered(self, delivery_id: int, state: str, reply: str) -> None:
        """What became of it: sent, failed, pending (a temporary failure), unsent (never
        handed over) or uncertain. It waits to be written with the next `handed` or `flush`."""
        self._answers.append(_answer(delivery_id, state, reply))

    @property
    def waiting(self) -> bool:
        """Whether answers wait to be written."""
        return bool(self._answers)

    def flush(self) -> None:
        """Writes the answers that wait, in one write(2); OSError if it cannot."""
        if self._answers:
            self._write(b"".join(self._answers))
            self._answers.clear()

    def _write(self, data: bytes) -> None:
        """`data` whole or not at all. A short write (a file-size limit, a full disk) is
        followed by one for the rest, which either completes it or fails with the reason
        (EFBIG, ENOSPC); then what was written is taken back, so that no half line is left
        for a later line to run into."""
        try:
            _write_all(self._fd, data)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)

    @property
    def full(self) -> bool:
        return self._size >= ROTATE_BYTES

    def rotate(self, handed: Iterable[int], answered: Iterable[tuple[int, str, str]]) -> None:
        """Start a fresh file holding only what is still open: the messages `handed` and not
        answered, and the answers not yet recorded in the ledger (those waiting to be
        written among them: they are written there, not here). If the new file cannot be
        made (OSError), the old one stays this run's journal, the answers still waiting."""
        carried = [b"H %d\n" % delivery_id for delivery_id in handed]
        carried += [_answer(*answer) for answer in answered]
        self._open_next(carried)
        self._answers.clear()

    def close(self, *, remove: bool = True) -> None:
        """The run is over. With `remove` (everything it did is in the ledger) the journal
        goes; else it stays, unlocked, for `recover` to settle."""
        if self._fd < 0:
            return
        if not remove:
            with contextlib.suppress(OSError):  # best effort: else those stay uncertain
                self.flush()
        os.close(self._fd)
        self._fd = -1
        if remove:
            self._path(self._sequence).unlink(missing_ok=True)
            (self.directory / f"{self.run}.lock").unlink(missing_ok=True)
        os.close(self._lock)
        _OPEN_HERE.discard(self.run)


def _write_all(fd: int, data: bytes) -> None:
    """`data` to `fd`: after a short write (a file-size limit, a full disk), a write of the
    rest, which completes it or fails with the reason (EFBIG, ENOSPC)."""
    written = 0
    while written < len(data):
        done = os.write(fd, data[written:])
        if done <= 0:
            raise OSError(errno.EIO, "the send journal took no bytes")
        written += done


def _answer(delivery_id: int, state: str, reply: str) -> bytes:
    return f"A {delivery_id} {state} {_escape(reply)}\n".encode()


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass
class Record:
    """What a dead run's journal says."""

    run: str
    trusted: bool = True
    """False when it cannot be believed (another boot, a line that cannot be read): then
    nothing it claimed may be taken for not sent."""
    handed: set[int] = field(default_factory=set)
    answered: dict[int, tuple[str, str]] = field(default_factory=dict)


def read(run: str, paths: list[Path]) -> Record:
    record = Record(run)
    boot = boot_id()
    for path in sorted(paths):
        lines = path.read_bytes().split(b"\n")
        header = lines[0].decode("utf-8", "replace").split(" ")
        if " ".join(header[:2]) != MAGIC or len(header) < 3 or header[2] != boot:
            record.trusted = False
        for line in lines[1:]:
            if not line:
                continue
            kind, _, rest = line.decode("utf-8", "replace").partition(" ")
            try:
                if kind == "H":
                    record.handed.add(int(rest))
                    continue
                number, state, reply = [*rest.split(" ", 2), ""][:3]
                if kind != "A" or state not in _STATES:
                    raise ValueError(line)
                record.answered[int(number)] = (state, _unescape(reply))
            except ValueError:
                record.trusted = False
    return record


@contextlib.contextmanager
def dead_runs(directory: Path | None) -> Iterator[list[tuple[Record, list[Path]]]]:
    """The journals in `directory` whose sender has stopped (their lock is free), each with
    its files; the locks are held until the block ends, then the files should be removed by
    the caller."""
    found: list[tuple[Record, list[Path]]] = []
    held: list[int] = []
    try:
        if directory is not None and directory.is_dir():
            for lock in sorted(directory.glob("*.lock")):
                run = lock.stem
                if run in _OPEN_HERE:  # alive, whatever a lock emulated by NFS would say
                    continue
                try:
                    fd = os.open(lock, os.O_WRONLY | os.O_CLOEXEC)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:  # its sender is alive
                    os.close(fd)
                    continue
                held.append(fd)
                paths = sorted(directory.glob(f"{run}.*.log"))
                found.append((read(run, paths), [*paths, lock]))
        yield found
    finally:
        for fd in held:
            os.close(fd)


def live_runs(directory: Path | None) -> set[str]:
    """The runs whose sender is alive on this machine: those whose journal lock in
    `directory` is held (by another process, or by a journal open in this one)."""
    live: set[str] = set()
    if directory is None or not directory.is_dir():
        return live
    for lock in directory.glob("*.lock"):
        if lock.stem in _OPEN_HERE:
            live.add(lock.stem)
            continue
        try:
            fd = os.open(lock, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:  # its sender has just finished
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            live.add(lock.stem)
        finally:
            os.close(fd)  # a lock taken here goes with it
    return live
