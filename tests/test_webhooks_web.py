"""The webhooks through the running service (uvicorn, a SQLite store): SES notifications
through SNS, signed with a key of our own and checked against its certificate through the
service's certificate loader, and the generic JSON events signed with the shared secret.
Every refusal (a bad or missing signature, another topic, a certificate not on SNS, a body
too large or not JSON) records nothing; what is accepted is recorded once."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bulletin.inbound.process as process_module
from bulletin import links
from bulletin.inbound.webhooks import events as generic
from bulletin.inbound.webhooks import sns
from bulletin.inbound.webhooks.model import Unavailable
from bulletin.message import delivery_message_id
from bulletin.store import StoreError
from bulletin.web.service.routes.webhooks import MAX_BODY, Webhooks
from tests.smtp_server import SmtpServer
from tests.web_helpers import KEY, Web, start_web
from tests.webhook_helpers import (
    BOUNCE,
    CERT_URL,
    CERTIFICATE,
    COMPLAINT,
    DELIVERY,
    OTHER_KEY,
    SUBSCRIBE_URL,
    TOPIC,
    notification,
    subscription,
)
from tests.webhook_helpers import ses as ses_message

pytest_plugins = ["tests.web_fixtures"]

SECRET = "a-shared-webhook-secret-for-tests"
PEOPLE = ["ann@example.org", "bob@example.org", "cat@example.org"]
ISSUE = "cohes3ion/issue-1"


class Hooks:
    def __init__(self, web: Web) -> None:
        self.web = web
        self.loaded: list[str] = []
        self.visited: list[str] = []
        self.ids = {a: web.add(a) for a in PEOPLE}
        web.store.ledger.create(ISSUE, "cohes3ion")
        self.rows = {c.email: c.id for c in web.store.ledger.claim(ISSUE, 100)}

        def certificates(url: str) -> x509.Certificate:
            self.loaded.append(url)
            return CERTIFICATE

        def visit(url: str, most: int) -> bytes:
            self.visited.append(url)
            return b"<ConfirmSubscriptionResponse/>"

        web.app.state.webhooks = Webhooks(certificates=certificates,
                                          confirm=lambda url: sns.confirm(url, visit))

    def message_id(self, address: str) -> str:
        """The Message-ID of the issue's message to `address`, as the dispatcher writes it."""
        token = links.sign_delivery(self.rows[address], KEY.encode())
        return delivery_message_id(token, "example.gov.wales")

    def post_ses(self, fields: dict[str, str] | bytes) -> tuple[int, str]:
        body = fields if isinstance(fields, bytes) else json.dumps(fields).encode()
        r = self.web.http.post("/webhooks/ses", content=body, headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification"})
        return r.status_code, r.text

    def post_events(self, body: bytes, *, at: float | None = None, secret: str = SECRET,
                    signature: str | None = None) -> tuple[int, str]:
        timestamp = str(int(time.time() if at is None else at))
        headers = {"Content-Type": "application/json", generic.TIMESTAMP_HEADER: timestamp,
                   generic.SIGNATURE_HEADER: signature if signature is not None else
                   generic.sign(secret.encode(), timestamp, body)}
        r = self.web.http.post("/webhooks/events", content=body, headers=headers)
        return r.status_code, r.text

    def recorded(self) -> int:
        with sqlite3.connect(self.web.root / "bulletin.db") as db:
            count: int = db.execute("SELECT count(*) FROM inbound").fetchone()[0]
        return count

    def statuses(self) -> dict[str, str]:
        return {a: self.web.store.subscriber(a).status for a in PEOPLE}


def configure(workspace: Path, text: str) -> None:
    config = workspace / "bulletin.toml"
    config.write_text(config.read_text() + text)


@pytest.fixture
def hooks(workspace: Path, smtp: SmtpServer,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Hooks]:
    configure(workspace, f'\n[webhooks]\nses_topics = ["{TOPIC}"]\nevents = true\n')
    monkeypatch.setenv("BULLETIN_WEBHOOK_SECRET", SECRET)
    for web in start_web(workspace, smtp, monkeypatch):
        yield Hooks(web)


ACTIVE = dict.fromkeys(PEOPLE, "active")


def test_an_ses_bounce_is_recorded_once_with_its_evidence(hooks: Hooks,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    caplog.set_level(logging.INFO)
    fields = notification(ses_message(BOUNCE, recipients=["ann@example.org"],
                                      message_id=hooks.message_id("ann@example.org")))
    status, text = hooks.post_ses(fields)
    assert (status, text) == (200, "ok: 1 recorded, 0 already recorded, 0 not ours\n")
    assert hooks.loaded == [CERT_URL]
    ann = hooks.web.store.subscriber("ann@example.org")
    assert ann.status == "bounced" and ann.suppressed
    [row] = hooks.web.store.inbound.of(ann.id)
    assert (row.source, row.kind, row.status, row.reason, row.attribution, row.delivery_id) == \
        ("webhook", "hard", "5.1.1", "user-unknown", "message-id", hooks.rows["ann@example.org"])
    assert hooks.web.store.inbound.evidence(row.id) == json.dumps(fields).encode()
    assert any(r.action == "bounced" and "5.1.1 user-unknown" in (r.detail or "")
               for r in hooks.web.store.audit("ann@example.org"))

    # SNS delivers again (or a replay): counted once.
    assert hooks.post_ses(fields) == (200, "ok: 0 recorded, 1 already recorded, 0 not ours\n")
    assert hooks.recorded() == 1
    assert "ann@example.org" not in caplog.text


def test_an_ses_complaint_by_address_and_a_delivery(hooks: Hooks) -> None:
    fields = notification(ses_message(COMPLAINT, recipients=["bob@example.org"],
                                      message_id=hooks.message_id("bob@example.org")),
                          message_id="c0mpla1nt")
    assert hooks.post_ses(fields) == (200, "ok: 1 recorded, 0 already recorded, 0 not ours\n")
    assert hooks.statuses()["bob@example.org"] == "complained"
    [row] = hooks.web.store.inbound.of(hooks.ids["bob@example.org"])
    assert (row.kind, row.attribution) == ("complaint", "message-id")
    stranger = notification(ses_message(COMPLAINT, recipients=["stranger@example.net"]),
                            message_id="str4nger")
    assert hooks.post_ses(stranger) == (200, "ok: 0 recorded, 0 already recorded, 1 not ours\n")
    delivery = notification(ses_message(DELIVERY), message_id="d3l1very")
    assert hooks.post_ses(delivery) == (200, "ok: 0 recorded, 0 already recorded, 0 not ours\n")
    assert hooks.recorded() == 1


def test_a_bad_or_missing_signature_is_401_and_records_nothing(hooks: Hooks) -> None:
    message = ses_message(BOUNCE, recipients=["ann@example.org"])
    good = notification(message)
    forged = [notification(message, key=OTHER_KEY),
              {**good, "Message": good["Message"].replace("Permanent", "Transient")},
              {k: v for k, v in good.items() if k != "Signature"},
              {k: v for k, v in good.items() if k != "SigningCertURL"},
              {**good, "Signature": "bm90IGEgc2lnbmF0dXJl"},
              {**good, "SignatureVersion": "9"}]
    for fields in forged:
        status, text = hooks.post_ses(fields)
        assert status == 401 and len(text) < 80 and "ann@" not in text, text
    hostile = {**good, "SigningCertURL": "https://sns.us-east-1.amazonaws.com.evil.com/x.pem"}
    assert hooks.post_ses(hostile)[0] == 401
    assert set(hooks.loaded) <= {CERT_URL}  # nothing else was ever fetched
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE


def test_other_topics_malformed_and_oversized_bodies(hooks: Hooks) -> None:
    other = notification(ses_message(BOUNCE, recipients=["ann@example.org"]),
                         topic="arn:aws:sns:us-west-2:123456789012:SomeoneElses")
    assert hooks.post_ses(other)[0] == 403
    assert hooks.loaded == []  # refused before the certificate was asked for
    for body in [b"", b"{not json", b"[1, 2]", b'{"Type": "Notification"}', b"\xff\xfe",
                 b"[" * 100_000, b'{"a": ' * 30_000]:  # nested past Python's recursion limit
        assert hooks.post_ses(body)[0] == 400
    deep = b"[" * 100_000
    assert hooks.post_events(deep)[0] == 400  # signed, yet not the JSON expected
    huge = b'{"Message": "' + b"x" * MAX_BODY + b'"}'
    assert hooks.post_ses(huge)[0] == 413
    assert hooks.post_events(huge)[0] == 413
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE


def test_a_subscription_is_confirmed_only_on_sns(hooks: Hooks) -> None:
    assert hooks.post_ses(subscription()) == (200, "subscription confirmed\n")
    assert hooks.visited == [SUBSCRIBE_URL]
    elsewhere = subscription(url="https://evil.example/?Action=ConfirmSubscription")
    assert hooks.post_ses(elsewhere) == (200, "subscription noted\n")
    assert hooks.post_ses(subscription("UnsubscribeConfirmation")) == (200, "ok\n")
    assert hooks.visited == [SUBSCRIBE_URL]
    unsigned = {**subscription(), "Token": "another"}
    assert hooks.post_ses(unsigned)[0] == 401
    assert hooks.visited == [SUBSCRIBE_URL]


def test_a_certificate_that_cannot_be_fetched_now_is_503(hooks: Hooks) -> None:
    def down(url: str) -> x509.Certificate:
        raise Unavailable("the signing certificate could not be fetched; try again later")
    hooks.web.app.state.webhooks = Webhooks(certificates=down)
    response = hooks.web.http.post("/webhooks/ses", content=json.dumps(
        notification(ses_message(BOUNCE))).encode())
    assert response.status_code == 503 and response.headers["retry-after"] == "60"
    assert hooks.recorded() == 0


def test_generic_events_are_recorded_once(hooks: Hooks,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps({"events": [
        {"type": "bounce", "recipient": "ann@example.org", "bounce_type": "hard",
         "status": "5.1.1", "diagnostic": "550 5.1.1 no such user", "id": "evt-1",
         "message_id": hooks.message_id("ann@example.org")},
        {"type": "bounce", "recipient": "bob@example.org", "bounce_type": "soft",
         "status": "4.2.2", "id": "evt-2", "message_id": hooks.message_id("bob@example.org")},
        {"type": "complaint", "recipient": "cat@example.org", "id": "evt-3",
         "message_id": hooks.message_id("cat@example.org")},
        {"type": "bounce", "recipient": "nobody@example.net", "id": "evt-4"}]}).encode()
    assert hooks.post_events(body) == (200, "ok: 3 recorded, 0 already recorded, 1 not ours\n")
    assert hooks.statuses() == {"ann@example.org": "bounced", "bob@example.org": "active",
                                "cat@example.org": "complained"}
    [ann] = hooks.web.store.inbound.of(hooks.ids["ann@example.org"])
    assert (ann.attribution, ann.delivery_id) == ("message-id", hooks.rows["ann@example.org"])
    [bob] = hooks.web.store.inbound.of(hooks.ids["bob@example.org"])
    assert (bob.kind, bob.action) == ("soft", "counted")
    assert hooks.post_events(body) == (200, "ok: 0 recorded, 3 already recorded, 1 not ours\n")
    assert hooks.recorded() == 3
    assert not re.search(r"(ann|bob|cat|nobody)@", caplog.text)


def test_generic_refusals_record_nothing(hooks: Hooks,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps({"events": [{"type": "bounce", "recipient": "ann@example.org",
                                   "bounce_type": "hard", "id": "x"}]}).encode()
    now = time.time()
    assert hooks.post_events(body, at=now - 301)[0] == 401  # too old to be fresh
    # Far enough ahead that the whole second dropped from the timestamp, and the time the
    # request takes, cannot bring it back within the 300 s allowed.
    assert hooks.post_events(body, at=now + 360)[0] == 401
    assert hooks.post_events(body, secret="another-secret-entirely")[0] == 401
    assert hooks.post_events(body, signature="")[0] == 401
    assert hooks.post_events(body, signature="sha256=" + "0" * 64)[0] == 401
    response = hooks.web.http.post("/webhooks/events", content=body)  # no headers at all
    assert response.status_code == 401 and response.text == "signature missing\n"
    assert hooks.post_events(b"{not json")[0] == 400  # signed, but not JSON
    assert hooks.post_events(b'{"events": [{"type": "open"}]}')[0] == 400
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE
    monkeypatch.delenv("BULLETIN_WEBHOOK_SECRET")  # the operator forgot it: nobody gets in
    assert hooks.post_events(body)[0] == 503
    assert hooks.recorded() == 0


def test_a_store_that_cannot_be_used_is_503_and_the_retry_records(hooks: Hooks) -> None:
    def busy(*args: object) -> None:
        raise StoreError("cannot use the database: it is locked")

    body = json.dumps({"events": [{"type": "complaint", "recipient": "cat@example.org",
                                   "id": "c", "message_id": hooks.message_id("cat@example.org")
                                   }]}).encode()
    fields = notification(ses_message(BOUNCE, recipients=["ann@example.org"],
                                      message_id=hooks.message_id("ann@example.org")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hooks.web.store.inbound, "reads", busy)
        now = str(int(time.time()))
        response = hooks.web.http.post("/webhooks/events", content=body, headers={
            generic.TIMESTAMP_HEADER: now,
            generic.SIGNATURE_HEADER: generic.sign(SECRET.encode(), now, body)})
        assert response.status_code == 503 and response.headers["retry-after"] == "60"
        assert "locked" not in response.text
        assert hooks.post_ses(fields)[0] == 503
    assert hooks.recorded() == 0
    assert hooks.post_events(body)[0] == 200 and hooks.post_ses(fields)[0] == 200
    assert hooks.recorded() == 2


def test_both_are_off_unless_configured(web: Web) -> None:
    for path in ("/webhooks/ses", "/webhooks/events"):
        assert web.http.post(path, content=b"{}").status_code == 404


SOME_FIELDS = st.dictionaries(
    st.sampled_from(["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Subject",
                     "Signature", "SignatureVersion", "SigningCertURL", "SubscribeURL",
                     "Token"]),
    st.one_of(st.text(max_size=40), st.sampled_from(
        ["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation", TOPIC, "1",
         "2", CERT_URL, SUBSCRIBE_URL, ses_message(BOUNCE)]), st.integers(), st.none()))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ses_body=st.one_of(st.binary(max_size=300), SOME_FIELDS.map(
           lambda d: json.dumps(d).encode())),
       events_body=st.one_of(st.binary(max_size=300), st.builds(
           lambda e: json.dumps({"events": e}).encode(),
           st.lists(st.dictionaries(st.sampled_from(["type", "recipient", "id", "status"]),
                                    st.text(max_size=20)), max_size=3))),
       signature=st.one_of(st.none(), st.text(max_size=80),
                           st.text("0123456789abcdef", min_size=64, max_size=64).map(
                               lambda h: "sha256=" + h)),
       timestamp=st.one_of(st.none(), st.text(max_size=12), st.integers().map(str)))
def test_random_bodies_and_signatures_never_fail_the_service_nor_record(
        hooks: Hooks, ses_body: bytes, events_body: bytes, signature: str | None,
        timestamp: str | None) -> None:
    response = hooks.web.http.post("/webhooks/ses", content=ses_body)
    assert response.status_code in (400, 401, 403), response.text
    headers = {k: v for k, v in [(generic.SIGNATURE_HEADER, signature),
                                 (generic.TIMESTAMP_HEADER, timestamp)]
               if v is not None and v.isprintable() and v.isascii() and v == v.strip()}
    response = hooks.web.http.post("/webhooks/events", content=events_body, headers=headers)
    assert response.status_code == 401, response.text
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE



def test_a_body_is_recorded_all_or_nothing(hooks: Hooks) -> None:
    """The store fails at the body's second event: nothing of it is recorded (the 503 makes
    the provider post it again), and the retry records each event once."""
    record_many = hooks.web.store.inbound.record_many

    def fails_at_bob(items: list[Any]) -> Any:
        if any(arrival.recipient == "bob@example.org" for arrival, _, _ in items):
            raise StoreError("cannot use the database: it is locked")
        return record_many(items)

    body = json.dumps({"events": [
        {"type": "bounce", "recipient": "ann@example.org", "bounce_type": "hard", "id": "a",
         "message_id": hooks.message_id("ann@example.org")},
        {"type": "complaint", "recipient": "bob@example.org", "id": "b",
         "message_id": hooks.message_id("bob@example.org")}]}).encode()
    fields = notification(ses_message(BOUNCE, recipients=["cat@example.org", "bob@example.org"],
                                      message_id=hooks.message_id("cat@example.org")))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hooks.web.store.inbound, "record_many", fails_at_bob)
        assert hooks.post_events(body)[0] == 503
        assert hooks.post_ses(fields)[0] == 503
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE
    assert hooks.post_events(body) == (200, "ok: 2 recorded, 0 already recorded, 0 not ours\n")
    assert hooks.post_ses(fields) == (200, "ok: 2 recorded, 0 already recorded, 0 not ours\n")
    assert hooks.post_events(body) == (200, "ok: 0 recorded, 2 already recorded, 0 not ours\n")
    assert hooks.recorded() == 4


def test_a_body_that_fails_part_way_records_nothing(hooks: Hooks,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Any error at one event (here a bug at the second) is a 500 with nothing recorded."""
    real = process_module.attribute

    def breaks_at_bob(c: Any, *args: Any) -> Any:
        if c.recipients == ("bob@example.org",):
            raise RuntimeError("a bug")
        return real(c, *args)

    body = json.dumps({"events": [
        {"type": "bounce", "recipient": a, "bounce_type": "hard", "id": a,
         "message_id": hooks.message_id(a)} for a in PEOPLE]}).encode()
    monkeypatch.setattr(process_module, "attribute", breaks_at_bob)
    assert hooks.post_events(body)[0] == 500
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE
    monkeypatch.setattr(process_module, "attribute", real)
    assert hooks.post_events(body) == (200, "ok: 3 recorded, 0 already recorded, 0 not ours\n")

@pytest.mark.parametrize("recipient", ["ann@example.org.", "ann@exa\u200bmple.org", "a@b",
                                       "ann@example.org\x00", '"a"@example.org'])
def test_an_event_with_a_bad_address_is_400_naming_it_and_records_nothing(
        hooks: Hooks, recipient: str, caplog: pytest.LogCaptureFixture) -> None:
    body = json.dumps({"events": [
        {"type": "bounce", "recipient": "ann@example.org", "bounce_type": "hard", "id": "a",
         "message_id": hooks.message_id("ann@example.org")},
        {"type": "bounce", "recipient": recipient, "bounce_type": "hard", "id": "b",
         "issue": ISSUE}]}).encode()
    status, text = hooks.post_events(body)
    assert status == 400, text
    assert text.startswith("events.1.recipient: not a valid email address")
    assert text.count("\n") == 1 and recipient not in text and recipient not in caplog.text
    assert hooks.recorded() == 0 and hooks.statuses() == ACTIVE

