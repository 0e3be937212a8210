"""A real IMAP server for the intake tests: a private Dovecot (Debian's `dovecot-imapd`, which
`.ci/install` installs), started by the test with a configuration of its own, on free loopback
ports, holding one mailbox in a maildir of its own.

    with Dovecot() as server:             # or the `dovecot` fixture
        server.append(raw)                # through IMAP, as a delivery would
        server.fill(messages)             # straight into the maildir, for many at once
        server.contents("INBOX")          # [(flags, bytes), ...], read with BODY.PEEK

It listens twice: `port` speaks TLS from the first byte (IMAPS), `plain_port` plain IMAP that
offers STARTTLS (and refuses a login before it: Dovecot's disable_plaintext_auth). The
certificate is self-signed for localhost and 127.0.0.1, made by the test; `ca_file` is that
certificate, which a client must trust explicitly (the system's CAs refuse it).

Dovecot's quirks, met here and worked around:
- Everything (base_dir with its UNIX sockets, state_dir, the maildir, the log) lives in one
  short folder made with mkdtemp in /tmp, not in pytest's tmp_path: a UNIX socket's path must
  fit in 108 bytes, and pytest's paths, with the test's name in them, do not always.
- Run as root, Dovecot's processes drop to users of their own: `default_internal_user`
  (dovecot) and `default_login_user` (dovenull), both made by the Debian package. It refuses
  to give mail to uid 0 ("userdb returned 0 as uid"), so the mailbox belongs to the `dovecot`
  user (mail_uid/mail_gid, first_valid_uid lowered to let a system user's uid through); the
  maildir is chowned to it and its folder made traversable (0755), and anything written into
  the maildir directly (`fill`) is chowned too. Run as any other user, every one of those is
  that user, and the login process is not chrooted (only root can chroot), as Dovecot's
  documentation on running unprivileged says; the tests have only been run as root.
- The system's own Dovecot service is never needed: this instance reads only its own
  configuration (`dovecot -F -c FILE`) and stops with the fixture (SIGTERM to the master,
  which ends its children).
- A refused login waits `auth_failure_delay` (2 s by default) before answering; it is 0 here.
- The hierarchy separator of a maildir (Maildir++) is ".", and a folder name with "/" is
  refused: a client must ask for the separator (LIST "" "") rather than assume one.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from tests.smtp_server import free_port, self_signed
from tests.waiting import SAFETY, wait_for

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER = "bulletin"
PASSWORD = "imap-secret-Zq7"


class Dovecot:
    """A private Dovecot with one user (USER, PASSWORD) and a maildir of its own."""

    def __init__(self) -> None:
        if not os.path.exists(DOVECOT):
            pytest.fail("Dovecot is not installed (/usr/sbin/dovecot); run `bash .ci/install`, "
                        "which installs Debian's dovecot-imapd", pytrace=False)
        self.root = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self.root.chmod(0o755)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.plain_port = free_port()
        self.user, self.password = USER, PASSWORD
        self.ca_file, key = self_signed(self.root)
        self.maildir = self.root / "mail" / USER
        self.log = self.root / "dovecot.log"
        self._process: subprocess.Popen[bytes] | None = None
        if os.getuid() == 0:
            owner = pwd.getpwnam("dovecot")
            self.uid, self.gid = owner.pw_uid, owner.pw_gid
            users = ("default_internal_user = dovecot\ndefault_login_user = dovenull\n"
                     "mail_uid = dovecot\nmail_gid = dovecot\n")
            chroot = ""
        else:
            me = pwd.getpwuid(os.getuid())
            self.uid, self.gid = me.pw_uid, me.pw_gid
            users = (f"default_internal_user = {me.pw_name}\n"
                     f"default_login_user = {me.pw_name}\n")
            chroot = "  chroot =\n"
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        for folder in ("mail", "home"):
            (self.root / folder).mkdir()
            os.chown(self.root / folder, self.uid, self.gid)
        self.config = self.root / "dovecot.conf"
        self.config.write_text(f"""\
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.log}
protocols = imap
listen = 127.0.0.1
{users}first_valid_uid = 1
auth_failure_delay = 0
ssl = yes
ssl_cert = <{self.ca_file}
ssl_key = <{key}
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.root}/passwd
}}
userdb {{
  driver = static
  args = home={self.root}/home/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {self.plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
{chroot}}}
""")

    def __enter__(self) -> Dovecot:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)],
                                             stdout=log, stderr=log)

        def greeted() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise AssertionError(f"Dovecot exited ({self._process.returncode}): "
                                     f"{self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection((self.host, self.plain_port), timeout=SAFETY) \
                        as plain:
                    if not plain.recv(200).startswith(b"* OK"):
                        return False
                with self.session():
                    return True
            except OSError:
                return False

        wait_for(greeted, "Dovecot to greet on its ports", interval=0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(SAFETY)
            self._process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in connection of the test's own (not the code under test's)."""
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.tls(),
                                   timeout=SAFETY)
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        with self.session() as client:
            typ, data = client.append(folder, "", None, raw)
            assert typ == "OK", data

    def fill(self, messages: Iterable[bytes]) -> int:
        """Write messages straight into the INBOX's maildir (new/), as a delivery agent
        does; Dovecot finds them at the next look. Returns how many."""
        for part in ("new", "cur", "tmp"):
            (self.maildir / part).mkdir(parents=True, exist_ok=True)
            os.chown(self.maildir / part, self.uid, self.gid)
        os.chown(self.maildir, self.uid, self.gid)
        stamp, count = int(time.time()), 0
        for count, raw in enumerate(messages, 1):
            name = f"{stamp}.M{count}P{os.getpid()}.bulletin-test"
            staged = self.maildir / "tmp" / name
            staged.write_bytes(raw)
            os.chown(staged, self.uid, self.gid)
            staged.rename(self.maildir / "new" / name)
        return count

    def folders(self) -> list[str]:
        with self.session() as client:
            typ, data = client.list()
        assert typ == "OK", data
        names = []
        for line in data:
            assert isinstance(line, bytes)
            match = re.match(rb'\((?P<flags>[^)]*)\) (?:NIL|"(?:\\.|[^"])*") (?P<name>.*)$',
                             line)
            assert match is not None, line
            names.append(match["name"].decode().strip('"'))
        return sorted(names)

    def contents(self, folder: str = "INBOX") -> list[tuple[set[str], bytes]]:
        """Each message of `folder` in UID order: its flags and its bytes, read without
        marking it seen."""
        found: list[tuple[set[str], bytes]] = []
        with self.session() as client:
            typ, data = client.select(f'"{folder}"', readonly=True)
            assert typ == "OK", data
            typ, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
            assert typ == "OK", data
            for item in data:
                if isinstance(item, tuple):
                    flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
                    assert flags is not None, item[0]
                    found.append((set(flags.group(1).decode().split()), item[1]))
        return found


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with Dovecot() as server:
        yield server
