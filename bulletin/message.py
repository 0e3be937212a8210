"""One RFC 5322 message for one recipient, from the once-rendered issue."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from urllib.parse import urlsplit

from . import links
from .fields import in_language
from .render import Rendered
from .settings import Newsletter

# Bodies are encoded under BODY_POLICY (quoted-printable lines of at most 76 characters, as
# RFC 2045 requires); the message is written out under SMTP_POLICY, so that long headers
# (List-Unsubscribe with its token) are neither folded nor RFC 2047-encoded.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)
BODY_POLICY = policy.SMTP.clone(max_line_length=76)


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
    sender_domain = parseaddr(newsletter.sender)[1].rpartition("@")[2]
    list_domain = urlsplit(base_url).hostname or sender_domain
    name = in_language(newsletter.name, rendered.language)
    headers = [("From", newsletter.sender), ("Subject", subject_prefix + rendered.subject)]
    if newsletter.reply_to:
        headers.append(("Reply-To", newsletter.reply_to))
    headers += [("List-Id", f"{_phrase(name)} <{newsletter.mailing_list}.{list_domain}>"),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    if newsletter.feedback_id:
        headers.append(("Feedback-ID", f"{rendered.issue}:{newsletter.feedback_id}"))
    return headers


_PLAIN_NAME = re.compile(r"[A-Za-z0-9 '_-]+")


def recipient_headers(recipient: Recipient, values: dict[str, str], mailto: str | None,
                      date: str, message_id: str) -> list[tuple[str, str]]:
    """The headers that differ per recipient; ASCII, each well under 998 octets. `mailto` is
    the newsletter's `unsubscribe_mailto` address, if any."""
    unsubscribe = f"<{values['unsubscribe_url']}>"
    if mailto:
        # Tokens are URL-safe already: no quoting needed.
        token = values["unsubscribe_url"].rsplit("/", 1)[1]
        unsubscribe += f", <mailto:{mailto}?subject=unsubscribe%20{token}>"
    name = " ".join(recipient.name.split())  # no stray or exotic white space in a header
    if not name:
        to = recipient.email
    elif _PLAIN_NAME.fullmatch(name):  # nothing to quote or encode: skip formataddr's work
        to = f"{name} <{recipient.email}>"
    else:
        to = formataddr((name, recipient.email), charset="utf-8")
    return [("To", to),
            ("Date", date), ("Message-ID", message_id), ("List-Unsubscribe", unsubscribe)]


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
    msg = EmailMessage(policy=BODY_POLICY)
    date = format_datetime(now or dt.datetime.now(dt.UTC))
    message_id = make_msgid(domain=sender_domain(newsletter))
    mailto = unsubscribe_mailto(newsletter)
    for name, value in (*recipient_headers(recipient, values, mailto, date, message_id),
                        *fixed_headers(rendered, newsletter, base_url, subject_prefix)):
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def _phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP_POLICY)

