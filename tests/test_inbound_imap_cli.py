"""`bulletin bounces fetch` end to end: a real Dovecot (tests/imap_server.py) holding real
bounces, a complaint and an auto-reply from the corpus (tests/data/inbound) about people on
the list, an emailed unsubscribe request carrying a subscriber's token, and mail that is not
ours; then reports about the messages of a send (its ledger's rows), traced by their VERP
address and their Message-ID (tests/inbound_mail.py); the store is a SQLite file. Processed
mail ends in the processed folder with its effect in the store, the rest stays in INBOX
unread, and a second run changes nothing. Every mistake is one line and exit status 1,
without the password."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from bulletin import links
from bulletin.cli import app
from bulletin.message import delivery_message_id, verp_address
from bulletin.store import Store
from tests.inbound_mail import arf, auto_reply, dsn
from tests.inbound_mail import unsubscribe_request as emailed_unsubscribe
from tests.smtp_server import free_port

if TYPE_CHECKING:
    from tests.imap_server import Dovecot

pytest_plugins = ["tests.imap_server"]
pytestmark = pytest.mark.slow  # a real Dovecot for each test

CORPUS = Path(__file__).resolve().parent / "data" / "inbound"
KEY = "k" * 32
LIST = "cohes3ion"
MAILTO = "unsubscribe-cohes3ion@example.gov.wales"  # the example's unsubscribe_mailto
OURS = {  # a corpus file and the subscriber it is about
    "bounceparser/doesnotexist.msg": "recipient@example.net",  # hard
    "bounceparser/postfix-malformed.msg": "exampleuser@yyahoo.com",  # hard
    "sisimai/arf-21.eml": "kijitora@example.org",  # a complaint
    "sisimai/rfc3834-01.eml": "fred@example.com",  # an auto-reply from a subscriber
}
NOT_OURS = [
    "cpython-email/msg_02.txt", "cpython-email/msg_07.txt",  # ordinary mail
    "sisimai/arf-23.eml",  # a complaint about someone not on any list
]
LEAVING = "carol@example.org"


def inbound_table(server: Dovecot, **changes: object) -> str:
    values: dict[str, object] = {"host": server.host, "port": server.port,
                                 "security": "tls", "username": server.user,
                                 "ca_file": str(server.ca_file)}
    values.update(changes)
    lines = [f"{key} = {value!r}".replace("'", '"') if isinstance(value, str)
             else f"{key} = {value}" for key, value in values.items() if value is not None]
    return "\n[inbound]\n" + "\n".join(lines) + "\n"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'bulletin.db'}"
    monkeypatch.setenv("BULLETIN_DATABASE_URL", url)
    return url


@pytest.fixture
def fetch(workspace: Path, database: str, dovecot: Dovecot,
          monkeypatch: pytest.MonkeyPatch) -> object:
    """`bulletin bounces fetch` in the workspace, its [inbound] table the Dovecot's."""
    monkeypatch.chdir(workspace)
    monkeypatch.setenv("BULLETIN_SECRET_KEY", KEY)
    monkeypatch.setenv("BULLETIN_IMAP_PASSWORD", dovecot.password)
    config = workspace / "bulletin.toml"
    original = config.read_text()

    def run(**changes: object) -> Result:
        config.write_text(original + inbound_table(dovecot, **changes))
        return CliRunner().invoke(app, ["bounces", "fetch"])
    return run


def one_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def test_fetch_processes_the_mailbox_once(fetch, dovecot: Dovecot, database: str) -> None:
    with Store.open(database) as store:
        store.create_list(LIST, newsletter=LIST)
        for email in [*OURS.values(), LEAVING]:
            store.subscribe(email, LIST, source="test")
        leaving = store.subscriptions.subscriber(LEAVING).id
    token = links.sign("unsubscribe", str(leaving), KEY.encode())
    for name in [NOT_OURS[0], *OURS, NOT_OURS[1], NOT_OURS[2]]:
        dovecot.append((CORPUS / name).read_bytes())
    dovecot.append(emailed_unsubscribe(MAILTO, f"Carol <{LEAVING}>", token))
    before = dovecot.contents("INBOX")

    result = fetch()
    assert result.exit_code == 0, result.output
    # The corpus's bounces and complaint quote mail that is not ours (no token of ours, a
    # stranger's original): they name subscribers, but change nothing and stay in INBOX.
    assert result.stdout == ("Processed 2: hard 0, soft 0, complaints 0, auto-replies 1, "
                             "unsubscribes 1; left alone 6\n")
    processed = dovecot.contents("bulletin.processed")
    assert len(processed) == 2
    inbox = dovecot.contents("INBOX")
    assert [raw for _, raw in inbox] == [before[i][1] for i in (0, 1, 2, 3, 5, 6)]
    assert all("\\Seen" not in flags for flags, _ in inbox)

    with Store.open(database) as store:
        people = {email: store.subscriptions.subscriber(email) for email in
                  [*OURS.values(), LEAVING]}
    for email in ("recipient@example.net", "exampleuser@yyahoo.com", "kijitora@example.org"):
        assert people[email].status == "active" and not people[email].suppressed
    assert people["fred@example.com"].status == "active"  # an auto-reply changes nothing
    assert people["fred@example.com"].lists == (LIST,)
    assert people[LEAVING].status == "unsubscribed"

    again = fetch()
    assert again.exit_code == 0, again.output
    assert again.stdout == ("Processed 0: hard 0, soft 0, complaints 0, auto-replies 0, "
                            "unsubscribes 0; left alone 6\n")
    assert dovecot.contents("INBOX") == inbox
    assert sorted(dovecot.contents("bulletin.processed")) == sorted(processed)


def test_reports_about_a_send_are_traced_to_its_messages(fetch, dovecot: Dovecot,
                                                         database: str) -> None:
    people = ["ann@example.org", "bob@example.org", "cat@example.org", "dan@example.org"]
    envelope = "cohes3ion@example.gov.wales"
    key = KEY.encode()
    with Store.open(database) as store:
        store.create_list(LIST, newsletter=LIST)
        for email in people:
            store.subscribe(email, LIST, source="test")
        store.ledger.create("cohes3ion/issue-1", LIST)
        rows = {claim.email: claim.id for claim in store.ledger.claim("cohes3ion/issue-1", 100)}
        ids = {email: store.subscriptions.subscriber(email).id for email in people}

    def sent(email: str) -> bytes:
        token = links.sign_delivery(rows[email], key)
        return (f"From: Welsh Government <{envelope}>\r\nTo: {email}\r\nSubject: Issue 1\r\n"
                f"Message-ID: {delivery_message_id(token, 'example.gov.wales')}\r\n\r\n"
                f"Hello\r\n").encode()

    verp = verp_address(envelope, links.sign_delivery(rows["ann@example.org"], key))
    forged = verp_address(envelope, links.sign_delivery(rows["ann@example.org"], b"x" * 32))
    mail = [
        dsn(sent("ann@example.org"), verp, "ann@example.org", "5.1.1", "550 5.1.1 no such user"),
        arf(sent("bob@example.org"), envelope, "bob@example.org"),
        auto_reply(sent("cat@example.org"), envelope, "cat@example.org"),
        emailed_unsubscribe(MAILTO, "dan@example.org",
                            links.sign("unsubscribe", str(ids["dan@example.org"]), key)),
        # naming a subscriber, with a token that does not verify: not ours, nothing done
        dsn(b"From: x@example.com\r\nTo: cat@example.org\r\nMessage-ID: <a.b@example.com>"
            b"\r\n\r\nHi\r\n", forged, "cat@example.org", "5.1.1", "550 5.1.1 unknown"),
        (CORPUS / NOT_OURS[0]).read_bytes(),
    ]
    for raw in mail:
        dovecot.append(raw)

    result = fetch()
    assert result.exit_code == 0, result.output
    assert result.stdout == ("Processed 4: hard 1, soft 0, complaints 1, auto-replies 1, "
                             "unsubscribes 1; left alone 2\n")
    with Store.open(database) as store:
        status = {email: store.subscriptions.subscriber(email).status for email in people}
        assert status == {"ann@example.org": "bounced", "bob@example.org": "complained",
                          "cat@example.org": "active", "dan@example.org": "unsubscribed"}
        assert store.suppressions.contains("ann@example.org")
    assert len(dovecot.contents("INBOX")) == 2
    assert fetch().stdout.startswith("Processed 0: ")


def test_a_refused_login_is_one_line_without_the_password(
        fetch, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULLETIN_IMAP_PASSWORD", "wrong-Password-77")
    result = fetch()
    assert one_error(result) == (
        f"Error: the mailbox server 127.0.0.1:{dovecot.port} refused the login of 'bulletin' "
        f"([AUTHENTICATIONFAILED] Authentication failed.); check inbound.username in "
        f"bulletin.toml and BULLETIN_IMAP_PASSWORD")
    assert "wrong-Password-77" not in result.output


def test_an_untrusted_certificate_is_one_line(fetch) -> None:
    line = one_error(fetch(ca_file=None))
    assert re.match(r"Error: the mailbox server 127\.0\.0\.1:\d+ has a certificate that is "
                    r"not trusted \(self.signed certificate\); set inbound\.ca_file", line)


def test_starttls_works_too(fetch, dovecot: Dovecot) -> None:
    dovecot.append((CORPUS / NOT_OURS[0]).read_bytes())
    result = fetch(port=dovecot.plain_port, security="starttls")
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith("; left alone 1\n")


def test_an_unreachable_server_is_one_line(fetch) -> None:
    port = free_port()
    assert one_error(fetch(port=port)).startswith(
        f"Error: cannot reach the mailbox server 127.0.0.1:{port} (")


def test_without_the_password_nothing_is_tried(fetch, workspace: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BULLETIN_IMAP_PASSWORD")
    line = one_error(fetch())
    assert re.fullmatch(rf"Error: {re.escape(str(workspace))}/bulletin\.toml:\d+: \[inbound\] "
                        r"needs the password of 'bulletin' in the environment: set "
                        r"BULLETIN_IMAP_PASSWORD", line)


def test_without_an_inbound_table_it_says_what_to_add(workspace: Path, database: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(workspace)
    line = one_error(CliRunner().invoke(app, ["bounces", "fetch"]))
    assert line == (f"Error: {workspace / 'bulletin.toml'}: no [inbound] table: add one with "
                    f"the mailbox's host and username (see README, \"Bounces\")")


def test_the_store_unavailable_stops_before_the_mailbox(
        fetch, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    dovecot.append((CORPUS / "bounceparser/doesnotexist.msg").read_bytes())
    logins = dovecot.log.read_text().count("Login: user=<bulletin>")
    monkeypatch.setenv("BULLETIN_DATABASE_URL",
                       f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nowhere")
    result = fetch()
    assert result.exit_code != 0
    (line,) = result.stderr.splitlines()
    assert line.startswith("Error: ") and "nowhere" in line
    assert dovecot.log.read_text().count("Login: user=<bulletin>") == logins
    assert len(dovecot.contents("INBOX")) == 1
