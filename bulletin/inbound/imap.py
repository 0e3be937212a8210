"""The IMAP client of the bounce mailbox: connect over TLS (IMAPS, or STARTTLS before
anything else), log in, select a folder, list its messages, fetch their bytes without marking
them read, and move messages to another folder. No classification here: what to do with a
message is decided by the caller (bulletin.inbound.mailbox).

Python's imaplib (the standard library's, kept with Python) does the protocol; this module adds
what it leaves to its caller: quoting and modified UTF-7 (RFC 3501 5.1.3) for folder names,
the server's own hierarchy separator (a maildir's is ".", and Dovecot refuses a "/" in a
name there), reading the capabilities again after the login (servers announce MOVE and
UIDPLUS only then), and errors that say what to fix, never carrying the password.

Moving: MOVE (RFC 6851) when the server has it; else COPY, then \\Deleted on those UIDs and
UID EXPUNGE of exactly those (UIDPLUS, RFC 4315). A server with neither keeps them marked
\\Deleted (a plain EXPUNGE would also remove what someone else marked), and `uids()` passes
over deleted messages, so they are not read twice."""

from __future__ import annotations

import base64
import contextlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import BulletinError


class MailboxError(BulletinError):
    """The mailbox cannot be read: unreachable, TLS refused or untrusted, the login refused,
    a folder missing, the connection lost. Never carries the password."""


@dataclass(frozen=True)
class Account:
    host: str
    port: int
    security: str
    """"tls" (TLS from the first byte) or "starttls"."""
    username: str
    password: str
    ca_file: Path | None = None
    timeout: float = 60.0

    def __repr__(self) -> str:  # never the password
        return f"Account({self.username!r} at {self.host}:{self.port}, {self.security})"

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def utf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = base64.b64encode("".join(pending).encode("utf-16-be")).rstrip(b"=")
            out.append("&" + data.replace(b"/", b",").decode("ascii") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def quoted(name: str) -> str:
    """A folder name as an IMAP quoted string."""
    return '"' + utf7(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def sequence(uids: Iterable[int]) -> str:
    """UIDs as an IMAP sequence set, runs written as ranges: 1:4,7,9:10."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    if not ordered:
        return ""
    start = previous = ordered[0]
    for uid in [*ordered[1:], 0]:
        if uid == previous + 1:
            previous = uid
            continue
        parts.append(str(start) if start == previous else f"{start}:{previous}")
        start = previous = uid
    return ",".join(parts)


def _text(data: Sequence[object]) -> str:
    """The server's words in a response, for an error message."""
    for item in data:
        if isinstance(item, bytes):
            return item.decode("utf-8", "replace").strip()
    return "no reason given"


class Mailbox:
    """One logged-in connection to the bounce mailbox. Use `Mailbox.open(account)` in a with
    statement; `select` a folder before listing, fetching or moving."""

    def __init__(self, client: imaplib.IMAP4, account: Account) -> None:
        self._client = client
        self.account = account
        self.capabilities: frozenset[str] = frozenset()
        self.separator: str | None = None
        self.uidvalidity = 0
        self._known: set[str] = set()

    @classmethod
    def open(cls, account: Account) -> Mailbox:
        context = ssl.create_default_context(
            cafile=str(account.ca_file) if account.ca_file else None)
        where = account.where
        try:
            if account.security == "tls":
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    account.host, account.port, ssl_context=context, timeout=account.timeout)
            else:
                client = imaplib.IMAP4(account.host, account.port, timeout=account.timeout)
                if "STARTTLS" not in client.capabilities:
                    client.shutdown()
                    raise MailboxError(f"the mailbox server {where} does not offer STARTTLS; "
                                       f"set inbound.security = \"tls\" (and its port, "
                                       f"usually 993) in bulletin.toml")
                client.starttls(context)
        except ssl.SSLCertVerificationError as exc:
            raise MailboxError(f"the mailbox server {where} has a certificate that is not "
                               f"trusted ({exc.verify_message}); set inbound.ca_file to its "
                               f"CA certificate, or give the server a trusted one") from None
        except ssl.SSLError as exc:
            raise MailboxError(f"TLS with the mailbox server {where} failed "
                               f"({exc.reason or exc}); check inbound.port and "
                               f"inbound.security") from None
        except (socket.gaierror, OSError) as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise MailboxError(f"cannot reach the mailbox server {where} ({reason}); check "
                               f"inbound.host and inbound.port in bulletin.toml") from None
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"the mailbox server {where} did not speak IMAP as expected "
                               f"({exc}); check inbound.port and inbound.security") from None
        mailbox = cls(client, account)
        try:
            mailbox._login()
        except BaseException:
            mailbox.close()
            raise
        return mailbox

    def _login(self) -> None:
        account, client = self.account, self._client
        try:
            try:
                client.login(account.username, account.password)
            except UnicodeEncodeError:  # LOGIN takes ASCII only; AUTHENTICATE PLAIN, UTF-8
                client.authenticate("PLAIN", lambda _: (
                    f"\0{account.username}\0{account.password}".encode()))
        except imaplib.IMAP4.abort as exc:
            raise self._lost(exc) from None
        except imaplib.IMAP4.error as exc:
            reason = str(exc).removeprefix("b'").removeprefix('b"').rstrip("'\"")
            reason = reason.replace(account.password, "...") if account.password else reason
            raise MailboxError(f"the mailbox server {account.where} refused the login of "
                               f"'{account.username}' ({reason}); check inbound.username in "
                               f"bulletin.toml and BULLETIN_IMAP_PASSWORD") from None
        except OSError as exc:
            raise self._lost(exc) from None
        typ, data = self._run(client.capability)
        words = _text(data).upper().split() if typ == "OK" else []
        self.capabilities = frozenset(words) or frozenset(client.capabilities)
        typ, data = self._run(client.list, '""', '""')
        match = re.match(rb'\([^)]*\) (?:NIL|"((?:\\.|[^"])*)")', data[0] or b"") \
            if typ == "OK" and data and isinstance(data[0], bytes) else None
        self.separator = match.group(1).decode().replace("\\", "") or None \
            if match and match.group(1) else None

    def _lost(self, exc: BaseException) -> MailboxError:
        return MailboxError(f"the connection to the mailbox server {self.account.where} was "
                            f"lost ({exc or type(exc).__name__}); nothing is lost, run again")

    def _run(self, command: Callable[..., tuple[str, list[Any]]], *args: str
             ) -> tuple[str, list[bytes | None]]:
        """An imaplib command's status and data; a lost connection is a MailboxError."""
        try:
            typ, data = command(*args)
        except imaplib.IMAP4.abort as exc:
            raise self._lost(exc) from None
        except OSError as exc:
            raise self._lost(exc) from None
        except imaplib.IMAP4.error as exc:
            return "BAD", [str(exc).encode()]
        return typ, list(data)

    def _uid(self, command: str, *args: str) -> list[bytes | tuple[bytes, bytes] | None]:
        try:
            typ, data = self._client.uid(command, *args)
        except imaplib.IMAP4.abort as exc:
            raise self._lost(exc) from None
        except OSError as exc:
            raise self._lost(exc) from None
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"the mailbox server {self.account.where} refused UID "
                               f"{command} ({exc})") from None
        if typ != "OK":
            raise MailboxError(f"the mailbox server {self.account.where} refused UID "
                               f"{command} ({_text(data)})")
        return list(data)

    def name(self, folder: str) -> str:
        """A folder as the server writes it: "/" between levels becomes its separator."""
        if self.separator and self.separator != "/":
            folder = folder.replace("/", self.separator)
        return quoted(folder)

    def select(self, folder: str) -> int:
        """Open `folder` for reading and moving; returns how many messages it holds."""
        try:
            typ, data = self._client.select(self.name(folder))
        except imaplib.IMAP4.abort as exc:
            raise self._lost(exc) from None
        except OSError as exc:
            raise self._lost(exc) from None
        if typ != "OK":
            raise MailboxError(f"the mailbox {self.account.username} at {self.account.where} "
                               f"has no folder '{folder}' to read ({_text(data)}); check "
                               f"inbound.folder in bulletin.toml")
        validity = self._client.response("UIDVALIDITY")[1]
        self.uidvalidity = int(validity[0]) if validity and validity[0] else 0
        return int(data[0] or 0) if data and isinstance(data[0], bytes) else 0

    def uids(self) -> list[int]:
        """The UIDs of the selected folder's messages, oldest first, but those marked
        deleted."""
        data = self._uid("SEARCH", "UNDELETED")
        words = b" ".join(item for item in data if isinstance(item, bytes)).split()
        return sorted(int(word) for word in words if word.isdigit())

    def sizes(self, uids: Iterable[int]) -> dict[int, int]:
        """Each message's size in bytes (RFC822.SIZE), by UID."""
        wanted = sequence(uids)
        if not wanted:
            return {}
        found = {}
        for item in self._uid("FETCH", wanted, "(UID RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            uid = re.search(rb"UID (\d+)", line or b"")
            size = re.search(rb"RFC822\.SIZE (\d+)", line or b"")
            if uid and size:
                found[int(uid.group(1))] = int(size.group(1))
        return found

    def fetch(self, uids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """Each message's UID and bytes (BODY.PEEK[]: it stays unread). A message expunged
        meanwhile by someone else is simply not among them."""
        wanted = sorted(set(uids))
        if not wanted:
            return
        data = self._uid("FETCH", sequence(wanted), "(UID BODY.PEEK[])")
        for index, item in enumerate(data):
            if not isinstance(item, tuple):
                continue
            found = re.search(rb"UID (\d+)", item[0])
            if found is None and index + 1 < len(data):  # the UID after the body
                after = data[index + 1]
                found = re.search(rb"UID (\d+)", after) if isinstance(after, bytes) else None
            if found is not None:
                yield int(found.group(1)), item[1]

    def ensure(self, folder: str) -> None:
        """Make `folder` (and the levels above it) unless it exists, and subscribe to it so
        that mail programs show it."""
        if folder in self._known:
            return
        typ, data = self._run(self._client.list, '""', self.name(folder))
        if not (typ == "OK" and any(data)):
            typ, data = self._run(self._client.create, self.name(folder))
            if typ != "OK":
                raise MailboxError(f"the mailbox server {self.account.where} would not make "
                                   f"the folder '{folder}' ({_text(data)}); check "
                                   f"inbound.processed_folder in bulletin.toml")
            self._run(self._client.subscribe, self.name(folder))
        self._known.add(folder)

    def move(self, uids: Iterable[int], folder: str, *, use_move: bool = True) -> None:
        """Move these messages of the selected folder to `folder` (made if missing); no
        other message is touched."""
        wanted = sequence(uids)
        if not wanted:
            return
        self.ensure(folder)
        target = self.name(folder)
        if use_move and "MOVE" in self.capabilities:
            self._uid("MOVE", wanted, target)
            return
        self._uid("COPY", wanted, target)
        self._uid("STORE", wanted, "+FLAGS.SILENT", "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            self._uid("EXPUNGE", wanted)

    def close(self) -> None:
        try:
            self._client.logout()  # not CLOSE, which expunges what others marked deleted
        except (imaplib.IMAP4.error, OSError):
            with contextlib.suppress(OSError):
                self._client.shutdown()

    def __enter__(self) -> Mailbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
