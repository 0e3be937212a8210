"""The double opt-in confirmation email is DKIM-signed like every other message when its
newsletter signs, and dkimpy (an independent verifier) accepts the signature; a newsletter
without a [dkim] table sends it unsigned; a bad key stops the service at start."""

from __future__ import annotations

import email
import re
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from bulletin.dkim import DkimSigner
from bulletin.errors import SettingsError
from tests.smtp_server import SmtpServer
from tests.test_dkim import ED_PEM, RSA_PEM, verify
from tests.test_web_subscribe import ask
from tests.web_helpers import Web, start_web


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def signing(workspace: Path, pem: bytes, newsletter: str = "cohes3ion") -> None:
    (workspace / "keys").mkdir(exist_ok=True)
    (workspace / "keys" / f"{newsletter}.pem").write_bytes(pem)
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + f'\n[newsletters.{newsletter}.dkim]\n'
                      f'selector = "news2026"\nkey_file = "keys/{newsletter}.pem"\n')


@pytest.fixture
def web(workspace: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    signing(workspace, RSA_PEM)
    signing(workspace, ED_PEM, "cohes3ion-bilingual")
    yield from start_web(workspace, smtp, monkeypatch, resend_after=0)


def received(web: Web, count: int) -> list[bytes]:
    web.received(count)
    return [message.content for message in web.smtp.received]


def test_the_confirmation_email_is_signed(web: Web) -> None:
    ask(web, "New.Reader@Example.org", name="Siân Rhys")
    [data] = received(web, 1)
    assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; "
                           b"d=example.gov.wales; s=news2026; ")
    signer = DkimSigner("example.gov.wales", "news2026", RSA_PEM)
    assert verify(data, signer)
    message = email.message_from_bytes(data, policy=policy.default)
    assert message["Subject"] == "Confirm your subscription to Cohes3ion Newsletter"
    signed = re.sub(r"\s+", "", str(message["DKIM-Signature"]))
    for name in ("from", "to", "subject", "date", "message-id", "reply-to"):
        assert name in re.search(r"h=([^;]+)", signed)[1].split(":")  # type: ignore[index]
    # Tampering breaks it: the link, or a header added.
    assert not verify(data.replace(b"/confirm/", b"/confirn/", 1), signer)
    header, body = data.split(b"\r\n\r\n", 1)
    assert not verify(header + b"\r\nReply-To: evil@example.net\r\n\r\n" + body, signer)


def test_each_newsletter_signs_with_its_own_key(web: Web) -> None:
    response = web.http.post("/api/subscribe/cohes3ion-bilingual",
                             json={"email": "api@example.org", "language": "cy"})
    assert response.status_code == 202
    [data] = received(web, 1)
    assert b"a=ed25519-sha256" in data
    assert verify(data, DkimSigner("example.gov.wales", "news2026", ED_PEM))
    assert not verify(data, DkimSigner("example.gov.wales", "news2026", RSA_PEM))


def test_unsigned_without_a_dkim_table(workspace: Path, smtp: SmtpServer,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for web in start_web(workspace, smtp, monkeypatch, resend_after=0):
        ask(web, "reader@example.org")
        [data] = received(web, 1)
        assert b"DKIM-Signature" not in data


def test_a_bad_key_stops_the_service_at_start(workspace: Path, smtp: SmtpServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    signing(workspace, b"not a key")
    with pytest.raises(SettingsError, match=r"newsletters\.cohes3ion\.dkim\.key_file: .*"
                                            r"not a PEM private key"):
        next(start_web(workspace, smtp, monkeypatch))


def test_serve_with_a_bad_key_is_one_line(workspace: Path, smtp: SmtpServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.smtp_server import SECRET_KEY, use_server
    from tests.test_send import bulletin

    use_server(workspace, smtp.port)
    signing(workspace, b"not a key")
    monkeypatch.setenv("BULLETIN_SECRET_KEY", SECRET_KEY)
    code, output = bulletin("serve", "--port", "0", "--config", str(workspace / "bulletin.toml"))
    assert code == 1
    [line] = output.splitlines()
    assert re.match(r"Error: .*newsletters\.cohes3ion\.dkim\.key_file: .*not a PEM private key",
                    line), output
