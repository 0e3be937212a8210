"""How fast and how well inbound messages are classified, over the corpus in
tests/data/inbound (real bounces, complaints, auto-replies and ordinary mail with the
sources' published answers). Prints one table: messages classified per second, the share
with the right kind and the right recipient set, and the same for flufl.bounce (Mailman's
detectors) when it is installed, measured on the same files with the same answer key.

    python benchmarks/bounces.py [--seconds 3] [--imap 10000 | --imap 0]

flufl.bounce only finds addresses (temporary or permanent); its kind is taken as hard for a
permanent failure, soft for a temporary one and not-bounce when it finds nothing.

Then the intake: `--imap N` (default 10,000; 0 leaves it out) bounces, each a DSN about a
different subscriber, written straight into the maildir of a private Dovecot
(tests/imap_server.py, Debian's dovecot-imapd), and the time `bulletin bounces fetch` takes to
fetch, process (classify, attribute, record in a SQLite store) and move them all.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import os
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


def dsn(n: int) -> bytes:
    """A Postfix-style delivery status notification (RFC 3464) saying subscriber n's
    address does not exist."""
    recipient = f"reader{n}@example.org"
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
            f"news@example.gov.wales\r\nTo: {recipient}\r\nSubject: Issue 4\r\n\r\n--b--\r\n"
            ).encode()


def imap_intake(count: int) -> tuple[float, float, str]:
    """Seconds `bulletin bounces fetch` takes for `count` bounces in a Dovecot mailbox, the
    seconds the IMAP side alone takes for as many (fetched and moved, nothing processed),
    and the command's summary line."""
    sys.path.insert(0, str(ROOT))
    from typer.testing import CliRunner

    from bulletin.cli import app
    from bulletin.inbound.imap import Account
    from bulletin.inbound.mailbox import fetch
    from bulletin.store import Store
    from tests.imap_server import Dovecot

    class Moved:  # what processing says of each message, without doing it
        kind, ours, duplicate = "hard", True, False

    with Dovecot() as server:
        server.fill(dsn(n) for n in range(count))
        start = time.perf_counter()
        fetch(Account(server.host, server.port, "tls", server.user, server.password,
                      server.ca_file), "INBOX", "moved", lambda raw: Moved())
        imap_alone = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder, Dovecot() as server:
        workspace = Path(folder)
        config = (ROOT / "bulletin.toml").read_text() + (
            f"\n[inbound]\nhost = \"{server.host}\"\nport = {server.port}\n"
            f"username = \"{server.user}\"\nca_file = \"{server.ca_file}\"\n")
        (workspace / "bulletin.toml").write_text(config)
        url = f"sqlite:///{workspace / 'bulletin.db'}"
        with Store.open(url) as store:
            store.create_list("cohes3ion", newsletter="cohes3ion")
            csv = workspace / "people.csv"
            csv.write_text("email\n" + "".join(f"reader{n}@example.org\n"
                                               for n in range(count)))
            store.imports.import_csv(csv, "cohes3ion")
        server.fill(dsn(n) for n in range(count))
        os.environ.update({"BULLETIN_DATABASE_URL": url, "BULLETIN_SECRET_KEY": "k" * 32,
                           "BULLETIN_IMAP_PASSWORD": server.password})
        start = time.perf_counter()
        result = CliRunner().invoke(app, ["bounces", "fetch", "--config",
                                          str(workspace / "bulletin.toml")])
        elapsed = time.perf_counter() - start
        if result.exit_code != 0:
            raise SystemExit(f"bounces fetch failed: {result.output}")
        return elapsed, imap_alone, result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--imap", type=int, default=10_000, metavar="N",
                        help="bounces to process from a Dovecot mailbox (0: leave it out)")
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
        elapsed, imap_alone, summary = imap_intake(args.imap)
        print(f"\n{'intake':<44} {'messages':>8} {'seconds':>8} {'msgs/s':>8}")
        for name, seconds in (("bounces fetch (IMAP, process, SQLite store)", elapsed),
                              ("IMAP alone (fetch and move)", imap_alone)):
            print(f"{name:<44} {args.imap:>8} {seconds:>8.1f} {args.imap / seconds:>8.0f}")
        print(f"{'classification alone (the corpus, above)':<44} {'':>8} {'':>8} "
              f"{rows[0]['per_second']:>8.0f}")
        print(f"  {summary}")


if __name__ == "__main__":
    main()
