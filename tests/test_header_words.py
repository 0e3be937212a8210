"""The headers the newsletter writes (Subject, From, Reply-To, List-Id), as header safety
holds the To line: an encoded word is at most 75 characters (RFC 2047 2), none stands inside
a quoted string (where no reader decodes it, 5), and text that looks like an encoded word is
read back as that text. Through both paths: the fast one (personalise.MessageTemplate) and
EmailMessage's (message.build_message, `bulletin render`'s .eml); and the double opt-in
confirmation (message.build_notice)."""

from __future__ import annotations

import dataclasses
import email
import email.header
import re
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.message import Recipient, build_message, build_notice, to_bytes
from bulletin.personalise import MessageTemplate
from bulletin.settings import Newsletter
from bulletin.workflow import Prepared

KEY = b"k" * 32
DATE = "Tue, 01 Feb 2022 09:00:00 +0000"
ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
DASH, APOSTROPHE, SOFT_HYPHEN = "\N{EN DASH}", "\N{RIGHT SINGLE QUOTATION MARK}", "\xad"
WELSH_SUBJECT = (f"Cynlluniau Gweithredu Rhanbarthol wedi{APOSTROPHE}u cyhoeddi {DASH} ŵyl, "
                 "ŷd, âêîôû: " + SOFT_HYPHEN.join(
                     ["Llanfair", "pwllgwyngyll", "gogery", "chwyrn", "drobwll", "llan",
                      "tysilio", "gogo", "goch"]))
WELSH_NAME = (f"Newyddion Ynys Môn {DASH} Anglesey News {DASH} Digwyddiadau{APOSTROPHE}r "
              f"Cyngor a{APOSTROPHE}r Gymuned Leol")
WELSH_SENDER = (f"Cyngor Sir Ynys Môn {DASH} Isle of Anglesey County Council {DASH} Newyddion "
                f"a Digwyddiadau{APOSTROPHE}r Cyngor")
LOOKALIKE = "=?utf-8?q?Bcc=3A_evil=40example=2Eorg?= news"


def newsletter(example: Prepared, **changes: str) -> Newsletter:
    return example.loaded.newsletter.model_copy(update=changes)


def messages(example: Prepared, subject: str, letter: Newsletter) -> dict[str, bytes]:
    rendered = dataclasses.replace(example.rendered, subject=subject)
    base_url = example.workspace.settings.base_url
    recipient = Recipient("1", "ann@example.org", "Ann")
    template = MessageTemplate.build(rendered, letter, base_url, KEY)
    return {"fast": template.message(recipient, DATE)[1],
            "slow": to_bytes(build_message(rendered, letter, base_url, recipient, KEY)),
            "notice": build_notice(letter, recipient, subject, "Confirm.\n", ["en"])}


def fields(data: bytes) -> dict[str, bytes]:
    """Each header field as written (folds kept), by name."""
    section = data.split(b"\r\n\r\n", 1)[0]
    return {field.split(b":", 1)[0].decode(): field
            for field in re.split(rb"\r\n(?![ \t])", section)}


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def rfc2047(value: bytes) -> str:
    """A header value as RFC 2047 reads it (white space between encoded words ignored)."""
    text = value.split(b":", 1)[1].decode("ascii")
    return str(email.header.make_header(email.header.decode_header(text))).strip()


def check_words(data: bytes) -> None:
    for name, field in fields(data).items():
        assert max(len(line) for line in field.split(b"\r\n")) <= 998, name
        for word in ENCODED_WORD.findall(field):
            assert len(word) <= 75, (name, word)
        for quoted in re.findall(rb'"(?:[^"\\]|\\.)*"', field):
            assert not ENCODED_WORD.search(quoted), (name, quoted)


@pytest.mark.parametrize("subject", [WELSH_SUBJECT, "\N{GRINNING FACE}" * 300, "A" * 1200,
                                     "Plain subject, issue 4"])
def test_a_long_or_unusual_subject_has_short_encoded_words(example: Prepared,
                                                           subject: str) -> None:
    for path, data in messages(example, subject, example.loaded.newsletter).items():
        check_words(data)
        assert parse(data)["Subject"] == subject, path


def test_a_subject_that_looks_like_an_encoded_word_is_read_as_that_text(
        example: Prepared) -> None:
    for path, data in messages(example, LOOKALIKE, example.loaded.newsletter).items():
        assert parse(data)["Subject"] == LOOKALIKE, path
        assert rfc2047(fields(data)["Subject"]) == LOOKALIKE, path


def test_a_newsletter_name_and_sender_not_in_ascii(example: Prepared) -> None:
    letter = newsletter(example, name=WELSH_NAME,
                        sender=f"{WELSH_SENDER} <news@example.gov.wales>",
                        reply_to=f"{WELSH_SENDER} <reply@example.gov.wales>")
    for path, data in messages(example, "Issue 4", letter).items():
        check_words(data)
        message = parse(data)
        for header in ("From", "Reply-To"):
            (address,) = message[header].addresses
            assert address.display_name.replace(" ", "") == WELSH_SENDER.replace(" ", ""), \
                (path, header)
            assert rfc2047(fields(data)[header]).rsplit(" <", 1)[0] == WELSH_SENDER, \
                (path, header)
        if path != "notice":
            list_id = rfc2047(fields(data)["List-Id"])
            assert list_id.rsplit(" <", 1)[0] == WELSH_NAME, (path, list_id)
            assert list_id.endswith(".bulletins.example.gov.wales>"), (path, list_id)


@pytest.mark.slow
@settings(max_examples=200)
@given(st.text(st.characters(blacklist_categories=("Cs",),
                             blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
               max_size=400))
def test_any_subject(example: Prepared, subject: str) -> None:
    """Whatever the subject (but a line break, which `bulletin check` refuses): no line over
    998 octets, no encoded word over 75 characters, and it is read back as it was."""
    rendered = dataclasses.replace(example.rendered, subject=subject)
    template = MessageTemplate.build(rendered, example.loaded.newsletter,
                                     example.workspace.settings.base_url, KEY)
    data = template.message(Recipient("1", "ann@example.org", "Ann"), DATE)[1]
    check_words(data)
    assert parse(data)["Subject"].lstrip(" ") == subject.lstrip(" ")  # readers drop the
    # spaces after the colon
