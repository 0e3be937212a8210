"""One RFC 5322 message for one recipient: the headers every message of a newsletter carries
and how a message is put together, for the issues (from the once-rendered issue; the fast
path, personalise.py, writes the same headers) and for the newsletter's other emails (the
double opt-in confirmation), so that every message has the same headers and DKIM."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from functools import lru_cache
from random import getrandbits
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from . import links
from .errors import BulletinError, RenderError
from .fields import in_language
from .render import Rendered
from .settings import Newsletter, Workspace
from .textchars import LINE_BREAK

if TYPE_CHECKING:
    from .dkim import DkimSigner

# Bodies are encoded under BODY_POLICY (quoted-printable lines of at most 76 characters, as
# RFC 2045 requires); the message is written out under SMTP_POLICY, so that long headers
# (List-Unsubscribe with its token) are neither folded nor RFC 2047-encoded.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
SMTPUTF8_POLICY = policy.SMTPUTF8.clone(max_line_length=998)
BODY_POLICY = policy.SMTP.clone(max_line_length=76)


class AddressError(BulletinError, ValueError):
    """An address that cannot be written into a message or an SMTP envelope."""


@dataclass(frozen=True)
class Recipient:
    id: str
    email: str
    name: str = ""


SAMPLE_RECIPIENT = Recipient(id="sample", email="subscriber@example.com",
                             name="Sample Subscriber")


def recipient_values(recipient: Recipient, base_url: str,
                     key: bytes | links.Signer) -> dict[str, str]:
    """The placeholder values for one recipient: signed, opaque links and their address."""
    signer = key if isinstance(key, links.Signer) else links.Signer(key)
    unsubscribe, preferences = signer.sign_both(recipient.id)
    return {"unsubscribe_url": links.unsubscribe_url(base_url, unsubscribe),
            "preferences_url": links.preferences_url(base_url, preferences),
            "email": recipient.email}


def fixed_headers(rendered: Rendered, newsletter: Newsletter, base_url: str,
                  subject_prefix: str = "") -> list[tuple[str, str]]:
    """The headers every recipient of this issue gets the same."""
    list_domain = urlsplit(base_url).hostname or sender_domain(newsletter)
    name = in_language(newsletter.name, rendered.language)
    subject = subject_prefix + rendered.subject
    feedback = f"{rendered.issue}:{newsletter.feedback_id}" if newsletter.feedback_id else ""
    # The settings' header values are one line each (headerfields, as bulletin.toml is
    # loaded); the subject is a finding of `bulletin check`, and no message is made.
    if LINE_BREAK.search(subject):
        raise RenderError(f"{rendered.issue}: the Subject header would have a line break in it, "
                          "from the issue's subject; a header is one line (`bulletin check` "
                          "shows where)")
    headers = sender_headers(newsletter, subject)
    headers += [("List-Id", f"{_list_phrase(name)} <{newsletter.mailing_list}.{list_domain}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    if feedback:
        headers.append(("Feedback-ID", feedback))
    return headers


def sender_headers(newsletter: Newsletter, subject: str) -> list[tuple[str, str]]:
    """From, Subject and Reply-To: as every message of the newsletter has them, written as
    they go out (see `mailbox` and `header_text`)."""
    headers = [("From", mailbox(newsletter.sender)), ("Subject", header_text(subject))]
    if newsletter.reply_to:
        headers.append(("Reply-To", mailbox(newsletter.reply_to)))
    return headers


def mailbox(value: str) -> str:
    """A From or Reply-To setting (`Name <address>`) as it is written: the name as the To
    line's (`display_name`: encoded words of at most 75 characters where it is not plain,
    never inside quotes), the domain as punycode. As given, for Python's email package to
    write, when the address cannot be written in ASCII."""
    name, address = parseaddr(value)
    try:
        address = header_address(address)
    except AddressError:
        return value
    if not address or not address.isascii():
        return value
    name = " ".join(name.split())
    return f"{display_name(name)} <{address}>" if name else address


def header_text(text: str) -> str:
    """Unstructured text (the Subject) as it is written: as it is when it is printable ASCII
    that no reader could take for an encoded word and that fits a line; else as encoded
    words of at most 75 characters, one to a folded line (RFC 2047), so that no line comes
    near 998 octets and the text is read back as it was."""
    if _written_as_is(text, _TEXT_IN_ONE_LINE):
        return text
    return _encoded_words(text)


def _list_phrase(name: str) -> str:
    """The newsletter's name before the List-Id: quoted when it is printable ASCII, else as
    encoded words (which a quoted string must not hold, RFC 2047 5)."""
    if _written_as_is(name, _NAME_IN_ONE_LINE):
        return _phrase(name)
    return _encoded_words(name)


def _written_as_is(text: str, limit: int) -> bool:
    """Whether `text` may be written as it is (or quoted): printable ASCII of at most `limit`
    characters that no reader could take for an encoded word."""
    return len(text) <= limit and bool(_PRINTABLE_ASCII.fullmatch(text)) and "=?" not in text


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 '_-]+")
_PRINTABLE_ASCII = re.compile(r"[ -~]+")
_NAME_IN_ONE_LINE = 400
"""Characters of a name written as it is (or quoted) on the To line; a longer one is written
as encoded words, one to a folded line, so that no line comes near 998 octets."""
_TEXT_IN_ONE_LINE = 900
"""Characters of a subject written as it is: a longer one is written as encoded words."""
_WORD_BYTES = 45
"""UTF-8 bytes in one base64 encoded word: 60 characters of base64, so the word
(=?utf-8?b?...?=) is 72 characters, within RFC 2047's 75."""


@lru_cache(maxsize=4096)
def ascii_domain(domain: str) -> str:
    """`domain` in its ASCII form (IDNA: punycode A-labels), or AddressError."""
    if domain.isascii():
        return domain
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(f"a@{domain}", check_deliverability=False).ascii_domain
    except EmailNotValidError as exc:
        raise AddressError(f"the domain {domain!r} cannot be written in ASCII (IDNA): "
                           f"{exc}") from None


def header_address(email: str) -> str:
    """`email` as it goes in the To header and the SMTP envelope: an internationalised domain
    as punycode, so that the address is ASCII unless its local part is not (then only a
    server that offers SMTPUTF8, RFC 6531, can take it). Raises AddressError."""
    if email.isascii():
        return email
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{email!r} is not an email address")
    return f"{local}@{ascii_domain(domain)}"


def display_name(name: str) -> str:
    """`name` as the phrase before an address (RFC 5322, 2047): as it is when it is plain
    words; else quoted when it is printable ASCII and short; else as base64 encoded words of
    at most 72 characters, one to a line (folded with CRLF and a space), so that no line
    comes near 998 octets and nothing in it (an "=?...?=" of its own, a line break) is read
    as anything but the name. A long name is split after a space where it has one, the space
    kept inside the encoded word: readers join adjacent encoded words with nothing between
    them (RFC 2047 6.2). `name`'s white space is taken as it is: normalise it first."""
    if len(name) <= _NAME_IN_ONE_LINE and _PLAIN_NAME.fullmatch(name):
        return name
    if _written_as_is(name, _NAME_IN_ONE_LINE):
        return _phrase(name)
    return _encoded_words(name)


def _encoded_words(text: str) -> str:
    """`text` as base64 encoded words of at most 72 characters, one to a line (folded with
    CRLF and a space), cut after a space where there is one (the space kept inside the word:
    readers join adjacent encoded words with nothing between them, RFC 2047 6.2)."""
    words, chunk, size = [], "", 0
    for character in text:
        width = len(character.encode("utf-8", "surrogatepass"))
        while size + width > _WORD_BYTES and chunk:  # twice when the part after the space
            cut = chunk.rfind(" ") + 1 or len(chunk)  # is still too long with `character`
            words.append(_encoded_word(chunk[:cut]))
            chunk = chunk[cut:]
            size = len(chunk.encode("utf-8", "surrogatepass"))
        chunk += character
        size += width
    if chunk:
        words.append(_encoded_word(chunk))
    return "\r\n ".join(words)


def _encoded_word(text: str) -> str:
    data = text.encode("utf-8", "surrogatepass")
    return f"=?utf-8?b?{base64.b64encode(data).decode('ascii')}?="


def recipient_headers(recipient: Recipient, values: dict[str, str], mailto: str | None,
                      date: str, message_id: str) -> list[tuple[str, str]]:
    """The headers that differ per recipient of an issue, each line well under 998 octets;
    ASCII unless the address's local part is not (a message only for a server with
    SMTPUTF8). `mailto` is the newsletter's `unsubscribe_mailto` address, if any. Raises
    AddressError for an address that cannot be written."""
    return [*address_headers(recipient, date, message_id),
            ("List-Unsubscribe", list_unsubscribe(values["unsubscribe_url"], mailto))]


def recipient_head(recipient: Recipient, unsubscribe_url: str, mailto: str | None, date: str,
                   message_id: str) -> str:
    """`recipient_headers` as the lines they are written as ("Name: value" and CRLF, in their
    order), made without the list of pairs: once a message of a send."""
    return (f"To: {to_header(recipient)}\r\nDate: {date}\r\nMessage-ID: {message_id}\r\n"
            f"List-Unsubscribe: {list_unsubscribe(unsubscribe_url, mailto)}\r\n")


def list_unsubscribe(unsubscribe_url: str, mailto: str | None) -> str:
    """The List-Unsubscribe header: the one-click URL, and a mailto: address if there is one,
    its subject the URL's token (URL-safe already: no quoting needed)."""
    if not mailto:
        return f"<{unsubscribe_url}>"
    token = unsubscribe_url[unsubscribe_url.rfind("/") + 1:]
    return f"<{unsubscribe_url}>, <mailto:{mailto}?subject=unsubscribe%20{token}>"


def address_headers(recipient: Recipient, date: str, message_id: str
                    ) -> list[tuple[str, str]]:
    """To, Date and Message-ID: what every message to one person has of its own."""
    return [("To", to_header(recipient)), ("Date", date), ("Message-ID", message_id)]


def to_header(recipient: Recipient) -> str:
    """The To header of a message to `recipient`, folded where the name is long, never over
    998 octets a line; white space in the name is normalised here."""
    # This runs once a message: the common case (an ASCII address, a plain name) first.
    email = recipient.email if recipient.email.isascii() else header_address(recipient.email)
    name = " ".join(recipient.name.split())
    if not name:
        return email
    if len(name) <= _NAME_IN_ONE_LINE and _PLAIN_NAME.fullmatch(name):
        return f"{name} <{email}>"
    return f"{display_name(name)} <{email}>"


def stamp(newsletter: Newsletter, now: dt.datetime | None = None) -> tuple[str, str]:
    """(Date, Message-ID) for a new message from the newsletter."""
    return (format_datetime(now or dt.datetime.now(dt.UTC)),
            make_msgid(domain=sender_domain(newsletter)))


def delivery_message_id(token: str, domain: str) -> str:
    """The Message-ID of a message of a send: its delivery token (links.sign_delivery, which
    names its ledger row and nothing personal), a dot, 40 random bits in hex (unique even
    when a row is sent again), @ the sender's domain. A bounce or complaint quoting it leads
    back to the row (bulletin.inbound.attribute)."""
    # The random bits are there for uniqueness alone (the token is what cannot be forged, and
    # nothing is kept secret by them): random's generator, seeded from os.urandom when first
    # imported and again in each forked child, one state for all threads, is enough, and
    # costs no system call a message, as os.urandom does.
    return f"<{token}.{getrandbits(40):010x}@{domain}>"


def random_message_id(domain: str) -> str:
    """A Message-ID of 96 random bits in hex @ `domain`, for a message that is not one of a
    send's (no ledger row to name); random as `delivery_message_id`'s."""
    return f"<{getrandbits(96):024x}@{domain}>"


def verp_address(envelope: str, token: str) -> str:
    """The envelope sender LOCAL+TOKEN@domain of `envelope` (LOCAL@domain), for VERP: a
    bounce is delivered to it, and the token says which message bounced."""
    local, _, domain = envelope.rpartition("@")
    return f"{local}+{token}@{domain}"


def unsubscribe_mailto(newsletter: Newsletter) -> str | None:
    """The bare address for mailto: unsubscribes, if the newsletter has one."""
    if not newsletter.unsubscribe_mailto:
        return None
    return parseaddr(newsletter.unsubscribe_mailto)[1]


def sender_domain(newsletter: Newsletter) -> str:
    return parseaddr(newsletter.sender)[1].rpartition("@")[2]


def build_message(rendered: Rendered, newsletter: Newsletter, base_url: str,
                  recipient: Recipient, key: bytes, *, now: dt.datetime | None = None,
                  subject_prefix: str = "") -> EmailMessage:
    """multipart/alternative, plain text first, with the list headers of RFC 2369 and 8058.
    The reference for `personalise.MessageTemplate`, which makes the same bytes faster."""
    values = recipient_values(recipient, base_url, key)
    html, text = rendered.personalise(values)
    date, message_id = stamp(newsletter, now)
    mailto = unsubscribe_mailto(newsletter)
    return new_message([*recipient_headers(recipient, values, mailto, date, message_id),
                        *fixed_headers(rendered, newsletter, base_url, subject_prefix)],
                       text, html)


def build_notice(newsletter: Newsletter, recipient: Recipient, subject: str, text: str,
                 languages: Sequence[str], dkim: DkimSigner | None = None, *,
                 now: dt.datetime | None = None) -> bytes:
    """One of the newsletter's own emails that is not an issue (the double opt-in
    confirmation), as bytes for SMTP's DATA: plain text in `languages`, marked
    Auto-Submitted (RFC 3834), with an issue's From, Reply-To, To, Date and Message-ID, and
    DKIM-signed first when `dkim` is given, as every issue is."""
    date, message_id = stamp(newsletter, now)
    msg = new_message([*sender_headers(newsletter, subject),
                       *address_headers(recipient, date, message_id),
                       ("Auto-Submitted", "auto-generated")], text)
    msg["Content-Language"] = ", ".join(languages)  # after: set_content clears it
    data = to_bytes(msg)
    return dkim.signed(data) if dkim is not None else data


def new_message(headers: Iterable[tuple[str, str]], text: str,
                html: str | None = None) -> EmailMessage:
    """A message with these headers and a plain text part, or text and HTML as
    multipart/alternative, quoted-printable in lines of at most 76 characters."""
    msg = EmailMessage(policy=BODY_POLICY)
    for name, value in headers:
        if name == "To" or (name in _WRITTEN and value.isascii()):
            msg.set_raw(name, value)  # as written, folds and all: the policy would write it
            # again, worse (encoded words of any length, and inside quotes)
        else:
            msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


_WRITTEN = frozenset({"From", "Subject", "Reply-To", "List-Id"})
"""Headers written here (`mailbox`, `header_text`, `_list_phrase`), not by the policy."""


def _phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_bytes(msg: EmailMessage) -> bytes:
    """The message as it goes to SMTP's DATA: ASCII, or UTF-8 headers (RFC 6532) when its
    To address has a non-ASCII local part."""
    to = msg.get("To")
    ascii_address = to is None or all(a.addr_spec.isascii() for a in to.addresses)
    return msg.as_bytes(policy=SMTP_POLICY if ascii_address else SMTPUTF8_POLICY)


def envelope_from(workspace: Workspace, newsletter: Newsletter) -> str:
    """The envelope sender (MAIL FROM, where bounces go): [smtp] envelope_from, else the
    newsletter's sender."""
    smtp = workspace.settings.smtp
    configured = smtp.envelope_from if smtp and smtp.envelope_from else newsletter.sender
    return parseaddr(configured)[1]
