"""A person forwarding a bounce they received ("Fwd:"/"FW:" subject, From a person, the
report quoted inline or attached as message/rfc822) is passing on a report about their own
mail, which names their own correspondents: it is never a bounce of ours, so it must never
suppress anyone. Each bounce of the corpus (tests/data/inbound), forwarded both ways
under several prefixes, is classed not-bounce; the same reports as received stay hard, and a
report whose subject merely starts "FW:" but comes from a mailer daemon is still read."""

from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from bulletin.inbound import classify

CORPUS = Path(__file__).parent / "data" / "inbound"
ANSWERS: dict[str, dict[str, Any]] = json.loads((CORPUS / "answers.json").read_text())
BOUNCES = sorted(name for name, answer in ANSWERS.items()
                 if set(answer["kind"]) & {"hard", "soft"} and "not-bounce" not in answer["kind"])
PERSON = "Ann Person <ann.person@example.org>"


def _subject(raw: bytes) -> str:
    found = message_from_bytes(raw, policy=policy.compat32)["Subject"]
    return " ".join(str(found or "").split())[:100]


def inline(raw: bytes, prefix: str, sender: str = PERSON) -> bytes:
    head = (f"From: {sender}\r\nTo: editor@example.gov.wales\r\n"
            f"Subject: {prefix} {_subject(raw)}\r\nMessage-ID: <fwd-1@example.org>\r\n"
            "Date: Mon, 7 Dec 2026 06:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")
    return (head + "Is the newsletter broken? I got this when I wrote to a colleague.\r\n\r\n"
            "---------- Forwarded message ---------\r\n").encode("utf-8") + raw


def attached(raw: bytes, prefix: str) -> bytes:
    head = (f"From: {PERSON}\r\nTo: editor@example.gov.wales\r\n"
            f"Subject: {prefix} {_subject(raw)}\r\nMessage-ID: <fwd-2@example.org>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"fwd-b0undary\"\r\n"
            "\r\n--fwd-b0undary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            "See the bounce attached. Ann\r\n\r\n--fwd-b0undary\r\n"
            "Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n")
    return head.encode() + raw + b"\r\n--fwd-b0undary--\r\n"


def test_the_corpus_has_bounces_of_many_formats_read_as_bounces() -> None:
    assert len(BOUNCES) >= 200
    found = [classify((CORPUS / name).read_bytes()) for name in BOUNCES]
    assert sum(c.kind == "hard" for c in found) >= 100
    assert {"rfc3464", "postfix", "exim", "qmail", "gmail", "exchange", "sendmail", "yahoo",
            "domino"} <= {c.family for c in found}


@pytest.mark.parametrize("prefix", ["Fwd:", "FW:", "Fw:", "RE: Fwd:"])
def test_a_forwarded_bounce_is_never_a_bounce(prefix: str) -> None:
    wrong = []
    for name in BOUNCES:
        raw = (CORPUS / name).read_bytes()
        for how, body in (("inline", inline(raw, prefix)), ("attached", attached(raw, prefix))):
            c = classify(body)
            if (c.kind, c.reason) != ("not-bounce", "forwarded"):
                wrong.append(f"{how} {name}: {c.kind} ({c.family})")
    assert not wrong, f"{len(wrong)} forwards classed as reports:\n" + "\n".join(wrong)


def test_a_report_from_a_mailer_daemon_is_read_whatever_its_subject() -> None:
    """The rule is about people: a daemon's report with a "FW:" subject is still a report."""
    name = next(n for n in BOUNCES if classify((CORPUS / n).read_bytes()).family == "postfix"
                and classify((CORPUS / n).read_bytes()).kind == "hard")
    raw = (CORPUS / name).read_bytes()
    daemon = inline(raw, "FW:", sender="MAILER-DAEMON@mail.example.org (Mail Delivery System)")
    assert classify(daemon).kind == "hard"
