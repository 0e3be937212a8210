"""The IMAP intake against a real Dovecot (tests/imap_server.py): TLS and STARTTLS, the login,
messages that are ours moved to the processed folder, everything else left where it was and
unread, a second pass changing nothing, and the errors a user meets, each one line.

The processing use-case is a stand-in here (the classifier alone: a message is ours when it
is not "not-bounce"), so that these tests hold the mailbox's side by itself;
tests/test_inbound_imap_cli.py runs `bulletin bounces fetch` with the real one and a store."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bulletin.errors import BulletinError
from bulletin.inbound import classify
from bulletin.inbound.imap import Account, Mailbox, MailboxError, sequence, utf7
from bulletin.inbound.mailbox import Tally, batches, fetch
from bulletin.store.errors import StoreError
from tests.smtp_server import free_port

if TYPE_CHECKING:
    from tests.imap_server import Dovecot

pytest_plugins = ["tests.imap_server"]
slow = pytest.mark.slow  # a real Dovecot for each test (about a second)

CORPUS = Path(__file__).resolve().parent / "data" / "inbound"
OURS = {  # file: kind, from the corpus's answer key
    "bounceparser/doesnotexist.msg": "hard",
    "bounceparser/postfix-malformed.msg": "hard",
    "sisimai/arf-21.eml": "complaint",
    "sisimai/rfc3834-01.eml": "auto-reply",
    "sisimai/arf-26.eml": "unsubscribe",
}
UNRELATED = ["cpython-email/msg_02.txt", "cpython-email/msg_07.txt"]


def crlf(raw: bytes) -> bytes:
    """A message as IMAP stores it: CRLF line ends (imaplib's APPEND writes them)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_the_corpus_files_are_what_the_tests_say() -> None:
    answers = json.loads((CORPUS / "answers.json").read_text())
    for name, kind in OURS.items():
        assert kind in answers[name]["kind"]
    for name in UNRELATED:
        assert answers[name]["kind"] == ["not-bounce"]


@dataclass(frozen=True)
class Outcome:
    kind: str
    ours: bool
    duplicate: bool


class StandIn:
    """The processing use-case's contract, with the classifier alone: ours unless
    not-bounce, a duplicate when the same bytes came before."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.calls = 0

    def __call__(self, raw: bytes) -> Outcome:
        self.calls += 1
        kind = classify(raw).kind
        if kind == "not-bounce":
            return Outcome(kind, False, False)
        key = hashlib.sha256(raw).hexdigest()
        duplicate = key in self.seen
        self.seen.add(key)
        return Outcome(kind, True, duplicate)


def account(server: Dovecot, **changes: object) -> Account:
    values: dict[str, object] = {
        "host": server.host, "port": server.port, "security": "tls", "username": server.user,
        "password": server.password, "ca_file": server.ca_file, "timeout": 60.0}
    values.update(changes)
    return Account(**values)  # type: ignore[arg-type]


def filled(server: Dovecot) -> dict[str, bytes]:
    """The INBOX with the corpus's messages, unrelated ones first and between."""
    order = [UNRELATED[0], *list(OURS)[:3], UNRELATED[1], *list(OURS)[3:]]
    sent = {}
    for name in order:
        raw = (CORPUS / name).read_bytes()
        server.append(raw)
        sent[name] = crlf(raw)
    return sent


def run(server: Dovecot, handle: StandIn, **options: object) -> Tally:
    return fetch(account(server), "INBOX", "bulletin/processed", handle,  # type: ignore[arg-type]
                 **options)


@slow
@pytest.mark.parametrize("use_move", [True, False], ids=["MOVE", "COPY+EXPUNGE"])
def test_ours_are_moved_and_the_rest_left_unread(dovecot: Dovecot, use_move: bool) -> None:
    sent = filled(dovecot)
    handle = StandIn()
    tally = run(dovecot, handle, use_move=use_move)
    assert tally.line() == ("processed 5: hard 2, soft 0, complaints 1, auto-replies 1, "
                            "unsubscribes 1; left alone 2")
    # The processed folder under the server's own separator (a maildir's is ".").
    assert "bulletin.processed" in dovecot.folders()
    moved = dovecot.contents("bulletin.processed")
    assert sorted(raw for _, raw in moved) == sorted(sent[name] for name in OURS)
    inbox = dovecot.contents("INBOX")
    assert [raw for _, raw in inbox] == [sent[name] for name in UNRELATED]
    assert all("\\Seen" not in flags and "\\Deleted" not in flags for flags, _ in inbox)

    again = run(dovecot, handle, use_move=use_move)
    assert again.line() == ("processed 0: hard 0, soft 0, complaints 0, auto-replies 0, "
                            "unsubscribes 0; left alone 2")
    assert dovecot.contents("INBOX") == inbox
    assert sorted(dovecot.contents("bulletin.processed")) == sorted(moved)


@slow
def test_batches_of_a_few_messages_give_the_same(dovecot: Dovecot) -> None:
    sent = filled(dovecot)
    tally = run(dovecot, StandIn(), batch=2)
    assert (tally.processed, tally.left) == (5, 2)
    assert sorted(raw for _, raw in dovecot.contents("bulletin.processed")) == \
        sorted(sent[name] for name in OURS)
    assert [raw for _, raw in dovecot.contents("INBOX")] == [sent[name] for name in UNRELATED]


def test_batches_hold_so_many_messages_and_bytes_at_most() -> None:
    sizes = {1: 10, 2: 10, 3: 100, 4: 10, 5: 10, 6: 10}
    assert list(batches([1, 2, 3, 4, 5, 6], sizes, 3, 50)) == [[1, 2], [3], [4, 5, 6]]
    assert list(batches([1, 2, 3, 4, 5, 6], sizes, 2, 1000)) == [[1, 2], [3, 4], [5, 6]]
    assert list(batches([7, 8], {}, 5, 1)) == [[7, 8]]  # sizes unknown: by count alone
    assert list(batches([], sizes)) == []


@slow
def test_only_the_processed_messages_are_expunged(dovecot: Dovecot) -> None:
    """Without MOVE: COPY, \\Deleted and UID EXPUNGE of those UIDs alone; a message someone
    else marked deleted (and did not expunge) stays."""
    filled(dovecot)
    with dovecot.session() as client:
        client.select("INBOX")
        client.uid("STORE", "1", "+FLAGS", "(\\Deleted)")  # an unrelated message
    run(dovecot, StandIn(), use_move=False)
    inbox = dovecot.contents("INBOX")
    assert len(inbox) == 2
    assert "\\Deleted" in inbox[0][0]


@slow
def test_a_message_processed_twice_counts_once_and_is_moved(dovecot: Dovecot) -> None:
    """A pass cut short after processing and before moving: the next pass finds the message
    again; processing says it is a duplicate, and it is moved then."""
    raw = (CORPUS / "bounceparser/doesnotexist.msg").read_bytes()
    handle = StandIn()
    handle(crlf(raw))  # processed by the pass that was cut short
    dovecot.append(raw)
    tally = run(dovecot, handle)
    assert (tally.processed, tally.duplicates) == (1, 1)
    assert "counted before" in tally.line()
    assert dovecot.contents("INBOX") == []


@slow
def test_the_store_gone_stops_the_pass_and_keeps_what_was_done(dovecot: Dovecot) -> None:
    sent = filled(dovecot)
    handle = StandIn()

    def failing(raw: bytes) -> Outcome:
        if handle.calls == 3:
            raise StoreError("the database is unavailable")
        return handle(raw)

    with pytest.raises(StoreError):
        fetch(account(dovecot), "INBOX", "bulletin/processed", failing)
    assert [raw for _, raw in dovecot.contents("bulletin.processed")] == \
        [sent[name] for name in list(OURS)[:2]]
    tally = run(dovecot, handle)
    assert tally.processed == 3
    assert len(dovecot.contents("bulletin.processed")) == 5


@slow
def test_what_cannot_be_processed_stays_and_the_rest_goes_on(dovecot: Dovecot) -> None:
    sent = filled(dovecot)
    handle = StandIn()

    def picky(raw: bytes) -> Outcome:
        if raw == sent["sisimai/arf-21.eml"]:
            raise BulletinError("not an email")
        if raw == sent["sisimai/rfc3834-01.eml"]:
            raise KeyError("a bug")
        return handle(raw)

    tally = fetch(account(dovecot), "INBOX", "bulletin/processed", picky)
    assert (tally.processed, tally.left, tally.unreadable) == (3, 2, 2)
    assert tally.line().endswith("; could not process 2 (left in place)")
    assert len(dovecot.contents("INBOX")) == 4


@slow
def test_a_poller_passes_over_what_it_knows_is_not_ours(dovecot: Dovecot) -> None:
    filled(dovecot)
    handle = StandIn()
    skip: set[tuple[int, int]] = set()
    run(dovecot, handle, skip=skip)
    assert len(skip) == 2
    calls = handle.calls
    dovecot.append((CORPUS / "sisimai/rfc3834-02.eml").read_bytes())
    tally = run(dovecot, handle, skip=skip)
    assert handle.calls == calls + 1  # only the new message was fetched
    assert (tally.processed, tally.left, tally.passed_over) == (1, 0, 2)
    assert tally.line().endswith("left alone 2")


@slow
def test_starttls_on_the_plain_port(dovecot: Dovecot) -> None:
    dovecot.append((CORPUS / "sisimai/arf-21.eml").read_bytes())
    tally = fetch(account(dovecot, port=dovecot.plain_port, security="starttls"), "INBOX",
                  "Verarbeitet/Gelöscht & fertig", StandIn())
    assert tally.processed == 1
    assert "Verarbeitet.Gel&APY-scht &- fertig" in dovecot.folders()


@slow
def test_a_refused_login_names_the_host_and_user_never_the_password(dovecot: Dovecot) -> None:
    wrong = "not-the-Password-42"
    with pytest.raises(MailboxError) as refused:
        Mailbox.open(account(dovecot, password=wrong))
    message = str(refused.value)
    assert message == (f"the mailbox server 127.0.0.1:{dovecot.port} refused the login of "
                       f"'bulletin' ([AUTHENTICATIONFAILED] Authentication failed.); check "
                       f"inbound.username in bulletin.toml and BULLETIN_IMAP_PASSWORD")
    assert wrong not in message and dovecot.password not in message
    assert "\n" not in message


@slow
def test_an_untrusted_certificate_is_refused(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match=r"^the mailbox server 127\.0\.0\.1:\d+ has a "
                       r"certificate that is not trusted \(self.signed certificate\); set "
                       r"inbound.ca_file"):
        Mailbox.open(account(dovecot, ca_file=None))
    with pytest.raises(MailboxError, match="not trusted"):
        Mailbox.open(account(dovecot, ca_file=None, port=dovecot.plain_port,
                             security="starttls"))


@slow
def test_tls_to_a_plain_port_says_to_check_the_port(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match=r"^TLS with the mailbox server 127\.0\.0\.1:\d+ "
                       r"failed \(.+\); check inbound\.port and inbound\.security$"):
        Mailbox.open(account(dovecot, port=dovecot.plain_port))


@slow
def test_a_missing_folder_is_named(dovecot: Dovecot) -> None:
    with pytest.raises(MailboxError, match=r"has no folder 'Bounces' to read .*; check "
                                           r"inbound\.folder"):
        fetch(account(dovecot), "Bounces", "bulletin/processed", StandIn())


def test_an_unreachable_server_is_one_line() -> None:
    port = free_port()  # nothing listens there now
    with pytest.raises(MailboxError) as unreachable:
        Mailbox.open(Account("127.0.0.1", port, "tls", "bulletin", "secret"))
    assert str(unreachable.value).startswith(f"cannot reach the mailbox server "
                                             f"127.0.0.1:{port} (")
    assert str(unreachable.value).endswith("); check inbound.host and inbound.port in "
                                           "bulletin.toml")


def test_folder_names_in_modified_utf7() -> None:
    assert utf7("INBOX") == "INBOX"
    assert utf7("Gelöscht") == "Gel&APY-scht"
    assert utf7("a&b") == "a&-b"
    assert utf7("日本語") == "&ZeVnLIqe-"
    assert utf7("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501


def test_uid_sets_are_written_as_ranges() -> None:
    assert sequence([]) == ""
    assert sequence([5]) == "5"
    assert sequence([1, 2, 3, 4, 7, 9, 10]) == "1:4,7,9:10"
    assert sequence([10, 9, 9, 1]) == "1,9:10"


def test_the_password_is_not_in_an_accounts_repr() -> None:
    assert "secret" not in repr(Account("h", 993, "tls", "u", "secret"))
