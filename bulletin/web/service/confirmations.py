"""Double opt-in: a subscribe request records a new address as pending and emails it a link
to confirm; only that link (and the button on its page) makes the subscription active.

The request looks the same from outside whatever the address's state: new, pending, active,
unsubscribed or suppressed all get the same answer, and the email goes out after the answer,
so not even its timing tells. A suppressed address gets no email. An address already in the
store is not changed until its owner confirms (someone else typing it in must not turn an
unsubscribed person into a pending one).

The email is built as every issue is (message.build_notice: the same From, Reply-To, To, Date
and Message-ID headers) and DKIM-signed when its newsletter has a [dkim] table, by the same
signer (bulletin.dkim), its keys loaded when the service starts, so that a bad key stops the
start rather than every confirmation."""

from __future__ import annotations

import asyncio
import logging
import re
import textwrap
import time
from collections.abc import Callable

import jinja2

from ... import links
from ...dkim import DkimSigner, dkim_signer
from ...errors import BulletinError, TokenError
from ...message import Recipient, build_notice, envelope_from
from ...send.transport import Transport
from ...settings import Workspace
from ...store import NotSubscribedError, Store, StoreError, SuppressedError
from .pages import Pages

log = logging.getLogger("bulletin.web")

CONFIRM_DAYS = 7
RESEND_AFTER = 300.0
"""Seconds before a second confirmation email goes to the same address (no mail bombs)."""


def redacted(text: str, address: str) -> str:
    """`text` without the address in it: logs are no place for subscribers' addresses."""
    local, _, domain = address.rpartition("@")
    return re.sub(re.escape(local) + "@" + re.escape(domain), "<address>", text,
                  flags=re.IGNORECASE)


def confirm_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/confirm/{token}"


def confirm_subject(subscriber_id: int, newsletter: str, language: str) -> str:
    """What a confirm token names: the subscriber, the newsletter, the page language."""
    return f"{subscriber_id}:{newsletter}:{language}"


def parse_confirm_subject(subject: str) -> tuple[int, str, str]:
    parts = subject.split(":")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[0].isascii():
        raise TokenError("malformed token")
    return int(parts[0]), parts[1], parts[2]


class Confirmations:
    def __init__(self, workspace: Workspace, store: Store, key: bytes, pages: Pages,
                 transport: Callable[[], Transport] | None,
                 resend_after: float = RESEND_AFTER) -> None:
        self.workspace = workspace
        self.store = store
        self.signer = links.Signer(key)
        self.pages = pages
        self.transport = transport
        self.resend_after = resend_after
        self._sent: dict[str, float] = {}
        self._dkim: dict[str, DkimSigner] = {}
        """Each signing newsletter's signer, by slug (a bad key: SettingsError, here)."""
        if transport is not None:
            for slug in workspace.settings.newsletters:
                signer = dkim_signer(workspace, slug)
                if signer is not None:
                    self._dkim[slug] = signer
        self._tasks: set[asyncio.Task[None]] = set()
        self._mail = jinja2.Environment(
            loader=jinja2.FileSystemLoader(pages.directory), autoescape=False,
            undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
            keep_trailing_newline=True)
        self._mail.filters["wrap"] = lambda text: "\n".join(
            textwrap.fill(line, 76, break_long_words=False, break_on_hyphens=False)
            for line in str(text).splitlines())

    @property
    def available(self) -> bool:
        return self.transport is not None

    # -- the request ----------------------------------------------------------------------------

    def prepare(self, email: str, name: str | None, language: str, slug: str,
                source: str) -> tuple[str, bytes] | None:
        """Record a new address as pending; (address, confirmation email) to send, or None
        when nothing must go (suppressed, or sent a moment ago). `email` is normalised."""
        newsletter = self.workspace.newsletter(slug)
        if self.store.is_suppressed(email):
            return None
        try:
            subscriber = self.store.subscriber(email)
        except NotSubscribedError:
            try:
                self.store.subscribe(email, newsletter.mailing_list, source=source,
                                     name=name or None, language=language, status="pending")
            except SuppressedError:
                return None
            except StoreError as exc:  # e.g. the newsletter's list is not in the store
                log.error("subscribe request not recorded: %s", redacted(str(exc), email))
                return None
            subscriber = self.store.subscriber(email)
        if not self._may_send(subscriber.email):
            return None
        expires = int(time.time()) + CONFIRM_DAYS * 86400
        token = self.signer.sign("confirm", confirm_subject(subscriber.id, slug, language),
                                 expires)
        return subscriber.email, self.message(subscriber.email, slug, language, token)

    def _may_send(self, address: str) -> bool:
        now = time.monotonic()
        if len(self._sent) > 10000:
            self._sent = {a: t for a, t in self._sent.items() if now - t < self.resend_after}
        last = self._sent.get(address.lower())
        if last is not None and now - last < self.resend_after:
            return False
        self._sent[address.lower()] = now
        return True

    def message(self, address: str, slug: str, language: str, token: str) -> bytes:
        """The confirmation email: in the chosen language, or in every language of a
        newsletter that sends them all in one email."""
        newsletter = self.workspace.newsletter(slug)
        languages = [language] if newsletter.delivery == "each" else \
            sorted(newsletter.languages, key=lambda code: code != language)
        blocks = [self.pages.frame(slug, code) for code in languages]
        first = blocks[0]
        text = self._mail.get_template("confirm.txt.j2").render(
            blocks=blocks, url=confirm_url(self.workspace.settings.base_url, token),
            days=CONFIRM_DAYS, organisation=first.organisation,
            postal_address=first.postal_address)
        subject = " / ".join(block._("Confirm your subscription to %(newsletter)s")
                             % {"newsletter": block.name} for block in blocks)
        return build_notice(newsletter, Recipient(id="", email=address), subject, text,
                            languages, self._dkim.get(slug))

    # -- sending, after the answer ------------------------------------------------------------

    def send_later(self, slug: str, address: str, data: bytes) -> None:
        """Send in the background: the answer to the request never waits for (or shows) it."""
        task = asyncio.get_running_loop().create_task(self._send(slug, address, data))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, slug: str, address: str, data: bytes) -> None:
        assert self.transport is not None
        sender = envelope_from(self.workspace, self.workspace.newsletter(slug))
        try:
            async with self.transport() as transport:
                result = await transport.send(sender, address, data)
        except BulletinError as exc:
            log.error("confirmation email not sent: %s", redacted(str(exc), address))
            return
        except Exception as exc:  # never let a background send take the service down
            log.error("confirmation email not sent: %s", type(exc).__name__)
            return
        if not result.sent:
            log.warning("confirmation email refused: %s %s", result.code,
                        redacted(result.reply, address))

    @property
    def sending(self) -> int:
        """Confirmation emails on their way."""
        return len(self._tasks)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait for the emails still being sent (at shutdown, and in tests)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
