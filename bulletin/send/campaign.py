"""The parts of a send that bulletin.send.run puts in order: the plan shown before confirming,
whom `--lang` sends to, the per-language message templates, and the [TEST] copies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .. import links
from ..dkim import dkim_signer
from ..errors import SendError
from ..fields import in_language
from ..languages import UNKNOWN
from ..message import Recipient
from ..personalise import MessageTemplate
from ..settings import Workspace
from ..store.ledger import Audience, Claim
from ..store.store import Store
from .outgoing import Outgoing
from .transport import Result, Transport

if TYPE_CHECKING:
    from ..issue import IssueFile

def issue_key(loaded: IssueFile) -> str:
    """How the ledger names an issue: newsletter/file stem (as Outgoing.key does)."""
    return f"{loaded.issue.newsletter}/{loaded.slug}"


SENDING_CACHE_KIB = 512
"""SQLite's page cache (KiB) of each of a send's connections, against its 2 MB by default: a
send reads and writes the ledger in id order, a few pages at a time, which the system's own
cache keeps; with 2 MB each, its connections' caches were 4.5 of the sender's 78 MiB at
1,000,000 recipients."""


def open_store(workspace: Workspace) -> Store:
    return Store.for_workspace(workspace, cache_kib=SENDING_CACHE_KIB)


def templates(outgoing: Outgoing, key: bytes,
              subject_prefix: str = "") -> dict[str, MessageTemplate]:
    """One byte template per edition, under the language a subscriber must have to get it
    (a bilingual edition serves everyone, under its first language; with delivery "each", the
    edition with every language is UNKNOWN's, for subscribers with no recorded language);
    DKIM-signed when the newsletter says so."""
    workspace = outgoing.workspace
    dkim = dkim_signer(workspace, outgoing.first.newsletter)
    each = outgoing.newsletter.delivery == "each"
    return {UNKNOWN if each and len(edition.rendered.languages) > 1
            else edition.rendered.language: MessageTemplate.build(
                edition.rendered, outgoing.newsletter, workspace.settings.base_url, key,
                subject_prefix, dkim)
            for edition in outgoing.editions}


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
    """Messages left `sending` by a sender that stopped (of `audience`, if given; queued
    from any list, like `elsewhere`): `--resend-uncertain` sends exactly these again. Not
    those of a sender still running here (`being_sent`); the rule: store/outcomes.py."""
    tests: list[tuple[str, datetime]]
    languages: list[str]
    audience: Audience | None = None
    """One language's edition alone (`send --lang`): the counts, the waiting and the
    uncertain are its subscribers'."""
    elsewhere: int = 0
    """Messages of this issue still waiting from a send to another list: the dispatcher
    sends every waiting message of the issue, so they go too."""
    being_sent: int = 0
    """Messages claimed by another sender running on this machine now: never sent again."""

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
    uncertain = store.ledger.uncertain(key, audience)  # from any list: they go with the rest
    being_sent = store.ledger.being_sent(key, audience)
    return Plan(
        issue=key, newsletter=in_language(newsletter.name, outgoing.first.language),
        subject=" | ".join(r.subject for r in rendered), sender=newsletter.sender,
        list_name=list_name, members=members, counts=counts,
        new=store.ledger.unqueued(key, list_name, audience), uncertain=uncertain,
        tests=store.ledger.test_sends(key), languages=["+".join(r.languages) for r in rendered],
        audience=audience, elsewhere=waiting - counts.get("pending", 0),
        being_sent=being_sent)


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
