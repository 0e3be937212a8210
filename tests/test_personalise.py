"""Byte-patched messages decode to exactly what the slow EmailMessage path builds."""

from __future__ import annotations

import email
import email.utils
import html
import re
from dataclasses import replace
from email import policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.dotstuff import stuff_lines
from bulletin.message import Recipient, build_message, to_bytes
from bulletin.personalise import MessageTemplate, _fold_both, qp_fold
from bulletin.send.smtp import dot_stuff, dot_unstuff
from bulletin.workflow import Prepared

KEY = b"k" * 32
names = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=30)
local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.+-_=&'", min_size=1,
                      max_size=30).filter(lambda s: not s.startswith(".") and ".." not in s
                                          and not s.endswith("."))
recipients = st.builds(lambda i, n, local: Recipient(str(i), f"{local}@example.org", n),
                       st.integers(1, 10**9), names, local_parts)


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(recipients)
def test_same_message_as_the_slow_path(example: Prepared, recipient: Recipient) -> None:
    base = example.workspace.settings.base_url
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter, base, KEY)
    date = "Tue, 01 Feb 2022 09:00:00 +0000"
    _, fast = template.message(recipient, date)
    slow = build_message(example.rendered, example.loaded.newsletter, base, recipient, KEY,
                         now=email.utils.parsedate_to_datetime(date))
    got, want = parse(fast), parse(to_bytes(slow))
    for name in ("From", "To", "Subject", "Date", "Reply-To", "List-Id", "List-Unsubscribe",
                 "List-Unsubscribe-Post", "Feedback-ID", "MIME-Version"):
        assert got[name] == want[name], name
    assert got["Message-ID"] != want["Message-ID"]
    assert re.fullmatch(r"<[0-9a-f]{24}@example\.gov\.wales>", got["Message-ID"])
    assert [p.get_content() for p in got.iter_parts()] == \
        [p.get_content() for p in want.iter_parts()]
    assert [p.get_content_type() for p in got.iter_parts()] == ["text/plain", "text/html"]
    lines = fast.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    body = fast.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76
    assert b"\n" not in fast.replace(b"\r\n", b"")
    # As a send makes it: its delivery token in the Message-ID, dot-stuffed for DATA.
    token = template.signer.sign_delivery(int(recipient.id))
    message_id, stuffed = template.message(recipient, date, stuffed=True, token=token)
    assert re.fullmatch(rf"<{token}\.[0-9a-f]{{10}}@example\.gov\.wales>", message_id)
    assert dot_unstuff(stuffed) == fast.replace(got["Message-ID"].encode(), message_id.encode())


@given(st.one_of(st.text(max_size=300),
                st.text(alphabet=".aé=/", max_size=300)))
def test_qp_fold_round_trip_and_line_length(value: str) -> None:
    folded = qp_fold(value)
    assert all(len(line) <= 76 for line in folded.split(b"\r\n"))
    assert not any(line.startswith(b".") for line in folded.split(b"\r\n"))
    import quopri
    assert quopri.decodestring(folded.replace(b"\r\n", b"\n")).decode("utf-8") == value


# URLs with their tokens and addresses, of one to four lines, dots where a line could start.
lengths = st.one_of(st.sampled_from([74, 75, 76, 149, 150, 151, 152, 226]), st.integers(0, 240))
line_starts = st.sets(st.sampled_from([0, 1, 74, 75, 76, 149, 150, 151, 225]))
values = st.one_of(
    st.text(max_size=200),
    st.builds(lambda n, dots, fill: "".join("." if i in dots else fill for i in range(n)),
              lengths, line_starts, st.sampled_from(["a", "-", "é", "&"])),
    st.builds(lambda *s: "".join(s), st.sampled_from(["https://n.example/unsubscribe/", ""]),
              st.text(alphabet="aZ09-_.", max_size=240)),
    st.text(alphabet="a.@&<>\"'=é", max_size=160))


@settings(max_examples=500)
@given(values)
def test_values_are_folded_as_qp_fold_folds_them(value: str) -> None:
    assert _fold_both(value) == (qp_fold(value), qp_fold(html.escape(value)))


def test_placeholder_free_text_is_untouched(example: Prepared) -> None:
    base = example.workspace.settings.base_url
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter, base, KEY,
                                     subject_prefix="[TEST] ")
    _, data = template.message(Recipient("1", "a@example.org", "Ann"))
    message = parse(data)
    assert message["Subject"] == "[TEST] Cohes3ion Newsletter Issue 4"
    assert "%%" not in data.decode("ascii")


@pytest.mark.parametrize("name", ["Siân Ŵyn", 'Quote "Me", Please', ""])
def test_display_names(example: Prepared, name: str) -> None:
    template = MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, KEY)
    _, data = template.message(Recipient("1", "a@example.org", name))
    to = parse(data)["To"]
    assert to.addresses[0].display_name == name and to.addresses[0].addr_spec == "a@example.org"


# Text whose lines start with dots wherever QP or the placeholders could put them.
dotted = st.lists(st.sampled_from([".", "..", ".x", "a", " ", "\n", "%%unsubscribe_url%%",
                                   "%%email%%", "=", "é"]), max_size=60).map("".join)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(recipients, dotted, dotted)
def test_stuffed_message_is_the_dot_stuffed_message(example: Prepared, recipient: Recipient,
                                                    text: str, html: str) -> None:
    rendered = replace(example.rendered, text=text + "\n.\n", html="." + html)
    template = MessageTemplate.build(rendered, example.loaded.newsletter,
                                     "https://news.example.org/.", KEY)
    date = "Tue, 01 Feb 2022 09:00:00 +0000"
    plain = template.message(recipient, date)[1]
    # Same Message-ID both times, so the two messages can be compared byte for byte.
    stuffed = template.message(recipient, date, stuffed=True)[1]
    message_id = parse(plain)["Message-ID"]
    stuffed = re.sub(rb"Message-ID: <[^>]+>", f"Message-ID: {message_id}".encode(), stuffed)
    assert stuffed == dot_stuff(plain)


# Lines of CRLF-ended text whose starts and ends are dots and line breaks, cut into pieces
# that each start a line, as MessageTemplate cuts a message.
dotted_lines = st.lists(st.text(alphabet=".a\r\n", max_size=8).map(
    lambda s: s.replace("\r", "").replace("\n", "\r\n").encode() + b"\r\n"), max_size=12)


@given(st.lists(dotted_lines, max_size=6))
def test_stuffing_piece_by_piece_is_stuffing_the_whole(pieces: list[list[bytes]]) -> None:
    parts = [b"".join(lines) for lines in pieces]
    assert b"".join(stuff_lines(part) for part in parts) == dot_stuff(b"".join(parts))


def test_a_placeholder_without_a_value_of_its_own_fails_the_build(
        example: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    """A placeholder name the template makes no value for stops the build, rather than
    filling its holes with another value's bytes."""
    from bulletin import placeholders

    monkeypatch.setattr(placeholders, "NAMES", (*placeholders.NAMES, "first_name"))
    rendered = replace(example.rendered, text=example.rendered.text + "\nHello %%first_name%%\n")
    with pytest.raises(ValueError, match="first_name"):
        MessageTemplate.build(rendered, example.loaded.newsletter, "https://example.org", KEY)
