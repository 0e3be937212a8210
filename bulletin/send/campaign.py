"""The parts of a send that bulletin.send.run puts in order: the plan shown before confirming,
whom `--lang` sends to, the transports built from the settings, the per-language message
templates, and the [TEST] copies."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .. import links
from ..dkim import dkim_signer
from ..errors import SendError
from ..fields import in_language
from ..message import Recipient
from ..personalise import MessageTemplate
from ..settings import Workspace
from ..store.engine import resolve_url
from ..store.ledger import Audience, Claim
from ..store.store import Store
from .dispatch import DispatchSettings
from .files import FileTransport
from .outgoing import Outgoing
from .smtp import SmtpSettings, SmtpTransport
from .transport import Result, Transport

if TYPE_CHECKING:
    from ..issue import IssueFile

PASSWORD_VARIABLE = "BULLETIN_SMTP_PASSWORD"


def issue_key(loaded: IssueFile) -> str:
    """How the ledger names an issue: newsletter/file stem (as Outgoing.key does)."""
    return f"{loaded.issue.newsletter}/{loaded.slug}"


def open_store(workspace: Workspace) -> Store:
    return Store.open(resolve_url(workspace.root, workspace.settings.database_url))


def templates(outgoing: Outgoing, key: bytes,
              subject_prefix: str = "") -> dict[str, MessageTemplate]:
    """One byte template per edition, under the language a subscriber must have to get it
    (a bilingual edition serves everyone, under its first language); DKIM-signed when the
    newsletter says so."""
    workspace = outgoing.workspace
    dkim = dkim_signer(workspace, outgoing.first.newsletter)
    return {edition.rendered.language: MessageTemplate.build(
                edition.rendered, outgoing.newsletter, workspace.settings.base_url, key,
                subject_prefix, dkim)
            for edition in outgoing.editions}


def smtp_settings(workspace: Workspace) -> SmtpSettings:
    smtp = workspace.settings.smtp
    if smtp is None:
        raise SendError(f"{workspace.config_path}: no [smtp] table; add one with at least "
                        "host = \"...\" (see README)")
    password = os.environ.get(PASSWORD_VARIABLE) or None
    if smtp.username and not password:
        raise SendError(f"smtp.username is set: put the password in {PASSWORD_VARIABLE}")
    extra = {"helo_name": smtp.helo_name} if smtp.helo_name else {}
    return SmtpSettings(host=smtp.host, port=smtp.port, security=smtp.security,
                        username=smtp.username, password=password, timeout=smtp.timeout,
                        require_tls=False if smtp.allow_plaintext else None,
                        ca_file=smtp.ca_file, **extra)


def transport_factory(workspace: Workspace, out_dir: Path | None = None
                      ) -> Callable[[], Transport]:
    """SMTP from the settings, or .eml files in `out_dir`."""
    if out_dir is not None:
        return lambda: FileTransport(out_dir)
    settings = smtp_settings(workspace)
    return lambda: SmtpTransport(settings)


def dispatch_settings(workspace: Workspace, connections: int | None = None,
                      per_second: float | None = None,
                      per_hour: int | None = None) -> DispatchSettings:
    smtp = workspace.settings.smtp
    if smtp is None:
        return DispatchSettings(connections=connections or 4, per_second=per_second,
                                per_hour=per_hour)
    return DispatchSettings(
        connections=connections or smtp.connections, window=smtp.window or 0,
        per_second=per_second or smtp.rate_per_second,
        per_hour=per_hour or smtp.rate_per_hour,
        max_attempts=smtp.max_attempts, retry_delays=smtp.retry_delays,
        max_consecutive_failures=smtp.max_consecutive_failures, max_outage=smtp.max_outage)


@dataclass(frozen=True)
class Plan:
    issue: str
    newsletter: str
    subject: str
    sender: str
    list_name: str
    members: int
    """Active members of the list, after suppression."""
    counts: dict[str, int]
    """The ledger's counts for this issue so far, of the messages queued from this list (all
    zero before the first send)."""
    new: int
    """Members with no ledger row yet: queued when the send starts."""
    uncertain: list[Claim]
    tests: list[tuple[str, datetime]]
    languages: list[str]
    audience: Audience | None = None
    """One language's edition alone (`send --lang`): the counts are its subscribers'."""
    elsewhere: int = 0
    """Messages of this issue still waiting from a send to another list: the dispatcher
    sends every waiting message of the issue, so they go too."""

    @property
    def to_send(self) -> int:
        return self.counts.get("pending", 0) + self.new + self.elsewhere


def audience(outgoing: Outgoing, language: str | None) -> Audience | None:
    """Whom `send --lang LANGUAGE` sends to: the subscribers who get that language's edition
    (for the first language, also those with no language or another one)."""
    if language is None:
        return None
    newsletter = outgoing.newsletter
    if len(newsletter.languages) < 2:
        raise SendError(f"--lang {language}: this newsletter is only in "
                        f"{newsletter.languages[0]}; send it without --lang")
    if newsletter.delivery != "each":
        raise SendError(f"--lang {language}: this newsletter sends every language in one "
                        f"email (delivery = \"{newsletter.delivery}\"); --lang sends one "
                        "language's edition to its own readers, with delivery \"each\"")
    return Audience(language, tuple(other for other in newsletter.languages
                                    if other != language),
                    default=language == newsletter.languages[0])


def plan(store: Store, outgoing: Outgoing, list_name: str,
         audience: Audience | None = None) -> Plan:
    newsletter, key = outgoing.newsletter, outgoing.key
    rendered = [edition.rendered for edition in outgoing.editions]
    members = store.count_active(list_name)  # as `bulletin subscribers count` counts them
    counts = store.ledger.counts(key, audience, list_name)
    waiting = store.ledger.counts(key, audience).get("pending", 0)
    uncertain = [claim for claim in store.ledger.uncertain(key)
                 if audience is None or audience.includes(claim.language)]
    return Plan(
        issue=key, newsletter=in_language(newsletter.name, outgoing.first.language),
        subject=" | ".join(r.subject for r in rendered), sender=newsletter.sender,
        list_name=list_name, members=members, counts=counts,
        new=store.ledger.unqueued(key, list_name, audience), uncertain=uncertain,
        tests=store.ledger.test_sends(key), languages=[r.language for r in rendered],
        audience=audience, elsewhere=waiting - counts.get("pending", 0))


async def send_tests(outgoing: Outgoing, addresses: list[str],
                     transport: Callable[[], Transport], envelope: str,
                     ) -> list[tuple[str, str, Result, str]]:
    """Every edition to every address, subject prefixed [TEST]; (address, language, result,
    Message-ID) for each. The links carry a token for no subscriber."""
    key = links.secret_key()  # the rule `send` keeps: no key, or a short one, is refused
    built = templates(outgoing, key, subject_prefix="[TEST] ")
    results = []
    async with transport() as sender:
        for address in addresses:
            for language, template in built.items():
                message_id, data = template.message(Recipient("test", address))
                result = await sender.send(envelope, address, data)
                results.append((address, language, result, message_id))
    return results
