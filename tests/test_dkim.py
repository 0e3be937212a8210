"""DKIM signatures, checked by dkimpy (an independent verifier): every personalised message,
plain or dot-stuffed, RSA or Ed25519; tampering breaks them; `bulletin send` signs what it
hands to a real SMTP server; a bad key is one line before anything is sent."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings

from bulletin.dkim import DkimSigner
from bulletin.message import Recipient
from bulletin.personalise import MessageTemplate
from bulletin.send.smtp import dot_unstuff
from bulletin.store.store import Store
from bulletin.workflow import Prepared
from tests.smtp_server import SmtpServer, ready_to_send
from tests.test_personalise import recipients
from tests.test_send import bulletin, issue, subscribe

SECRET = b"k" * 32


def pem(key: object) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,  # type: ignore[attr-defined]
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


RSA_PEM = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
ED_PEM = pem(ed25519.Ed25519PrivateKey.generate())


def verify(data: bytes, signer: DkimSigner) -> bool:
    record = signer.public_record().encode()

    def dns(name: bytes | str, timeout: int = 5) -> bytes | None:
        name = name.decode() if isinstance(name, bytes) else name
        wanted = f"{signer.selector}._domainkey.{signer.domain}."
        return record if name.rstrip(".") + "." == wanted else None

    return bool(dkim.verify(data, dnsfunc=dns))


def template(example: Prepared, signer: DkimSigner) -> MessageTemplate:
    return MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                 example.workspace.settings.base_url, SECRET, dkim=signer)


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(recipients)
def test_every_personalised_message_verifies(example: Prepared, recipient: Recipient) -> None:
    signer = DkimSigner("example.gov.wales", "news", RSA_PEM)
    built = template(example, signer)
    _, plain = built.message(recipient)
    assert verify(plain, signer)
    _, stuffed = built.message(recipient, stuffed=True)
    assert verify(dot_unstuff(stuffed), signer)
    assert plain.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; "
                            b"d=example.gov.wales; s=news; ")


def test_ed25519_verifies(example: Prepared) -> None:
    signer = DkimSigner("example.gov.wales", "ed", ED_PEM)
    _, data = template(example, signer).message(Recipient("7", "a@example.org", "Siân"))
    assert b"a=ed25519-sha256" in data and verify(data, signer)


def signed_names(data: bytes) -> list[str]:
    message = email.message_from_bytes(data, policy=policy.compat32)
    tags = dict(part.strip().split("=", 1) for part in
                re.sub(r"\s+", "", message["DKIM-Signature"]).split(";") if part)
    return tags["h"].split(":")


def test_the_list_headers_are_signed_and_cannot_be_added(example: Prepared) -> None:
    signer = DkimSigner("example.gov.wales", "news", RSA_PEM)
    _, data = template(example, signer).message(Recipient("7", "a@example.org"))
    names = signed_names(data)
    for name in ("from", "to", "subject", "list-unsubscribe", "list-unsubscribe-post",
                 "list-id", "message-id", "date"):
        assert name in names
    assert names.count("list-unsubscribe") == 2  # signed once more than it appears
    header, body = data.split(b"\r\n\r\n", 1)
    added = header + b"\r\nList-Unsubscribe: <https://evil.example/u>\r\n\r\n" + body
    assert not verify(added, signer)
    swapped = re.sub(rb"List-Unsubscribe: <https://[^/]+", b"List-Unsubscribe: <https://evil.example",
                     data)
    assert swapped != data and not verify(swapped, signer)
    body_changed = data.replace(b"Cohes3ion", b"Cohesion", 1)
    assert body_changed != data and not verify(body_changed, signer)


def test_a_signer_survives_pickling(example: Prepared) -> None:
    """(So that templates can be built in another process.)"""
    import pickle

    signer = DkimSigner("example.gov.wales", "news", ED_PEM)
    copy = pickle.loads(pickle.dumps(signer))
    _, data = template(example, copy).message(Recipient("7", "a@example.org"))
    assert verify(data, signer)


# -- through bulletin send ------------------------------------------------------------------

@pytest.fixture
def signing(workspace: Path, server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    ready_to_send(workspace, server.port, monkeypatch, connections=2)
    (workspace / "keys").mkdir()
    (workspace / "keys" / "news.pem").write_bytes(RSA_PEM)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + '\n[newsletters.cohes3ion.dkim]\n'
                      'selector = "news2026"\nkey_file = "keys/news.pem"\n')
    return workspace


@pytest.mark.slow
def test_send_and_send_test_sign_every_message(signing: Path, server: SmtpServer) -> None:
    people = [f"reader{n}@example.org" for n in range(5)]
    subscribe(signing, people)
    code, output = bulletin("send", issue(signing), "--yes")
    assert code == 0, output
    code, output = bulletin("send-test", issue(signing), "--to", "me@example.org")
    assert code == 0, output
    signer = DkimSigner("example.gov.wales", "news2026", RSA_PEM)
    assert len(server.received) == 6
    for received in server.received:
        assert verify(received.content, signer), received.rcpt_tos


@pytest.mark.slow
@pytest.mark.parametrize(("content", "expected"), [
    (None, r"newsletters\.cohes3ion\.dkim\.key_file: cannot read .*news\.pem"),
    (b"not a key", r"newsletters\.cohes3ion\.dkim\.key_file: .*not a PEM private key"),
    (pem(ec.generate_private_key(ec.SECP256R1())),
     r"newsletters\.cohes3ion\.dkim\.key_file: .*cannot sign DKIM; use RSA"),
    (rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass")),
     r"newsletters\.cohes3ion\.dkim\.key_file: .*the key is encrypted"),
])
def test_a_bad_key_stops_the_send_before_anything(signing: Path, server: SmtpServer,
                                                  content: bytes | None, expected: str) -> None:
    key_file = signing / "keys" / "news.pem"
    if content is None:
        key_file.unlink()
    else:
        key_file.write_bytes(content)
    subscribe(signing, ["reader@example.org"])
    code, output = bulletin("send", issue(signing), "--yes")
    assert code == 1
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and re.search(expected, lines[0]), output
    assert server.received == []
    with Store.open(f"sqlite:///{signing / 'bulletin.db'}") as store:
        assert store.ledger.counts("cohes3ion/" + Path(issue(signing)).stem).get("sent", 0) == 0
        assert not store.ledger.uncertain("cohes3ion/" + Path(issue(signing)).stem)


def test_a_bad_selector_is_named(signing: Path, server: SmtpServer) -> None:
    config = signing / "bulletin.toml"
    config.write_text(config.read_text().replace('selector = "news2026"',
                                                 'selector = "news 2026"'))
    code, output = bulletin("send-test", issue(signing), "--to", "me@example.org")
    assert code == 1 and "newsletters.cohes3ion.dkim.selector" in output, output
    assert server.received == []


def test_dkim_record_prints_the_published_key(signing: Path) -> None:
    code, output = bulletin("dkim-record", "--config", str(signing / "bulletin.toml"))
    assert code == 0, output
    signer = DkimSigner("example.gov.wales", "news2026", RSA_PEM)
    owner, _, data = next(line for line in output.splitlines() if " IN TXT " in line
                          ).partition(" IN TXT ")  # (the strings: tests/test_dkim_record.py)
    assert owner == "news2026._domainkey.example.gov.wales."
    assert data.replace('" "', "").strip('"') == signer.public_record()
    code, output = bulletin("dkim-record", "cohes3ion-bilingual", "--config",
                            str(signing / "bulletin.toml"))
    assert code == 1 and "newsletters.cohes3ion-bilingual has no dkim table" in output
