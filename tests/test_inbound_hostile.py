"""Hostile and awkward messages, each as a real server or person could send it: a report
whose quoted subject reads like an out-of-office, a DSN whose Final-Recipient is empty,
out-of-office replies with no header but a subject in German, French or Welsh, a body
with binary data. Each must be classed as what it is, and never an auto-reply as hard."""

from __future__ import annotations

import base64
import quopri
import signal
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.inbound import Classification, NotAnEmailError, classify
from bulletin.inbound.families.rfc3464 import MOST

ORIGINAL = ("From: News <news@bulletin.example>\n"
            "To: gone@corp.example\n"
            "Subject: {subject}\n"
            "Message-ID: <q1@bulletin.example>\n")


def exchange_ndr(subject: str) -> bytes:
    return (
        "From: Microsoft Outlook <postmaster@corp.example>\n"
        "To: bounces@bulletin.example\n"
        f"Subject: Undeliverable: {subject}\n"
        "MIME-Version: 1.0\nContent-Type: text/plain\n\n"
        "Delivery has failed to these recipients or groups:\n\n"
        "gone@corp.example\nThe email address you entered couldn't be found.\n\n"
        "Diagnostic information for administrators:\n"
        "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not "
        "found by SMTP address lookup'\n\nOriginal message headers:\n\n"
        + ORIGINAL.format(subject=subject)).encode()


def postfix_text(subject: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n"
        "To: bounces@bulletin.example\n"
        f"Subject: Undelivered Mail Returned to Sender: {subject}\n"
        "MIME-Version: 1.0\nContent-Type: text/plain\n\n"
        "<gone@corp.example>: host mx said: 550 5.1.1 <gone@corp.example>: Recipient "
        "address rejected: User unknown\n").encode()


@pytest.mark.parametrize("subject", ["Your out of office checklist",
                                     "Automatic reply etiquette", "Vacation ideas"])
@pytest.mark.parametrize("make", [exchange_ndr, postfix_text])
def test_a_bounce_quoting_an_out_of_office_subject_is_a_bounce(make, subject: str) -> None:
    got = classify(make(subject))
    assert (got.kind, got.recipients) == ("hard", ("gone@corp.example",))


def test_a_dsn_with_an_empty_final_recipient_names_the_quoted_original_recipient() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: bounces@bulletin.example\n"
        b"Subject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
        b"--B\nContent-Type: text/plain\n\nDelivery failed.\n"
        b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822;\nAction: failed\nStatus: 5.1.1\n\n"
        b"--B\nContent-Type: text/rfc822-headers\n\n"
        b"From: news@bulletin.example\nTo: Who <who@example.org>\n"
        b"Message-ID: <x1@bulletin.example>\n\n--B--\n")
    got = classify(raw)
    assert (got.kind, got.recipients, got.status) == ("hard", ("who@example.org",), "5.1.1")
    assert got.original_message_id == "<x1@bulletin.example>"


@pytest.mark.parametrize("subject", [
    "Ich bin bis 12.05. nicht im Büro", "Abwesenheitsnotiz: Newsletter",
    "Absent du bureau", "Absente du bureau jusqu'au 3 mai", "En congés",
    "Ymateb awtomatig: Newyddion", "Allan o'r swyddfa / Out of office",
    "Fuera de la oficina", "Fuori ufficio"])
def test_an_out_of_office_without_headers_is_known_by_its_subject(subject: str) -> None:
    raw = (f"From: Someone <someone@example.eu>\nTo: news@bulletin.example\n"
           f"Subject: {subject}\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\n\nBack soon.\n").encode()
    assert classify(raw).kind == "auto-reply"


def test_a_message_with_binary_data_in_its_body_says_so() -> None:
    with pytest.raises(NotAnEmailError, match="binary"):
        classify(b"From: x@y.example\nSubject: hi\n\n\x00\x00\x00\xff\xfe")


def reply(head: str, body: str) -> bytes:
    return (head + "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            + body).encode()


# RFC 3834 asks auto-responders to send with an empty Return-Path, to the envelope sender
# (the VERP address): a vacation reply whose words read like a failure is still one.
@pytest.mark.parametrize("raw", [
    reply("Return-Path: <>\nFrom: Jane <jane@example.org>\nTo: bounces+abc@bulletin.example\n"
          "Subject: Re: Issue 4\nAuto-Submitted: auto-replied (vacation)\n",
          "This mailbox is no longer in use and mail sent to it is not delivered to anyone.\n"
          "Please write to jane.new@example.org instead.\n"),
    reply("Return-Path: <>\nFrom: Jane <jane@example.org>\nTo: bounces+abc@bulletin.example\n"
          "Subject: Issue 4\nAuto-Submitted: auto-replied\n",
          "I am away. If my old address said 'user unknown', write to jane@example.net.\n"),
    reply("Return-Path: <>\nFrom: Jane <jane@gmail.example>\nTo: bounces+x@bulletin.example\n"
          "Subject: Re: Issue 4\nAuto-Submitted: auto-replied\n",
          "Hello, I am on leave until 4 May. Your mail was not delivered to my colleagues.\n"),
])
def test_an_rfc3834_auto_reply_with_an_empty_return_path_is_an_auto_reply(raw: bytes) -> None:
    got = classify(raw)
    assert got.kind == "auto-reply", got


def test_an_automatic_acknowledgement_in_failure_words_is_never_hard() -> None:
    raw = reply("From: Support <support@example.org>\nTo: bounces+abc@bulletin.example\n"
                "Subject: [Ticket #1234] Issue 4\nPrecedence: bulk\nReturn-Path: <>\n"
                "Auto-Submitted: auto-generated\n",
                "We received your request. Note: mail to unknown users will be rejected. "
                "User unknown.\n")
    assert classify(raw).kind != "hard"


def test_exim_marks_its_bounces_auto_replied_and_they_stay_bounces() -> None:
    raw = reply("Return-Path: <>\nFrom: Mail Delivery System <Mailer-Daemon@mx.example.net>\n"
                "To: bounces+abc@bulletin.example\nAuto-Submitted: auto-replied\n"
                "Subject: Mail delivery failed: returning message to sender\n",
                "This message was created automatically by mail delivery software.\n\n"
                "A message that you sent could not be delivered to one or more of its\n"
                "recipients. This is a permanent error. The following address(es) failed:\n\n"
                "  gone@example.org\n    SMTP error from remote mail server after RCPT TO:"
                "<gone@example.org>:\n    550 5.1.1 <gone@example.org>: User unknown\n")
    got = classify(raw)
    assert (got.kind, got.recipients) == ("hard", ("gone@example.org",))


def _within(seconds: int, work: Callable[[], object]) -> object:
    """`work()`, or a failure when it runs past `seconds` (a bound hundreds of times what
    it needs: the inputs below took hours on the quadratic code)."""
    def expired(signum: int, frame: object) -> None:
        raise TimeoutError(f"still working after {seconds} s")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        return work()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


REPORT = ("From: MAILER-DAEMON@mx.example.net\nTo: bounces@bulletin.example\n"
          "Subject: Undelivered Mail Returned to Sender\nReturn-Path: <>\n"
          "Content-Type: text/plain\n\n")


@pytest.mark.parametrize("line", [
    " " * 190_000 + "x",
    " " * 190_000 + "gone@example.org user unknown",
    "\t" * 100_000 + "> " + " " * 90_000 + "x@y.example",
    "-" * 190_000 + "!",
    "gone@example.org failed\n" + "\n" * 150_000 + "x",
    "message-id: <a@b.example>\n" + " \n" * 80_000 + "x",
    "This is the mail system at host x.\n" + " \n" * 80_000 + "<a@b.example>: 550 unknown",
])
def test_a_report_with_endless_white_space_or_dashes_is_classified_promptly(line: str) -> None:
    got = _within(300, lambda: classify((REPORT + line + "\n").encode()))
    assert isinstance(got, Classification)


DSN_FIELDS = (b"Reporting-MTA: dns; mx.corp.example\r\n\r\n"
              b"Final-Recipient: rfc822; gone@corp.example\r\nAction: failed\r\n"
              b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n")


@pytest.mark.parametrize(("encoding", "body"), [
    ("base64", base64.encodebytes(DSN_FIELDS)),
    ("quoted-printable", quopri.encodestring(DSN_FIELDS, quotetabs=True)),
])
def test_a_delivery_status_part_in_a_transfer_encoding_is_read(encoding: str,
                                                               body: bytes) -> None:
    raw = (b"From: postmaster@corp.example\r\nTo: bounces@bulletin.example\r\n"
           b"Subject: Undeliverable: Issue 4\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
           b"--B\r\nContent-Type: text/plain\r\n\r\n"
           b"Delivery has failed to these recipients or groups:\r\n\r\nJane Doe\r\n\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: "
           + encoding.encode() + b"\r\n\r\n" + body + b"\r\n--B--\r\n")
    got = classify(raw)
    assert (got.kind, got.recipients, got.status) == ("hard", ("gone@corp.example",), "5.1.1")


def test_a_feedback_report_part_in_base64_is_read() -> None:
    fields = (b"Feedback-Type: not-spam\r\nUser-Agent: FBL/1.0\r\nVersion: 1\r\n"
              b"Original-Rcpt-To: ann@example.org\r\n")
    raw = (b"From: fbl@isp.example\r\nTo: fbl@bulletin.example\r\nSubject: FW: Issue 4\r\n"
           b"MIME-Version: 1.0\r\n"
           b'Content-Type: multipart/report; report-type=feedback-report; boundary="B"\r\n\r\n'
           b"--B\r\nContent-Type: text/plain\r\n\r\nA report.\r\n"
           b"--B\r\nContent-Type: message/feedback-report\r\nContent-Transfer-Encoding: base64"
           b"\r\n\r\n" + base64.encodebytes(fields) + b"\r\n--B--\r\n")
    assert classify(raw).kind == "not-bounce"  # not-spam: changes nothing


def test_an_international_dsn_names_its_utf8_recipient_as_written() -> None:
    raw = ("From: MAILER-DAEMON@mx.example.net\nTo: bounces@bulletin.example\n"
           "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
           'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
           "--B\nContent-Type: text/plain; charset=utf-8\n\nThe mail system\n"
           "--B\nContent-Type: message/global-delivery-status; charset=utf-8\n\n"
           "Reporting-MTA: dns; mx.example.net\n\n"
           "Final-Recipient: utf-8; jäne@例え.jp\nAction: failed\nStatus: 5.1.1\n"
           "\n--B--\n").encode()
    got = classify(raw)
    assert (got.kind, got.recipients) == ("hard", ("jäne@例え.jp",))


_TEXTS = st.text(max_size=120) | st.sampled_from([
    "Final-Recipient: rfc822;\nAction: failed\nStatus: 5.1.1\n",
    "Final-Recipient: rfc822; a@b.example\nAction: failed\nStatus: 5.1.1\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\n",
    "Feedback-Type: abuse\nOriginal-Rcpt-To: a@b.example\n", "=?utf-7?B?K0FPay0=?=",
    "=?unknown-8bit?Q?=E9?=", "Message-ID: <x@y>\n\n", "-" * 300, " \n" * 200])


@st.composite
def _mime(draw: st.DrawFn, depth: int = 0) -> str:
    """A MIME part of any type, charset and transfer encoding, nested up to six deep, with
    boundaries that may be wrong or never closed."""
    kind = draw(st.sampled_from([
        "text/plain", "text/html", "message/rfc822", "message/delivery-status",
        "message/global-delivery-status", "message/feedback-report", "text/rfc822-headers",
        "multipart/report", "multipart/mixed", "application/octet-stream"]))
    charset = draw(st.sampled_from(["utf-8", "unknown-8bit", "utf-7", "x-unknown", "utf-16",
                                    "", "iso-2022-jp", "bogus\x00"]))
    encoding = draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "bogus"]))
    boundary = draw(st.text(alphabet="ab\"= ;-", max_size=5))
    head = (f'Content-Type: {kind}; charset="{charset}"; boundary="{boundary}"\n'
            f"Content-Transfer-Encoding: {encoding}\n")
    if kind.startswith("multipart/") and depth < 6:
        body = "".join(f"--{boundary}\n" + draw(_mime(depth + 1)) + "\n"
                       for _ in range(draw(st.integers(0, 3))))
        body += f"--{boundary}--\n" if draw(st.booleans()) else ""
    elif kind.startswith("message/") and depth < 6 and draw(st.booleans()):
        body = draw(_mime(depth + 1))
    else:
        body = draw(_TEXTS)
    return head + "\n" + body


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_mime(), st.sampled_from(["utf-8", "latin-1", "utf-16"]),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_any_report_shaped_mime_is_classified_or_refused_in_one_line(
        part: str, codec: str, end: str) -> None:
    raw = ("From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
           + part).replace("\n", end).encode(codec, "replace")
    try:
        got = classify(raw)
    except NotAnEmailError as error:
        assert "\n" not in str(error)
        return
    assert isinstance(got, Classification)
    assert all("@" in a for a in got.recipients)


def test_a_report_quoting_reports_five_deep_is_traced_by_the_innermost_original() -> None:
    inner = (b"From: News <news@bulletin.example>\nTo: deep@example.org\n"
             b"Message-ID: <deep@bulletin.example>\nSubject: Issue 4\n\nHello\n")
    for depth in range(5):
        inner = (b"From: MAILER-DAEMON@mx%d.example.net\nSubject: Undelivered Mail\n"
                 b"Message-ID: <report%d@mx.example.net>\nMIME-Version: 1.0\n"
                 b'Content-Type: multipart/report; report-type=delivery-status; boundary="N%d"'
                 b"\n\n--N%d\nContent-Type: text/plain\n\nDelivery failed.\n--N%d\n"
                 b"Content-Type: message/rfc822\n\n" % ((depth,) * 5)
                 + inner + b"\n--N%d--\n" % depth)
    got = classify(inner)
    assert got.kind != "hard"
    assert got.original_message_id == "<deep@bulletin.example>"


def test_a_report_naming_tens_of_thousands_of_recipients_is_read_up_to_a_thousand() -> None:
    blocks = "".join(f"Final-Recipient: rfc822; u{n}@example.org\nAction: failed\n"
                     f"Status: 5.1.1\n\n" for n in range(20_000))
    raw = ("From: MAILER-DAEMON@mx.example.net\nSubject: Undelivered Mail\nMIME-Version: 1.0\n"
           'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
           "--B\nContent-Type: text/plain\n\nDelivery failed.\n"
           "--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\n"
           + blocks + "--B--\n").encode()
    got = classify(raw)
    assert got.kind == "hard" and len(got.recipients) == MOST
    assert got.recipients[0] == "u0@example.org"
