"""How fast and how well inbound messages are classified, over the corpus in
tests/data/inbound (real bounces, complaints, auto-replies and ordinary mail with the
sources' published answers). Prints one table: messages classified per second, the share
with the right kind and the right recipient set, and the same for flufl.bounce (Mailman's
detectors) when it is installed, measured on the same files with the same answer key.

    python benchmarks/bounces.py [--seconds 3] [--imap 10000 | --imap 0] [--old-code DIR]

flufl.bounce only finds addresses (temporary or permanent); its kind is taken as hard for a
permanent failure, soft for a temporary one and not-bounce when it finds nothing.

Then the intake: an issue sent to N subscribers (`--imap N`, default 10,000; 0 leaves it out)
and a bounce of each message (a Postfix DSN quoting the message's headers, so traced by its
Message-ID to its ledger row), written straight into the maildir of a private Dovecot
(tests/imap_server.py, Debian's dovecot-imapd), and the time `bulletin bounces fetch` takes to
fetch, process (classify, attribute, record in a SQLite store) and move them all. The
command runs in a process of its own (its start-up not timed). With `--old-code DIR` (an
older checkout, e.g. `git worktree add /tmp/old COMMIT`), the same is timed with that code
too, in the same run, and both are printed side by side.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bulletin.inbound import classify

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "inbound"
Result = tuple[str, set[str]]


def ours(data: bytes) -> Result:
    got = classify(data)
    return got.kind, {a.lower() for a in got.recipients}


def flufl() -> Callable[[bytes], Result] | None:
    try:
        from flufl.bounce import all_failures  # type: ignore[import-not-found]
    except ImportError:
        return None

    def run(data: bytes) -> Result:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        try:
            temporary, permanent = all_failures(msg)
        except Exception:
            return "error", set()
        found = {a.decode("utf-8", "replace").lower() for a in temporary | permanent}
        kind = "hard" if permanent else "soft" if temporary else "not-bounce"
        return kind, found
    return run


def measure(name: str, run: Callable[[bytes], Result], files: dict[str, bytes],
            answers: dict[str, dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """One row for the whole corpus and one without flufl.bounce's own test messages (whose
    answer key is flufl.bounce's output, so it cannot miss there)."""
    results = {key: run(data) for key, data in files.items()}
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for data in files.values():
            run(data)
        done += len(files)
    rate = done / (time.perf_counter() - start)
    rows = []
    for subset, keep in (("all", lambda k: True),
                         ("not flufl's own", lambda k: not k.startswith("flufl-bounce/"))):
        chosen = {k: a for k, a in answers.items() if keep(k)}
        kind_ok = sum(results[k][0] in a["kind"] for k, a in chosen.items())
        scored = [k for k, a in chosen.items()
                  if a["recipients"] is not None or "recipients_count" in a]
        recipients_ok = sum(
            results[k][1] == {r.lower() for r in chosen[k]["recipients"]}
            if chosen[k]["recipients"] is not None
            else len(results[k][1]) == chosen[k]["recipients_count"] for k in scored)
        false_hard = sum(results[k][0] == "hard" for k, a in chosen.items()
                         if not {"hard", "soft"} & set(a["kind"]))
        rows.append({"classifier": name, "subset": subset, "messages": len(chosen),
                     "per_second": rate, "kind": kind_ok / len(chosen),
                     "recipients": recipients_ok / len(scored), "false_hard": false_hard})
    return rows


SENDER = "cohes3ion@example.gov.wales"  # the example newsletter's From (bulletin.toml)
SECRET = "k" * 32


def dsn(n: int, message_id: str = "") -> bytes:
    """A Postfix-style delivery status notification (RFC 3464) saying subscriber n's
    address does not exist, quoting the headers of the message to them."""
    recipient = f"reader{n}@example.org"
    quoted = f"Message-ID: {message_id}\r\n" if message_id else ""
    return (f"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
            f"To: news@example.gov.wales\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            f"Message-ID: <bounce-{n}@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
            f"Date: Mon, 07 Dec 2026 02:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n"
            f"\r\n--b\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you "
            f"that your message could not be delivered.\r\n\r\n<{recipient}>: host "
            f"mx.example.org said: 550 5.1.1 <{recipient}>: Recipient address rejected: User "
            f"unknown\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
            f"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; {recipient}"
            f"\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User "
            f"unknown\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: "
            f"{SENDER}\r\nTo: {recipient}\r\nSubject: Issue 4\r\n{quoted}\r\n--b--\r\n"
            ).encode()


PREPARE = """
import json, sys
from pathlib import Path
from bulletin.store import Store
from bulletin.store.outcomes import Outcome
url, csv = sys.argv[1], Path(sys.argv[2])
with Store.open(url) as store:
    store.create_list("cohes3ion", newsletter="cohes3ion")
    store.imports.import_csv(csv, "cohes3ion")
    store.ledger.create("cohes3ion/issue-4", "cohes3ion")
    rows = {}
    while claims := store.ledger.claim("cohes3ion/issue-4", 5000):
        store.ledger.record([Outcome(c.id, "sent", "250 2.0.0 Ok") for c in claims])
        rows.update({c.email: c.id for c in claims})
print(json.dumps(rows))
"""

FETCH = """
import json, sys, time
from bulletin.cli import app
start = time.perf_counter()
try:
    app(["bounces", "fetch", "--config", sys.argv[1]], standalone_mode=False)
finally:
    print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def run_code(code: Path, script: str, *args: str) -> str:
    """`script` run by Python with the bulletin package of `code` (a checkout)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=code, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{code}: failed: {done.stderr[-2000:]}{done.stdout[-500:]}")
    return done.stdout


def intake(count: int, code: Path) -> tuple[float, str]:
    """Seconds `bulletin bounces fetch` of the checkout `code` takes for the bounces of an
    issue sent to `count` subscribers, in a Dovecot mailbox; and its summary line."""
    from bulletin import links
    from bulletin.message import delivery_message_id
    from tests.imap_server import Dovecot

    with tempfile.TemporaryDirectory() as folder, Dovecot() as server:
        workspace = Path(folder)
        config = (ROOT / "bulletin.toml").read_text() + (
            f"\n[inbound]\nhost = \"{server.host}\"\nport = {server.port}\n"
            f"username = \"{server.user}\"\nca_file = \"{server.ca_file}\"\n")
        (workspace / "bulletin.toml").write_text(config)
        url = f"sqlite:///{workspace / 'bulletin.db'}"
        csv = workspace / "people.csv"
        csv.write_text("email\n" + "".join(f"reader{n}@example.org\n" for n in range(count)))
        rows = json.loads(run_code(code, PREPARE, url, str(csv)))
        key = SECRET.encode()
        server.fill(dsn(n, delivery_message_id(
            links.sign_delivery(rows[f"reader{n}@example.org"], key), "example.gov.wales"))
            for n in range(count))
        os.environ.update({"BULLETIN_DATABASE_URL": url, "BULLETIN_SECRET_KEY": SECRET,
                           "BULLETIN_IMAP_PASSWORD": server.password})
        lines = run_code(code, FETCH, str(workspace / "bulletin.toml")).strip().splitlines()
        return json.loads(lines[-1])["seconds"], " ".join(lines[:-1]).strip()


def imap_alone(count: int) -> float:
    """Seconds the IMAP side alone takes for `count` bounces (fetched and moved, nothing
    processed)."""
    from bulletin.inbound.imap import Account
    from bulletin.inbound.mailbox import fetch
    from tests.imap_server import Dovecot

    class Moved:  # what processing says of each message, without doing it
        kind, ours, duplicate = "hard", True, False

    with Dovecot() as server:
        server.fill(dsn(n) for n in range(count))
        start = time.perf_counter()
        fetch(Account(server.host, server.port, "tls", server.user, server.password,
                      server.ca_file), "INBOX", "moved", lambda raw: Moved())
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--imap", type=int, default=10_000, metavar="N",
                        help="bounces to process from a Dovecot mailbox (0: leave it out)")
    parser.add_argument("--old-code", type=Path, metavar="DIR",
                        help="an older checkout whose `bounces fetch` is timed too")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # flufl.bounce logs every detector that raises
    answers: dict[str, dict[str, Any]] = json.loads((CORPUS / "answers.json").read_text())
    files = {name: (CORPUS / name).read_bytes() for name in answers}
    rows = measure("bulletin.inbound", ours, files, answers, args.seconds)
    other = flufl()
    if other is not None:
        rows += measure("flufl.bounce 6.0.0", other, files, answers, args.seconds)
    print(f"{'classifier':<20} {'corpus':<16} {'messages':>8} {'msgs/s':>8} {'kind ok':>8} "
          f"{'rcpts ok':>8} {'non-bounce as hard':>18}")
    for row in rows:
        print(f"{row['classifier']:<20} {row['subset']:<16} {row['messages']:>8} "
              f"{row['per_second']:>8.0f} {row['kind']:>8.1%} {row['recipients']:>8.1%} "
              f"{row['false_hard']:>18}")
    if other is None:
        print("(flufl.bounce is not installed: pip install flufl.bounce to compare)")
    if args.imap > 0:
        sys.path.insert(0, str(ROOT))
        codes = [("this code", ROOT)]
        if args.old_code:
            codes.insert(0, (f"old code ({args.old_code})", args.old_code.resolve()))
        timed = [(f"bounces fetch, {name}", *intake(args.imap, code)) for name, code in codes]
        alone = imap_alone(args.imap)
        width = max(44, *(len(name) for name, _, _ in timed))
        print(f"\n{'intake (IMAP, process, SQLite store)':<{width}} {'messages':>8} "
              f"{'seconds':>8} {'msgs/s':>8}")
        for name, seconds in [*((n, s) for n, s, _ in timed),
                              ("IMAP alone (fetch and move)", alone)]:
            print(f"{name:<{width}} {args.imap:>8} {seconds:>8.1f} {args.imap / seconds:>8.0f}")
        print(f"{'classification alone (the corpus, above)':<{width}} {'':>8} {'':>8} "
              f"{rows[0]['per_second']:>8.0f}")
        if len(timed) == 2:
            print(f"this code / old code: {timed[0][1] / timed[1][1]:.1f}x as fast")
        for name, _, summary in timed:
            print(f"  {name}: {summary}")


if __name__ == "__main__":
    main()
