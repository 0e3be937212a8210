"""SNS envelopes and their signatures, SES notifications and the generic events, without the
web service: the canonical string of each type signed with a key of our own (versions 1 and
2), any change refused, certificate URLs that are not SNS's refused before any fetch, and
the events AWS's documented examples become."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bulletin.errors import SettingsError
from bulletin.inbound.webhooks import events as generic
from bulletin.inbound.webhooks import ses, sns
from bulletin.inbound.webhooks.model import Malformed, Unauthenticated, Unavailable
from bulletin.settings import load_workspace
from tests.webhook_helpers import (
    BOUNCE,
    CERT_URL,
    CERTIFICATE,
    COMPLAINT,
    DELIVERY,
    OTHER_KEY,
    SUBSCRIBE_URL,
    notification,
    subscription,
)
from tests.webhook_helpers import ses as ses_message

HOSTILE = [
    "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "https://sns.evil.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-x.pem",
    "https://evil.com@sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com@evil.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com./SimpleNotificationService-x.pem",
    "https://SNS.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
    "https://sns.us-east-1.amazonaws.com/../evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/a/b.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem?u=https://evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com/x.pem#frag",
    "https://sns.us-east-1.amazonaws.com/x.txt",
    "https://sns.us-east-1.amazonaws.com/%2e%2e/x.pem",
    "https://sns.us-east-1.amazonaws.com\\@evil.com/x.pem",
    "https://sns.us-east-1.amazonaws.com /x.pem",
    "https://sns.amazonaws.com/x.pem",
    "https://sqs.us-east-1.amazonaws.com/x.pem",
    "https://evilsns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.evil.amazonaws.com/x.pem",
    "https://[::1]/x.pem",
    "https://127.0.0.1/x.pem",
    "file:///etc/passwd.pem",
    "//sns.us-east-1.amazonaws.com/x.pem",
    "https://sns.us-east-1.amazonaws.com",
    "",
]


def loader(url: str) -> x509.Certificate:
    assert url == CERT_URL
    return CERTIFICATE


def envelope(fields: dict[str, str]) -> sns.Envelope:
    return sns.parse(json.dumps(fields).encode())


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("fields", [
    lambda v: notification("Hello world!", version=v),
    lambda v: notification("Hello world!", subject=None, version=v),
    lambda v: subscription(version=v),
    lambda v: subscription("UnsubscribeConfirmation", version=v),
], ids=["notification", "without-subject", "subscription", "unsubscribe"])
def test_each_type_signed_in_its_canonical_form_verifies(
        fields: Callable[[str], dict[str, str]], version: str) -> None:
    sns.verify(envelope(fields(version)), loader)


def test_the_canonical_string_is_the_documented_one() -> None:
    fields = notification("Hello world!")
    assert sns.canonical(envelope(fields)) == (
        b"Message\nHello world!\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\n"
        b"Subject\nMy First Message\nTimestamp\n2012-05-02T00:54:06.655Z\n"
        b"TopicArn\narn:aws:sns:us-west-2:123456789012:MyTopic\nType\nNotification\n")
    confirm = sns.canonical(envelope(subscription()))
    assert confirm.index(b"SubscribeURL\n") < confirm.index(b"Timestamp\n") < \
        confirm.index(b"Token\n") < confirm.index(b"TopicArn\n")


@pytest.mark.parametrize("field", ["Message", "MessageId", "Subject", "Timestamp", "TopicArn"])
def test_any_signed_field_changed_is_refused(field: str) -> None:
    fields = notification("Hello world!")
    fields[field] += "x"
    with pytest.raises(Unauthenticated):
        sns.verify(envelope(fields), loader)


def test_other_signatures_are_refused() -> None:
    with pytest.raises(Unauthenticated):  # another key
        sns.verify(envelope(notification("Hello", key=OTHER_KEY)), loader)
    fields = notification("Hello", version="2")
    with pytest.raises(Unauthenticated):  # signed SHA256, claimed SHA1
        sns.verify(envelope({**fields, "SignatureVersion": "1"}), loader)
    for version in ("3", "", "01"):
        with pytest.raises(Unauthenticated):
            sns.verify(envelope({**fields, "SignatureVersion": version}), loader)
    for signature in ("", "not base64!", "AA==", fields["Signature"][:-8]):
        with pytest.raises(Unauthenticated):
            sns.verify(envelope({**fields, "Signature": signature}), loader)


@pytest.mark.parametrize("url", HOSTILE)
def test_a_certificate_url_not_on_sns_is_refused_before_any_fetch(url: str) -> None:
    assert not sns.is_certificate_url(url)
    fetched: list[str] = []

    def get(url: str, most: int) -> bytes:
        fetched.append(url)
        return CERTIFICATE.public_bytes(serialization.Encoding.PEM)

    fields = {**notification("Hello"), "SigningCertURL": url}
    with pytest.raises(Unauthenticated):
        sns.verify(envelope(fields), sns.Certificates(get))
    with pytest.raises(Unauthenticated):
        sns.Certificates(get)(url)
    assert fetched == []


@pytest.mark.parametrize("url", [
    CERT_URL,
    "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-01d088a6f77103d0fe307c0069e40ed6.pem",
    "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-3250158c6506d40628c4d2aee4b7a5b3.pem",
    "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-x.pem",
])
def test_sns_certificate_urls_are_accepted(url: str) -> None:
    assert sns.is_certificate_url(url)


def test_certificates_are_fetched_once_per_url_and_failures_are_told_apart() -> None:
    fetched: list[str] = []
    pem = CERTIFICATE.public_bytes(serialization.Encoding.PEM)

    def get(url: str, most: int) -> bytes:
        fetched.append(url)
        return pem
    certificates = sns.Certificates(get)
    sns.verify(envelope(notification("Hello")), certificates)
    sns.verify(envelope(notification("Hello again")), certificates)
    assert fetched == [CERT_URL]

    with pytest.raises(Unauthenticated):
        sns.Certificates(lambda url, most: b"<html>not a certificate</html>")(CERT_URL)

    def down(url: str, most: int) -> bytes:
        raise OSError("connection refused")
    with pytest.raises(Unavailable):
        sns.Certificates(down)(CERT_URL)


def test_only_an_sns_subscribe_url_is_visited() -> None:
    visited: list[str] = []

    def get(url: str, most: int) -> bytes:
        visited.append(url)
        return b"<ConfirmSubscriptionResponse/>"
    assert sns.confirm(SUBSCRIBE_URL, get)
    for url in ["https://evil.com/?Action=ConfirmSubscription",
                "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
                "https://sns.us-west-2.amazonaws.com/x?Action=ConfirmSubscription",
                "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe",
                "https://a@sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription"]:
        assert not sns.confirm(url, get)
    assert visited == [SUBSCRIBE_URL]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff", b'{"Type": "Notification"}',
                                  b'{"Type": "Other", "MessageId": "1"}',
                                  json.dumps({**notification("x"), "Message": 1}).encode()])
def test_what_is_not_an_sns_message_is_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        sns.parse(body)


def test_the_documented_bounce_becomes_one_hard_event_per_recipient() -> None:
    [event] = ses.events(envelope(notification(ses_message(BOUNCE))))
    c = event.classification
    assert (c.kind, c.recipients, c.status, c.reason, c.family) == \
        ("hard", ("jane@example.com",), "5.1.1", "user-unknown", "ses")
    assert c.original_message_id == "custom-message-ID"  # not SES's own messageId
    assert dict(c.original_headers) == {"Message-ID": "custom-message-ID",
                                         "From": "\"John Doe\" <john@example.com>"}
    assert c.envelope_to == "john@example.com"
    assert c.diagnostic == "smtp; 550 5.1.1 <jane@example.com>... User"
    two = ses.events(envelope(notification(ses_message(BOUNCE, recipients=["a@x.org",
                                                                           "b@x.org"]))))
    assert [e.classification.recipients for e in two] == [("a@x.org",), ("b@x.org",)]
    assert len({e.key for e in two}) == 2
    again = ses.events(envelope(notification(ses_message(BOUNCE), version="2")))
    assert [e.key for e in again] == [event.key]  # the same SNS MessageId: the same key
    other = ses.events(envelope(notification(ses_message(BOUNCE), message_id="other")))
    assert other[0].key != event.key


@pytest.mark.parametrize(("bounce_type", "status", "diagnostic", "kind"), [
    ("Permanent", "5.1.1", "smtp; 550 5.1.1 user unknown", "hard"),
    ("Permanent", None, None, "hard"),
    ("Permanent", "5.7.1", "smtp; 550 5.7.1 message rejected as spam", "soft"),
    ("Transient", "4.2.2", "smtp; 452 4.2.2 mailbox full", "soft"),
    ("Transient", "5.1.1", "smtp; 550 5.1.1 user unknown", "soft"),
    ("Undetermined", "5.1.1", "smtp; 550 5.1.1 no such user", "hard"),
    ("Undetermined", None, None, "soft"),
])
def test_bounce_types(bounce_type: str, status: str | None, diagnostic: str | None,
                      kind: str) -> None:
    note = json.loads(ses_message(BOUNCE))
    note["bounce"]["bounceType"] = bounce_type
    recipient = {"emailAddress": "jane@example.com", "status": status,
                 "diagnosticCode": diagnostic}
    note["bounce"]["bouncedRecipients"] = [{k: v for k, v in recipient.items() if v}]
    [event] = ses.events(envelope(notification(json.dumps(note))))
    assert event.classification.kind == kind


def test_the_documented_complaint_and_delivery() -> None:
    [event] = ses.events(envelope(notification(ses_message(COMPLAINT))))
    c = event.classification
    assert (c.kind, c.recipients, c.reason) == ("complaint", ("richard@example.com",), "abuse")
    assert ses.events(envelope(notification(ses_message(DELIVERY)))) == []
    for message in ["not json", "[]", '{"notificationType": "Bounce", "bounce": 3}',
                    '{"notificationType": "Bounce", "bounce": {"bouncedRecipients": 1}}',
                    '{"notificationType": "Bounce", "mail": {"headers": 1}}']:
        assert ses.events(envelope(notification(message))) == []


SECRET = b"a-shared-webhook-secret"


def test_the_generic_signature_binds_the_body_and_the_time() -> None:
    body = b'{"events": []}'
    signature = generic.sign(SECRET, "1000", body)
    generic.authenticate(SECRET, body, signature, "1000", 1000 + generic.TOLERANCE)
    bad = [(body + b" ", signature, "1000", 1000), (body, signature, "1001", 1000),
           (body, signature, "1000", 1000 + generic.TOLERANCE + 1),
           (body, signature, "1000", 1000 - generic.TOLERANCE - 1),
           (body, signature.upper(), "1000", 1000), (body, "", "1000", 1000),
           (body, signature, None, 1000), (body, None, "1000", 1000),
           (body, signature, "1e3", 1000), (body, signature, "-1000", 1000),
           (body, generic.sign(b"another-secret-entirely", "1000", body), "1000", 1000)]
    for b, s, t, now in bad:
        with pytest.raises(Unauthenticated):
            generic.authenticate(SECRET, b, s, t, now)


def test_generic_events() -> None:
    body = json.dumps({"events": [
        {"type": "bounce", "recipient": "ann@example.org", "status": "5.1.1",
         "diagnostic": "550 5.1.1 no such user", "id": "e1"},
        {"type": "bounce", "recipient": "bob@example.org", "bounce_type": "soft", "id": "e2"},
        {"type": "bounce", "recipient": "cat@example.org", "bounce_type": "hard",
         "message_id": "<t.r@example.org>"},
        {"type": "complaint", "recipient": "dan@example.org", "extra": "ignored"}]}).encode()
    found = generic.events(body)
    assert [(e.classification.kind, e.classification.recipients[0]) for e in found] == [
        ("hard", "ann@example.org"), ("soft", "bob@example.org"), ("hard", "cat@example.org"),
        ("complaint", "dan@example.org")]
    assert found[2].classification.original_message_id == "<t.r@example.org>"
    assert [e.key for e in generic.events(body)] == [e.key for e in found]
    for bad in [b"{", b"[]", b'{"events": {}}', b'{"events": [{"type": "bounce"}]}',
                b'{"events": [{"type": "open", "recipient": "a@b.org"}]}',
                b'{"events": [{"type": "bounce", "recipient": "nobody"}]}']:
        with pytest.raises(Malformed):
            generic.events(bad)


def test_a_topic_that_is_not_an_arn_is_a_settings_error_naming_its_line(
        workspace: Path) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + '\n[webhooks]\nses_topics = ["MyTopic"]\n')
    lines = config.read_text().count("\n")
    with pytest.raises(SettingsError) as caught:
        load_workspace(config)
    assert str(caught.value).startswith(f"{config}:{lines}: webhooks.ses_topics[0]: "
                                        f"string should match pattern '^arn:aws")


def test_the_fetch_follows_no_redirect_and_reads_no_more_than_asked() -> None:
    """sns.fetch itself, against a local server (the host rules are Certificates' job)."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            if self.path == "/moved.pem":
                self.send_response(302)
                self.send_header("Location", "/elsewhere.pem")
                self.end_headers()
                return
            body = b"x" * (2000 if self.path == "/big.pem" else 10)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            assert sns.fetch(f"{base}/small.pem", 1000) == b"x" * 10
            with pytest.raises(ValueError):
                sns.fetch(f"{base}/big.pem", 1000)
            with pytest.raises(OSError):
                sns.fetch(f"{base}/moved.pem", 1000)
        finally:
            server.shutdown()
            thread.join()
    assert asked == ["/small.pem", "/big.pem", "/moved.pem"]  # never /elsewhere.pem
