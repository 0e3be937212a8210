"""A real MTA for the intake tests: a private Postfix (Debian's `postfix`, which `.ci/install`
installs), started by the test with a configuration folder, queue and ports of its own, so
that the bounces the tests process are written by Postfix itself.

    with Postfix(relay_port=server.port, domain="example.gov.wales",
                 maildir=dovecot.maildir, uid=dovecot.uid, gid=dovecot.gid) as postfix:
        ...                               # send through 127.0.0.1:postfix.port
        postfix.wait_until_empty()        # everything delivered, bounced, bounces delivered
        postfix.queue()                   # `postqueue -j`: what is still queued, and why

It takes mail from 127.0.0.1 on `port` (smtpd) and relays it to `[127.0.0.1]:relay_port`
(`relayhost`), a test server that may refuse recipients: a refusal (5xx at RCPT) after
Postfix has taken the message makes Postfix write a delivery status notification (RFC 3464)
to the message's envelope sender. Mail to `domain` (the VERP addresses, LOCAL+TOKEN@domain)
is not relayed: Postfix's virtual(8) delivers it into the Maildir `maildir`, owned by
uid:gid, as a mail server in front of an IMAP server does; Dovecot (tests/imap_server.py)
serves that maildir, and `bulletin bounces fetch` reads it.

Why a maildir read over IMAP and not a pipe(8) to `bulletin bounces receive`: pipe(8) runs
its command as an unprivileged user (never root, never mail_owner), and on the test machine
Python and bulletin live under /root (mode 0700), which no other user can reach. Delivering to
the maildir needs no permission beyond the maildir's owner, and it is the setup the issue is
judged with (real Postfix and real Dovecot).

Postfix's quirks, met here and worked around:
- Run as root (the tests are), `postfix -c CONFDIR start` starts the master with only that
  configuration: main.cf and master.cf are written by the fixture, queue_directory and
  data_directory are in one short folder of its own (mkdtemp in /tmp, 0755). The system's
  /etc/postfix has no main.cf ("No configuration") and is not read, except postfix-files in
  meta_directory, from which `postfix check` (run by `start`) creates the queue's
  subfolders with the owners it lists: the queue folder must exist (made here, root's,
  0755), its subfolders are mail_owner's (`postfix`), maildrop and public of group
  `postdrop` (setgid_group), both users made by the Debian package. `postfix -c CONFDIR
  set-permissions` is not needed for a folder that is new each time.
- Every service runs without chroot ("n" in master.cf's chroot column; Debian's own master.cf
  chroots most of them into the queue folder, which would then need copies of /etc files).
  master.cf is the short list of services that relaying, bouncing and the queue listing need;
  smtpd listens on 127.0.0.1:PORT only (inet_interfaces = 127.0.0.1, inet_protocols = ipv4).
- compatibility_level is set to the current level, else Postfix logs a warning for every
  default that changed since 2.x; smtputf8_enable = no (the relay need not announce it).
- No syslog in a container: the log goes to maillog_file through postlogd (the postlog
  service), and only into a folder named in maillog_file_prefixes (by default /var and
  /dev/stdout), which the fixture sets to its own folder. `log()` reads it.
- No DNS: the relay is a bracketed address, smtpd does not look up its clients' names
  (smtpd_peername_lookup = no), and the smtp client resolves with the system's resolver.
- virtual(8) refuses to deliver as a uid under virtual_minimum_uid (100 by default); the
  maildir's owner is a system user (Dovecot's, uid 111 here, under 100 elsewhere), so it
  is lowered to 1. The maildir's parent
  must be writable by uid (Dovecot's fixture chowns it). A domain delivered by virtual(8) must
  not be in mydestination as well: mydestination is empty, myhostname and mydomain name a
  host in the bounce domain (the DSN's Reporting-MTA and its From: MAILER-DAEMON@myhostname).
- A hard refusal bounces at once; nothing waits on a timer (a 4xx would wait for
  minimal_backoff_time and the queue's lifetime, so the tests keep to hard bounces). The queue
  is empty once every message is delivered or bounced and every bounce delivered: that is the
  progress the tests wait for (`wait_until_empty`), and a deferred message (something went
  wrong) makes the wait fail at once with Postfix's reason instead of waiting out the safety
  net. (`postqueue -c CONFDIR -f` would retry deferred mail at once, for a test of soft
  bounces; none needs it yet.)
- `postfix stop` signals the master and need not wait for it to exit; the fixture waits
  until `postfix status` says it is not running, then removes the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.smtp_server import free_port
from tests.waiting import SAFETY, wait_for

SBIN = "/usr/sbin"
POSTFIX = shutil.which("postfix") or f"{SBIN}/postfix"
POSTQUEUE = shutil.which("postqueue") or f"{SBIN}/postqueue"
POSTCONF = shutil.which("postconf") or f"{SBIN}/postconf"

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
127.0.0.1:{port} inet n      -       n       -       -       smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix relaying to 127.0.0.1:`relay_port` and delivering mail for `domain`
    into `maildir` as uid:gid."""

    def __init__(self, *, relay_port: int, domain: str, maildir: Path, uid: int,
                 gid: int) -> None:
        for program in (POSTFIX, POSTQUEUE, POSTCONF):
            if not os.access(program, os.X_OK):
                pytest.fail(f"{program} is missing: run `bash .ci/install`, which installs "
                            f"Debian's postfix", pytrace=False)
        if os.geteuid() != 0:
            pytest.fail("the private Postfix needs root (its master starts as root and its "
                        "services drop to the postfix user)", pytrace=False)
        self.root = Path(tempfile.mkdtemp(prefix="postfix-"))
        self.root.chmod(0o755)
        self.config = self.root / "etc"
        self.config.mkdir()
        (self.root / "queue").mkdir(mode=0o755)  # Postfix makes what is inside
        self.maillog = self.root / "log" / "maillog"
        self.maillog.parent.mkdir()
        self.port = free_port()
        self.domain = domain
        self.hostname = f"mx.{domain}"
        level = subprocess.run([POSTCONF, "-dh", "mail_version"], capture_output=True,
                               text=True, check=True).stdout.strip()
        (self.config / "master.cf").write_text(MASTER_CF.format(port=self.port))
        (self.config / "main.cf").write_text(f"""\
compatibility_level = {level}
queue_directory = {self.root}/queue
data_directory = {self.root}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {self.maillog}
maillog_file_prefixes = {self.root}
myhostname = {self.hostname}
mydomain = {domain}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtputf8_enable = no
biff = no
alias_maps =
alias_database =
local_recipient_maps =
relayhost = [127.0.0.1]:{relay_port}
smtp_host_lookup = native
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {maildir.parent}
virtual_mailbox_maps = static:{maildir.name}/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_minimum_uid = 1
""")

    def _postfix(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([POSTFIX, "-c", str(self.config), *command],
                              capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"postfix {' '.join(command)} failed ({done.returncode}): "
                                 f"{done.stderr.strip()}\n{self.log()[-3000:]}")
        return done

    def __enter__(self) -> Postfix:
        def greeted() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=SAFETY) as s:
                    return s.recv(200).startswith(b"220")
            except OSError:
                return False

        try:
            self._postfix("check")
            self._postfix("start")
            wait_for(greeted, "Postfix's smtpd to greet", interval=0.02)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._postfix("stop", check=False)
        wait_for(lambda: self._postfix("status", check=False).returncode != 0,
                 "Postfix's master to stop", interval=0.02)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def queue(self) -> list[dict[str, Any]]:
        """What is queued (`postqueue -j`, one JSON object a message: queue_name, sender,
        recipients with their delay_reason...)."""
        done = subprocess.run([POSTQUEUE, "-c", str(self.config), "-j"], capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]

    def wait_until_empty(self) -> None:
        """Until nothing is queued: every message delivered or bounced, every bounce
        delivered. A deferred message fails the test at once, with Postfix's reason.

        Empty twice in a row, not once: showq lists the queue folder by folder (incoming,
        then active), and a bounce is created in incoming just before its original leaves
        active; a listing that reads incoming before the bounce arrives and active after the
        original left sees neither. The next listing sees the bounce, unless it is already
        delivered, and delivering a bounce makes nothing new (a bounce that cannot be
        delivered is deferred, which fails the wait)."""

        looks: list[bool] = []

        def empty() -> bool:
            queued = self.queue()
            deferred = [(m.get("sender"), r.get("address"), r.get("delay_reason"))
                        for m in queued if m.get("queue_name") == "deferred"
                        for r in m.get("recipients", [])]
            if deferred:
                raise AssertionError(f"Postfix deferred mail: {deferred}\n{self.log()[-3000:]}")
            looks.append(not queued)
            return looks[-2:] == [True, True]

        wait_for(empty, "Postfix's queue to empty", interval=0.05)
