"""Any bytes in, a Classification out, or NotAnEmailError (a BulletinError with a one-line
message) for input that is not an email; never any other exception. Random bytes, random
header-shaped text, and random mutations (flipped, inserted, deleted bytes, truncation) of
the real messages in the corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulletin.errors import BulletinError
from bulletin.inbound import KINDS, Classification, NotAnEmailError, classify

CORPUS = Path(__file__).parent / "data" / "inbound"
MESSAGES = [p.read_bytes() for p in sorted(CORPUS.rglob("*"))
            if p.is_file() and p.name not in ("LICENSE", "README.md", "answers.json")]


def _check(data: bytes) -> None:
    try:
        got = classify(data)
    except NotAnEmailError as error:
        assert isinstance(error, BulletinError)
        message = str(error)
        assert message and "\n" not in message and len(message) < 200
        return
    assert isinstance(got, Classification)
    assert got.kind in KINDS
    assert all(isinstance(a, str) and "@" in a for a in got.recipients)
    assert len({a.lower() for a in got.recipients}) == len(got.recipients)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        if action == "flip":
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=40))
        elif action == "delete":
            del data[where:where + draw(st.integers(1, 200))]
        elif action == "truncate":
            del data[where:]
        else:
            other = draw(st.sampled_from(MESSAGES))
            data[where:] = other[draw(st.integers(0, max(0, len(other) - 1))):]
    return bytes(data)


HEADERISH = st.lists(
    st.tuples(st.sampled_from(["From", "To", "Subject", "Content-Type", "Auto-Submitted",
                               "X-Failed-Recipients", "Precedence", "Return-Path",
                               "Content-Transfer-Encoding", "MIME-Version"]),
              st.text(max_size=60)),
    max_size=8).map(lambda pairs: "".join(f"{k}: {v}\r\n" for k, v in pairs))


FIELD_VALUE = st.one_of(st.text(max_size=80), st.sampled_from(
    ["rfc822; a@b.example", "failed", "delayed", "5.1.1", "4.4.7", "smtp; 550 5.1.1 no",
     "rfc822;", ";", "utf-8; ü@bü.example", "<>", "x" * 300]))


@st.composite
def reports(draw: st.DrawFn) -> bytes:
    """multipart/report messages with random delivery-status and feedback-report fields."""
    kind = draw(st.sampled_from(["delivery-status", "feedback-report"]))
    fields = draw(st.lists(st.tuples(
        st.sampled_from(["Final-Recipient", "Original-Recipient", "Action", "Status",
                         "Diagnostic-Code", "Feedback-Type", "Original-Rcpt-To",
                         "X-Actual-Recipient", "Reporting-MTA"]), FIELD_VALUE), max_size=12))
    blocks = "\n".join(f"{k}: {v}" for k, v in fields).replace("\n\n", "\n")
    body = draw(st.text(max_size=300))
    quoted = draw(st.sampled_from(["", "From: a@b.example\nTo: c@d.example\n\nhi\n"]))
    return (f"From: MAILER-DAEMON@mx.example\nSubject: Undelivered Mail\n"
            f'Content-Type: multipart/report; report-type={kind}; boundary="B"\n\n'
            f"--B\nContent-Type: text/plain\n\n{body}\n"
            f"--B\nContent-Type: message/{kind}\n\n{blocks}\n"
            f"--B\nContent-Type: message/rfc822\n\n{quoted}\n--B--\n"
            ).encode("utf-8", "surrogatepass")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_random_reports_never_crash(data: bytes) -> None:
    _check(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_random_bytes_never_crash(data: bytes) -> None:
    _check(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(HEADERISH, st.text(max_size=500))
def test_random_headers_and_bodies_never_crash(head: str, body: str) -> None:
    _check((head + "\r\n" + body).encode("utf-8", "surrogatepass"))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_corpus_messages_never_crash(data: bytes) -> None:
    _check(data)


@pytest.mark.slow
@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_many_mutated_corpus_messages_never_crash(data: bytes) -> None:
    _check(data)


def test_parts_nested_too_deeply_are_a_one_line_error() -> None:
    head = b'From: a@b.example\nContent-Type: multipart/mixed; boundary="b0"\n\n'
    body = b"".join(b'--b%d\nContent-Type: multipart/mixed; boundary="b%d"\n\n' % (i, i + 1)
                    for i in range(3000))
    with pytest.raises(NotAnEmailError, match=r"^not an email that can be read: [^\n]+$"):
        classify(head + body)


@pytest.mark.parametrize("data", [b"", b"   \n\n", b"\x00\x01\x02binary", b"%PDF-1.7\n%\xe2\xe3",
                                  b"just some words, no header", "\ufeff".encode() + b"<html>"])
def test_what_is_not_an_email_is_a_one_line_error(data: bytes) -> None:
    with pytest.raises(NotAnEmailError, match=r"^not an email: [^\n]+$"):
        classify(data)
