"""The sample .eml: a complete multipart/alternative message with the list headers."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bulletin.cli import app
from tests.conftest import EXAMPLE
from tests.waiting import SAFETY


@pytest.fixture(scope="module")
def eml(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(app, ["render", str(EXAMPLE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "cohes3ion-04.eml", "cohes3ion-04.html", "cohes3ion-04.txt"]
    return (out / "cohes3ion-04.eml").read_bytes()


@pytest.fixture(scope="module")
def message(eml: bytes) -> EmailMessage:
    return email.message_from_bytes(eml, policy=policy.default)


def test_multipart_alternative_with_text_first(message: EmailMessage) -> None:
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    text, html = (p.get_content() for p in parts)
    assert "Södertälje" in text and "Södertälje" in html
    assert "<" not in text.split("Unsubscribe:")[0].replace("<https://", "")


def test_required_headers(message: EmailMessage) -> None:
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id",
                 "List-Unsubscribe", "List-Unsubscribe-Post", "Reply-To", "Feedback-ID"):
        assert message[name], name
    assert message["Subject"] == "Cohes3ion Newsletter Issue 4"
    assert message["From"] == "Welsh Government <cohes3ion@example.gov.wales>"
    assert message["List-Id"] == ('"Cohes3ion Newsletter" '
                                  '<cohes3ion.bulletins.example.gov.wales>')


def test_list_unsubscribe_is_plain_https_and_one_click(eml: bytes) -> None:
    headers = eml.split(b"\r\n\r\n", 1)[0].decode("ascii")
    line = next(h for h in headers.split("\r\n") if h.startswith("List-Unsubscribe:"))
    assert "=?" not in line
    assert re.fullmatch(r"List-Unsubscribe: <https://bulletins\.example\.gov\.wales/"
                        r"unsubscribe/[A-Za-z0-9_.-]+>, <mailto:[^>]+>", line)
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in headers.split("\r\n")


def test_no_address_in_any_url(message: EmailMessage) -> None:
    for part in message.iter_parts():
        for url in re.findall(r"https?://[^\s\"<>]+", part.get_content()):
            assert "subscriber@example.com" not in url
            assert "subscriber%40example.com" not in url


def test_placeholders_are_filled(message: EmailMessage) -> None:
    for part in message.iter_parts():
        assert "%%" not in part.get_content()
        assert "subscriber@example.com" in part.get_content()


def test_line_lengths(eml: bytes) -> None:
    lines = eml.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    body = eml.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # quoted-printable


@pytest.mark.slow
def test_spamassassin_local_rules_score_below_one(eml: bytes) -> None:
    spamassassin = shutil.which("spamassassin")
    if spamassassin is None:
        pytest.fail("spamassassin is missing: run .ci/install (Debian package spamassassin)")
    result = subprocess.run([spamassassin, "-L", "-t"], input=eml, capture_output=True,
                            timeout=SAFETY, check=True)
    report = result.stdout.decode("utf-8", "replace")
    match = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.MULTILINE)
    assert match, report[:2000]
    score = float(match.group(1))
    assert score < 1.0, report.split("Content analysis details", 1)[-1]


def test_render_replaces_outputs_whole(tmp_path: Path) -> None:
    (tmp_path / "cohes3ion-04.html").write_text("old")
    result = CliRunner().invoke(app, ["render", str(EXAMPLE), "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert (tmp_path / "cohes3ion-04.html").read_text().startswith("<!doctype html>")
    assert not list(tmp_path.glob("*.tmp"))
