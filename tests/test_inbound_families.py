"""Each family of inbound formats on a small message of its own, and the reasons vocabulary
on its own: the hard/soft decision is made from (status, text) alone, never by a parser."""

from __future__ import annotations

import pytest

from bulletin.inbound import classify
from bulletin.inbound.reasons import REASONS, is_hard, reason_for

ORIGINAL = (
    "From: News <news@bulletin.example>\n"
    "To: ana@Example.ORG\n"
    "Subject: Issue 4\n"
    "Message-ID: <issue-4.ana@bulletin.example>\n"
    "List-Id: News <news.bulletin.example>\n"
    "X-Bulletin-Issue: 4\n"
    "\n"
    "Hello\n")


def dsn(action: str = "failed", status: str = "5.1.1",
        diagnostic: str = "smtp; 550 5.1.1 <ana@example.org>: Recipient address rejected: "
                          "User unknown in local recipient table") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        "To: bounces+tok3n@bulletin.example\n"
        "Delivered-To: bounces+tok3n@bulletin.example\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
        "\n--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.net.\n"
        "\n--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; ana@Example.ORG\n"
        "Original-Recipient: rfc822;ana@Example.ORG\n"
        f"Action: {action}\nStatus: {status}\nDiagnostic-Code: {diagnostic}\n"
        "\n--B\nContent-Type: message/rfc822\n\n" + ORIGINAL + "\n--B--\n").encode()


def test_dsn_user_unknown_is_hard_with_everything_for_attribution() -> None:
    got = classify(dsn())
    assert (got.kind, got.family, got.status, got.reason) == ("hard", "rfc3464", "5.1.1",
                                                            "user-unknown")
    assert got.recipients == ("ana@example.org",)
    assert "User unknown" in (got.diagnostic or "")
    assert got.original_message_id == "<issue-4.ana@bulletin.example>"
    assert got.original_headers["List-Id"] == "News <news.bulletin.example>"
    assert got.original_headers["X-Bulletin-Issue"] == "4"
    assert got.envelope_to == "bounces+tok3n@bulletin.example"


@pytest.mark.parametrize(("action", "status", "diagnostic", "kind", "reason"), [
    ("failed", "5.2.2", "smtp; 552 5.2.2 Mailbox full", "soft", "mailbox-full"),
    ("failed", "5.7.1", "smtp; 550 5.7.1 Message rejected as spam", "soft", "spam-rejected"),
    ("failed", "5.7.1", "smtp; 554 5.7.1 Service unavailable; Client host blocked using "
                        "zen.spamhaus.org", "soft", "blocked"),
    ("failed", "5.4.4", "X-Postfix; Host or domain name not found", "hard", "host-unknown"),
    ("failed", "4.4.7", "X-Postfix; delivery temporarily suspended: connection timed out",
     "soft", "expired"),
    ("delayed", "4.4.1", "X-Postfix; connect to mx.example.org: Connection refused", "soft",
     "delayed"),
])
def test_dsn_reasons_decide_hard_or_soft(action: str, status: str, diagnostic: str, kind: str,
                                         reason: str) -> None:
    got = classify(dsn(action, status, diagnostic))
    assert (got.kind, got.reason, got.status) == (kind, reason, status)


def test_a_delivered_or_relayed_notice_is_not_a_bounce() -> None:
    delivered = classify(dsn("delivered", "2.0.0", "smtp; 250 ok"))
    assert (delivered.kind, delivered.recipients) == ("not-bounce", ())
    assert classify(dsn("relayed", "2.0.0", "smtp; 250 ok")).kind == "not-bounce"


def arf(feedback_type: str) -> bytes:
    return (
        "From: feedbackloop@fbl.example.com\nTo: fbl@bulletin.example\nSubject: complaint\n"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; '
        'boundary="F"\n\n--F\nContent-Type: text/plain\n\nAn abuse report.\n'
        f"\n--F\nContent-Type: message/feedback-report\n\nFeedback-Type: {feedback_type}\n"
        "User-Agent: FBL/1.0\nVersion: 1\nOriginal-Rcpt-To: ana@example.org\n"
        "\n--F\nContent-Type: message/rfc822\n\n" + ORIGINAL + "\n--F--\n").encode()


def test_arf_abuse_is_a_complaint_about_the_original_recipient() -> None:
    got = classify(arf("abuse"))
    assert (got.kind, got.family, got.recipients) == ("complaint", "arf", ("ana@example.org",))
    assert got.original_message_id == "<issue-4.ana@bulletin.example>"


def test_arf_opt_out_is_an_unsubscribe_and_not_spam_changes_nothing() -> None:
    assert classify(arf("opt-out")).kind == "unsubscribe"
    assert classify(arf("not-spam")).kind == "not-bounce"


def simple(subject: str, body: str, *, sender: str = "Ana <ana@example.org>",
           extra: str = "") -> bytes:
    return (f"From: {sender}\nTo: news@bulletin.example\nSubject: {subject}\n{extra}\n"
            f"{body}\n").encode()


@pytest.mark.parametrize(("subject", "extra"), [
    ("Re: Issue 4", "Auto-Submitted: auto-replied\n"),
    ("Re: Issue 4", "X-Autoreply: yes\n"),
    ("Re: Issue 4", "X-Autorespond: Issue 4\n"),
    ("Re: Issue 4", "Precedence: auto_reply\n"),
    ("Out of Office: Issue 4", ""),
    ("Automatic reply: Issue 4", ""),
    ("Abwesenheitsnotiz: Issue 4", ""),
    ("Réponse automatique : Issue 4", ""),
    ("Allan o'r swyddfa: Issue 4", ""),
    ("=?utf-8?q?R=C3=A9ponse_automatique?= Issue 4", ""),
    ("AUTO: Ana is out of the office (returning 05/01)", ""),
    ("Abwesenheit: Issue 4", ""),
    ("Автоответ: Issue 4", ""),
    ("自動応答: Issue 4", ""),
    ("Re: Issue 4", "X-Mail-Autoreply: yes\n"),
    ("Re: Issue 4", "X-Autogenerated: Reply\n"),
])
def test_auto_replies_in_their_common_forms(subject: str, extra: str) -> None:
    got = classify(simple(subject, "I am away until Monday; your mail could not be read.",
                          extra=extra))
    assert got.kind == "auto-reply"
    assert got.family == "autoreply-rfc3834"


def test_an_exim_bounce_marked_auto_replied_is_still_a_bounce() -> None:
    body = ("This message was created automatically by mail delivery software.\n\n"
            "A message that you sent could not be delivered to one or more of its\n"
            "recipients. This is a permanent error. The following address(es) failed:\n\n"
            "  ana@example.org\n    SMTP error from remote mail server after RCPT TO:"
            "<ana@example.org>:\n    550 5.1.1 User unknown\n")
    got = classify(simple("Mail delivery failed: returning message to sender", body,
                          sender="Mail Delivery System <Mailer-Daemon@mx.example.net>",
                          extra="Auto-Submitted: auto-replied\n"
                                "X-Failed-Recipients: ana@example.org\n"))
    assert (got.kind, got.family, got.recipients, got.reason) == (
        "hard", "exim", ("ana@example.org",), "user-unknown")


@pytest.mark.parametrize(("family", "sender", "subject", "body", "kind"), [
    ("qmail", "MAILER-DAEMON@mail.example.net", "failure notice",
     "Hi. This is the qmail-send program at mail.example.net.\nI'm afraid I wasn't able to "
     "deliver your message to the following addresses.\nThis is a permanent error; I've given "
     "up. Sorry it didn't work out.\n\n<ana@example.org>:\nSorry, no mailbox here by that name. "
     "(#5.1.1)\n", "hard"),
    ("postfix", "MAILER-DAEMON@mx.example.net (Mail Delivery System)",
     "Undelivered Mail Returned to Sender",
     "This is the Postfix program at host mx.example.net.\n\nI'm sorry to have to inform you "
     "that your message could not\nbe delivered to one or more recipients.\n\n"
     "<ana@example.org>: host mx.example.org[192.0.2.1] said: 552 5.2.2 Mailbox full "
     "(in reply to RCPT TO command)\n", "soft"),
    ("sendmail", "Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>",
     "Returned mail: see transcript for details",
     "The original message was received at Mon, 7 Dec 2026 01:00:00 GMT\n\n"
     "   ----- The following addresses had permanent fatal errors -----\n<ana@example.org>\n"
     "    (reason: 550 5.1.1 <ana@example.org>... User unknown)\n", "hard"),
    ("exchange", "postmaster@example.org", "Undeliverable: Issue 4",
     "Your message did not reach some or all of the intended recipients.\n\n"
     "The following recipient(s) could not be reached:\n\n"
     "      ana@example.org on 07/12/2026 01:00\n"
     "            The e-mail account does not exist at the organization this message was "
     "sent to.\n            <mx.example.org #5.1.1 smtp;550 5.1.1 RESOLVER.ADR.RecipNotFound>\n",
     "hard"),
    ("exchange", "Microsoft Outlook <postmaster@example.org>", "Undeliverable: Issue 4",
     "Delivery has failed to these recipients or groups:\n\nAna Example<mailto:ana@example.org>\n"
     "The email address you entered couldn't be found. Please check the recipient's email "
     "address and try to resend the message.\n", "hard"),
    ("gmail", "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
     "Delivery Status Notification (Failure)",
     "This is an automatically generated Delivery Status Notification\n\n"
     "Delivery to the following recipient failed permanently:\n\n     ana@example.org\n\n"
     "Technical details of permanent failure:\nThe email account that you tried to reach "
     "does not exist. 550 5.1.1\n", "hard"),
    ("yahoo", "MAILER-DAEMON@yahoo.com", "Failure Notice",
     "Sorry, we were unable to deliver your message to the following address.\n\n"
     "<ana@example.org>:\nRemote host said: 552 1 Requested mail action aborted, mailbox "
     "not found [RCPT_TO]\n", "hard"),
    ("domino", "Postmaster@example.org", "DELIVERY FAILURE: User ana not listed",
     "Your message\n\n  Subject: Issue 4\n\nwas not delivered to:\n\n  ana@example.org\n\n"
     "because:\n\n  User ana (ana@example.org) not listed in Domino Directory\n", "hard"),
])
def test_non_standard_bounce_bodies(family: str, sender: str, subject: str, body: str,
                                    kind: str) -> None:
    got = classify(simple(subject, body, sender=sender))
    assert (got.family, got.kind, got.recipients) == (family, kind, ("ana@example.org",))


def test_a_report_that_no_family_knows_falls_to_the_heuristic() -> None:
    got = classify(simple("Returned mail", "Delivery failed.\nThe address ana@example.org "
                          "does not exist here.\n", sender="postmaster@example.org"))
    assert (got.family, got.kind, got.recipients) == ("heuristic", "hard", ("ana@example.org",))


def test_an_ordinary_message_is_not_a_bounce() -> None:
    got = classify(simple("Lunch?", "Shall we meet at noon? Write to bob@example.net too."))
    assert (got.kind, got.family, got.recipients) == ("not-bounce", "none", ())
    # Exchange puts X-Auto-Response-Suppress on ordinary mail: it is no sign of an auto-reply.
    assert classify(simple("Lunch?", "Noon?", extra="X-Auto-Response-Suppress: All\n")
                    ).kind == "not-bounce"


def test_unsubscribe_token_from_the_subject_or_the_to_address() -> None:
    got = classify(simple("unsubscribe AbC123.xyz-9", ""))
    assert (got.kind, got.token) == ("unsubscribe", "AbC123.xyz-9")
    to_token = (b"From: ana@example.org\nTo: unsubscribe+t0k3nXY@bulletin.example\n"
                b"Subject: unsubscribe\n\nunsubscribe\n")
    assert classify(to_token).token == "t0k3nXY"


def test_unsubscribe_without_a_token_carries_none_and_needs_our_address() -> None:
    got = classify(simple("Unsubscribe", "please remove me"))
    assert (got.kind, got.token) == ("unsubscribe", None)  # never decided on From alone
    elsewhere = classify(simple("unsubscribe T0KEN12", ""),
                         unsubscribe_addresses=("unsubscribe@bulletin.example",))
    assert elsewhere.kind == "not-bounce"
    ours = classify(b"From: a@example.org\nTo: unsubscribe+T0KEN12@bulletin.example\n"
                    b"Subject: unsubscribe T0KEN12\n\n",
                    unsubscribe_addresses=("unsubscribe@bulletin.example",))
    assert (ours.kind, ours.token) == ("unsubscribe", "T0KEN12")


def test_challenge_response_is_an_auto_reply_not_a_bounce() -> None:
    got = classify(dsn("failed", "4.7.0", "X-Boxbe-Notice; Sender not pre-approved."))
    assert (got.kind, got.family) == ("auto-reply", "challenge-response")


@pytest.mark.parametrize(("status", "text", "reason"), [
    ("5.1.1", "", "user-unknown"),
    ("5.0.0", "550 No such user here", "user-unknown"),
    ("5.0.0", "Host or domain name not found", "host-unknown"),
    ("5.1.6", "", "has-moved"),
    ("5.0.0", "552 Quota exceeded", "mailbox-full"),
    ("5.3.4", "", "too-large"),
    ("5.1.1", "max message size exceeded", "too-large"),
    ("5.1.1", "Service unavailable; client host blocked using zen.spamhaus.org", "blocked"),
    ("5.1.1", "<a@b.example>: Recipient address rejected: User unknown; blocked", "user-unknown"),
    ("5.7.1", "Message rejected because it looks like SPAM", "spam-rejected"),
    ("5.7.1", "Client host [192.0.2.1] blocked using bl.spamcop.net", "blocked"),
    ("5.7.26", "Unauthenticated email is not accepted due to DMARC policy", "policy"),
    ("5.0.0", "Mailbox currently suspended", "suspended"),
    ("4.4.7", "", "expired"),
    (None, "", "unknown"),
])
def test_reason_from_status_and_text(status: str | None, text: str, reason: str) -> None:
    assert reason_for(status, text) == reason


def test_hard_is_only_a_dead_address() -> None:
    hard = {r for r, dead in REASONS.items() if dead}
    assert hard == {"user-unknown", "host-unknown", "has-moved", "not-accepted"}
    assert is_hard("user-unknown", "5.1.1")
    assert is_hard("user-unknown", "4.1.1")  # a server saying "no such user" means it
    assert not is_hard("user-unknown", "4.1.1", permanent=False)  # a delay warning
    assert not is_hard("not-accepted", "4.7.1")
    assert is_hard("not-accepted", "5.7.1")
    assert not any(is_hard(r, "5.0.0") for r in REASONS if r not in hard)


def test_an_out_of_office_sent_with_a_null_sender_is_still_an_auto_reply() -> None:
    got = classify(b"Return-Path: <>\nFrom: Ana <ana@example.org>\nTo: news@bulletin.example\n"
                   b"Subject: Automatic reply: Issue 4\nAuto-Submitted: auto-replied\n\n"
                   b"I am out of the office. Mail sent to me could not be delivered before "
                   b"Monday; it was rejected by nobody.\n")
    assert (got.kind, got.recipients) == ("auto-reply", ())


def test_an_unsubscribe_request_names_no_one_by_its_from_address() -> None:
    got = classify(simple("unsubscribe", "unsubscribe"))
    assert (got.kind, got.recipients, got.token) == ("unsubscribe", (), None)


def test_a_no_reply_notification_with_failure_words_is_never_a_hard_bounce() -> None:
    got = classify(simple("Your order update", "We could not deliver your parcel: the address "
                          "ana@example.org does not exist. Delivery failed.",
                          sender="Shop <noreply@shop.example>"))
    assert got.kind == "not-bounce"
    guess = classify(simple("Undeliverable", "The address ana@example.org does not exist.",
                            sender="Shop <noreply@shop.example>"))
    assert guess.kind != "hard"  # words alone, from no mail system, never suppress anyone


def test_microsofts_jmrp_complaint_names_the_original_recipient() -> None:
    got = classify(
        b"From: <staff@hotmail.com>\nTo: abuse@bulletin.example\n"
        b"Subject: complaint about message from 192.0.2.1\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="J"\n\n--J\nContent-Type: message/rfc822\n\n'
        b"X-HmXmrOriginalRecipient: ana@example.org\n" + ORIGINAL.encode() + b"\n--J--\n")
    assert (got.kind, got.family, got.recipients) == ("complaint", "arf", ("ana@example.org",))
    assert got.original_headers["Message-ID"] == "<issue-4.ana@bulletin.example>"
    with pytest.raises(TypeError):
        got.original_headers["To"] = "x"  # type: ignore[index]


def test_a_recipient_field_with_brackets_and_a_comment_gives_the_bare_address() -> None:
    data = dsn().replace(b"Original-Recipient: rfc822;ana@Example.ORG\n", b"").replace(
        b"Final-Recipient: rfc822; ana@Example.ORG",
        b"Final-Recipient: rfc822; <Ana@Example.ORG> (Ana)")
    assert classify(data).recipients == ("Ana@example.org",)


def test_the_reason_may_come_before_the_address_and_is_never_read_from_the_address() -> None:
    got = classify(simple("Mail System Error - Returned Mail",
                          "The user(s) account is disabled.\n\n<no-such-user@example.org>\n",
                          sender="Postmaster@example.org"))
    assert (got.kind, got.reason, got.recipients) == ("soft", "suspended",
                                                      ("no-such-user@example.org",))


def test_the_envelope_is_the_address_before_forwarding() -> None:
    forwarded = (b"Delivered-To: mailbox@bulletin.example\n"
                 b"Delivered-To: bounces+t0k3n@bulletin.example\n") + dsn().replace(
        b"Delivered-To: bounces+tok3n@bulletin.example\n", b"")
    assert classify(forwarded).envelope_to == "bounces+t0k3n@bulletin.example"
    postfix = b"X-Original-To: bounces+abc@bulletin.example\n" + forwarded
    assert classify(postfix).envelope_to == "bounces+abc@bulletin.example"


def test_a_telephone_number_at_an_sms_gateway_is_a_recipient_not_a_message_id() -> None:
    got = classify(simple("Re: Issue 4", "Error: Invalid user address\n\n550 - Requested action "
                          "not taken: no such user here\n\n  RCPT TO: 5551234567@vtext.example\n",
                          sender="post_master@vtext.example"))
    assert (got.kind, got.recipients) == ("hard", ("5551234567@vtext.example",))
