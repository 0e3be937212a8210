"""One RFC 5322 message for one recipient, from the once-rendered issue."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from urllib.parse import quote, urlsplit

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


def recipient_values(recipient: Recipient, base_url: str, key: bytes) -> dict[str, str]:
    """The placeholder values for one recipient: signed, opaque links and their address."""
    return {
        "unsubscribe_url": links.unsubscribe_url(
            base_url, links.sign("unsubscribe", recipient.id, key)),
        "preferences_url": links.preferences_url(
            base_url, links.sign("preferences", recipient.id, key)),
        "email": recipient.email,
    }


def build_message(rendered: Rendered, newsletter: Newsletter, base_url: str,
                  recipient: Recipient, key: bytes, *, now: dt.datetime | None = None,
                  subject_prefix: str = "") -> EmailMessage:
    """multipart/alternative, plain text first, with the list headers of RFC 2369 and 8058."""
    values = recipient_values(recipient, base_url, key)
    html, text = rendered.personalise(values)
    sender_domain = parseaddr(newsletter.sender)[1].rpartition("@")[2]
    list_domain = urlsplit(base_url).hostname or sender_domain

    msg = EmailMessage(policy=BODY_POLICY)
    msg["From"] = newsletter.sender
    msg["To"] = formataddr((recipient.name, recipient.email))
    msg["Subject"] = subject_prefix + rendered.subject
    msg["Date"] = format_datetime(now or dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(domain=sender_domain)
    if newsletter.reply_to:
        msg["Reply-To"] = newsletter.reply_to
    name = in_language(newsletter.name, rendered.language)
    msg["List-Id"] = f"{_phrase(name)} <{newsletter.mailing_list}.{list_domain}>"
    unsubscribe = f"<{values['unsubscribe_url']}>"
    if newsletter.unsubscribe_mailto:
        token = values["unsubscribe_url"].rsplit("/", 1)[1]
        mailto = parseaddr(newsletter.unsubscribe_mailto)[1]
        unsubscribe += f", <mailto:{mailto}?subject={quote('unsubscribe ' + token)}>"
    msg["List-Unsubscribe"] = unsubscribe
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if newsletter.feedback_id:
        msg["Feedback-ID"] = f"{rendered.issue}:{newsletter.feedback_id}"
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def _phrase(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP_POLICY)

