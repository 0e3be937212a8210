"""Header safety: what a subscriber's name, an address or the subject can do to a message's
headers. A subject with a line break is a `bulletin check` error with its line (not a
traceback later); a long name is folded into encoded words of at most 75 characters, no line
over 998 octets; a name that looks like an encoded word is read back as the text it is; an
internationalised domain goes out as punycode."""

from __future__ import annotations

import email
import email.header
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.message import Recipient, build_message, to_bytes
from bulletin.personalise import MessageTemplate
from bulletin.workflow import Prepared
from tests.cli_runner import run

KEY = b"k" * 32
DATE = "Tue, 01 Feb 2022 09:00:00 +0000"
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
INJECTION = "=?utf-8?q?Bcc=3A_evil=40example=2Eorg?="


@pytest.fixture(scope="module")
def template(example: Prepared) -> MessageTemplate:
    return MessageTemplate.build(example.rendered, example.loaded.newsletter,
                                 example.workspace.settings.base_url, KEY)


def message_for(template: MessageTemplate, recipient: Recipient) -> bytes:
    return template.message(recipient, DATE)[1]


def parse(data: bytes) -> EmailMessage:
    """As a mail reader would: UTF-8 header bytes (RFC 6532) read as text."""
    message = email.message_from_string(data.decode("utf-8"), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header_section(data: bytes) -> bytes:
    return data.split(b"\r\n\r\n", 1)[0]


def raw_to(data: bytes) -> str:
    """The To field as written, its folds undone."""
    match = re.search(rb"^To: (.*?)\r\n(?! )", header_section(data), re.M | re.S)
    assert match is not None
    return match[1].replace(b"\r\n ", b" ").decode("utf-8")


# The subject ---------------------------------------------------------------------------------

SUBJECT_ISSUE = """
newsletter: cohes3ion
date: 2022-03-01
subject: "Issue 5\\r\\nBcc: evil@example.org"
preheader: What is new this month.
sections:
  - heading: Hi
    body: Hello.
"""


def test_a_subject_with_a_line_break_is_a_check_error_with_its_line(
        write_issue: Callable[..., Path]) -> None:
    path = write_issue(SUBJECT_ISSUE)
    code, output = run("check", str(path))
    assert code == 1
    assert re.search(rf"error subject-line-break {re.escape(str(path))}:3: the subject has "
                     "a line break", output.replace("\n", " ")), output


def test_a_subject_with_a_line_break_is_a_one_line_error_in_render(
        write_issue: Callable[..., Path], tmp_path: Path) -> None:
    code, output = run("render", str(write_issue(SUBJECT_ISSUE)), "--out", str(tmp_path / "o"))
    assert code == 1
    assert output.count("Error:") == 1 and "Subject header would have a line break" in output


# Names and addresses -------------------------------------------------------------------------

def test_a_name_of_200_emoji_is_folded_into_short_encoded_words(template: MessageTemplate) -> None:
    name = "\N{GRINNING FACE}" * 200
    data = message_for(template, Recipient("1", "ann@example.org", name))
    to_field = re.search(rb"^To: .*?\r\n(?! )", header_section(data) + b"\r\n", re.M | re.S)
    assert to_field is not None
    assert max(len(line) for line in to_field[0].split(b"\r\n")) <= 78
    words = ENCODED_WORD.findall(raw_to(data))
    assert len(words) > 1 and max(len(word) for word in words) <= 75
    to = parse(data)["To"].addresses[0]
    assert to.addr_spec == "ann@example.org"
    assert to.display_name.replace(" ", "") == name  # (see test_any_name_and_address)
    assert _rfc2047_name(data) == name


def test_a_name_that_looks_like_an_encoded_word_stays_that_text(template: MessageTemplate) -> None:
    data = message_for(template, Recipient("1", "ann@example.org", INJECTION))
    message = parse(data)
    assert message["Bcc"] is None
    to = message["To"].addresses
    assert [(a.display_name, a.addr_spec) for a in to] == [(INJECTION, "ann@example.org")]
    assert not message["To"].defects
    assert "evil@example.org" not in str(message["To"])


def test_an_internationalised_domain_goes_out_as_punycode(template: MessageTemplate) -> None:
    data = message_for(template, Recipient("1", "ann@bücher.de", "Ann"))
    assert header_section(data).isascii()
    assert parse(data)["To"].addresses[0].addr_spec == "ann@xn--bcher-kva.de"
    text = parse(data).get_body(("plain",)).get_content()
    assert "ann@bücher.de" in text  # %%email%% in the text: as the reader knows it


def test_a_non_ascii_local_part_makes_utf8_headers(template: MessageTemplate) -> None:
    data = message_for(template, Recipient("1", "siân@bücher.de", "Siân"))
    assert parse(data)["To"].addresses[0].addr_spec == "siân@xn--bcher-kva.de"
    assert b"To: =?utf-8?b?U2nDom4=?= <si\xc3\xa2n@xn--bcher-kva.de>\r\n" in data


def _rfc2047_name(data: bytes) -> str:
    """The display name as RFC 2047 reads it: white space between adjacent encoded words
    ignored (6.2). Python's modern parser puts a space there instead, so it reads a name split
    over several encoded words with spaces where the splits are."""
    field = raw_to(data)
    if not field.endswith(">"):
        return ""  # a bare address
    phrase = field.rsplit(" <", 1)[0]
    if phrase.startswith('"'):
        return parse(data)["To"].addresses[0].display_name
    return str(email.header.make_header(email.header.decode_header(phrase)))


def test_a_name_cut_after_a_space_keeps_every_encoded_word_short(
        template: MessageTemplate) -> None:
    """The part after the last space, with the next character, can itself be too long for one
    encoded word: it is cut again (two-byte characters fill a word quickly)."""
    name = "0" * 7 + "\x80" * 19 + " 0000" + "\x80" * 21
    data = message_for(template, Recipient("1", "a@example.org", name))
    words = ENCODED_WORD.findall(raw_to(data))
    assert len(words) > 1 and all(len(w) <= 75 for w in words)
    assert _rfc2047_name(data) == name


local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.+-_=&'!#$%*/?^`{|}~âŵüßЖ中",
                      min_size=1, max_size=40).filter(
    lambda s: not s.startswith(".") and ".." not in s and not s.endswith("."))
domains = st.sampled_from(["example.org", "bücher.de", "пример.рф", "例え.jp", "x.example"])
names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)


@pytest.mark.slow
@settings(max_examples=300)
@given(names, local_parts, domains)
def test_any_name_and_address(template: MessageTemplate, name: str, local: str,
                              domain: str) -> None:
    """Whatever the name and address: no header line over 998 octets, no header but those
    written, the address read back (its domain as punycode), the name read back as it was
    given (white space runs made single spaces)."""
    data = message_for(template, Recipient("1", f"{local}@{domain}", name))
    section = header_section(data)
    assert max(len(line) for line in section.split(b"\r\n")) <= 998
    assert all(len(w) <= 75 for w in ENCODED_WORD.findall(raw_to(data)))
    message = parse(data)
    assert not message.defects
    names_of_headers = [key.lower() for key in message]
    assert names_of_headers.count("to") == 1 and "bcc" not in names_of_headers \
        and "cc" not in names_of_headers
    (to,) = message["To"].addresses
    ascii_domain = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    assert to.addr_spec == f"{local}@{ascii_domain}"
    expected = " ".join(name.split())
    assert _rfc2047_name(data) == expected
    if len(ENCODED_WORD.findall(raw_to(data))) <= 1:
        assert to.display_name == expected
    else:  # Python's parser: a space between encoded words (see _rfc2047_name)
        assert to.display_name.replace(" ", "") == expected.replace(" ", "")


@pytest.mark.slow
@settings(max_examples=50)
@given(names, local_parts, domains)
def test_the_slow_path_takes_any_name_and_address(example: Prepared, name: str, local: str,
                                                  domain: str) -> None:
    """The EmailMessage path (`bulletin render`'s .eml) takes the same names and addresses."""
    message = build_message(example.rendered, example.loaded.newsletter,
                            example.workspace.settings.base_url,
                            Recipient("1", f"{local}@{domain}", name), KEY)
    data = to_bytes(message)
    assert max(len(line) for line in header_section(data).split(b"\r\n")) <= 998
    (to,) = parse(data)["To"].addresses
    assert to.addr_spec.rpartition("@")[0] == local, (name, local, raw_to(data))


@pytest.mark.parametrize("name", ["Siân Ŵyn", 'Quote "Me", Please', "O'Brien (Cardiff)",
                                  "Ann\x00\x07 Bell", "a\r\nBcc: evil@example.org"])
def test_awkward_names(template: MessageTemplate, name: str) -> None:
    data = message_for(template, Recipient("1", "ann@example.org", name))
    message = parse(data)
    assert message["Bcc"] is None
    assert message["To"].addresses[0].display_name == " ".join(name.split())
