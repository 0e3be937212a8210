"""The send use-case: one issue to one list, in the one order every send follows, so that
the CLI only parses, confirms, calls and prints.

    with planned(outgoing, request) as send:   # refuse check errors unless forced; the key,
        show(send.plan)                        # transport, templates; the plan, store open
        if confirmed and not send.nothing_to_send:
            finished = send.run(progress)      # audit a forced send, queue the list, publish
                                               # to the archive, requeue the uncertain if
                                               # asked, dispatch, count

`send_test` (the [TEST] copies to a few addresses) and `status` (what became of a send, and
what came back: bounces, complaints and unsubscribes, their rates held against the
newsletter's thresholds) are the other two use-cases of a send's life, sequenced here for the
same reason.

Ctrl-C (SIGINT) or SIGTERM during `run`, in the main thread: the dispatcher finishes what is
in flight, records it and stops; the report says "interrupted"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from .. import asyncrun, links
from ..approval import gate
from ..approval.gate import Standing
from ..errors import SendError
from ..message import envelope_from
from ..personalise import MessageTemplate
from ..store import AuditRecord, Claim, Store
from ..store.inbound import IssueReturns
from ..store.ledger import Audience
from ..store.timing import LanguageTiming, by_language
from . import campaign
from .campaign import Plan
from .config import DispatchSettings, send_config
from .dispatch import Dispatcher
from .outgoing import Notice, Outgoing
from .report import Progress, Report
from .transport import Result, Transport

FORCED = "send-forced"
"""The audit trail's action for a send that went ahead past the errors of `bulletin check`."""


@dataclass(frozen=True)
class Request:
    """What the operator asked for."""

    issue: Path
    """The issue file, as the operator named it (for messages)."""
    list_name: str | None = None
    """The list to send to (default: the newsletter's)."""
    language: str | None = None
    """One language's edition alone, to its subscribers (delivery "each")."""
    dry_run: bool = False
    resend_uncertain: bool = False
    connections: int | None = None
    per_second: float | None = None
    per_hour: int | None = None
    force: str | None = None
    """The reason for sending past the errors of `bulletin check`, for the audit trail."""
    actor: str = "unknown"
    """Who sends, for the audit trail."""
    source: str = "cli"
    """Where the send was started, for the audit trail."""
    sender: str | None = None
    """Who sends, by the approval rule's identity (default: found when approvals are
    needed; bulletin.approval.identity)."""


@dataclass(frozen=True)
class Finished:
    report: Report
    counts: dict[str, int]
    """The ledger's counts for the issue (for its audience) once the run has stopped."""
    being_sent: int = 0
    """Of `counts`' `sending`, those a sender still running here holds: not uncertain (the
    rule: store/outcomes.py)."""


@dataclass(frozen=True)
class Send:
    """A send planned and not started: the store open, nothing recorded yet."""

    outgoing: Outgoing
    store: Store
    plan: Plan
    request: Request
    audience: Audience | None
    templates: dict[str, MessageTemplate]
    transport: Callable[[], Transport] | None
    """None for a dry run."""
    settings: DispatchSettings
    approvals: Standing | None = None
    """The approvals of exactly this content (bulletin.approval.gate)."""

    @property
    def total(self) -> int:
        """Messages this run will try to send."""
        return self.plan.to_send + (len(self.plan.uncertain)
                                    if self.request.resend_uncertain else 0)

    @property
    def nothing_to_send(self) -> bool:
        return self.plan.to_send == 0 and not (self.request.resend_uncertain
                                               and self.plan.uncertain)

    def run(self, progress: Progress | None = None,
            halt: Callable[[], str | None] | None = None) -> Finished:
        """Record, publish and dispatch; the report, and the ledger's counts after. `halt`,
        asked at each progress report, gives a reason to stop (a cancelled schedule)."""
        if self.transport is None:
            raise SendError("a dry run sends nothing")
        outgoing, store, plan, request = self.outgoing, self.store, self.plan, self.request
        if outgoing.errors and request.force is not None:
            store.audit_issue(plan.issue, FORCED, list_name=plan.list_name,
                              source=request.source, actor=request.actor,
                              detail=forced(request.force, outgoing.errors))
        if self.approvals is not None and self.approvals.needed:
            store.audit_issue(plan.issue, gate.USED, list_name=plan.list_name,
                              source=request.source, actor=self.approvals.sender,
                              detail=gate.used(self.approvals))
        store.ledger.create(plan.issue, plan.list_name, self.audience)
        publish_media(outgoing, store)  # the images the mail links to, before any goes out
        outgoing.publish(store)  # the public archive: view in browser
        if request.resend_uncertain and plan.uncertain:  # never a running sender's
            store.ledger.requeue(plan.issue, [claim.id for claim in plan.uncertain])
        dispatcher = Dispatcher(
            store.ledger, plan.issue, self.templates, outgoing.first.language,
            envelope_from(outgoing.workspace, outgoing.newsletter), self.transport,
            self.settings, _halting(progress, halt, lambda why: dispatcher.halt(why)),
            audience=self.audience)
        report = asyncrun.run(lambda: _dispatch(dispatcher))
        # This run's journal is closed by now: only other senders' runs are alive.
        return Finished(report, store.ledger.counts(plan.issue, self.audience),
                        store.ledger.being_sent(plan.issue, self.audience))


@contextmanager
def planned(outgoing: Outgoing, request: Request) -> Iterator[Send]:
    """The send of `outgoing` that `request` asks for, planned, with the store open; refused
    (SendError) when `bulletin check` found errors and no reason to force was given, when
    BULLETIN_SECRET_KEY or the settings are wrong ([smtp] too: missing, or a username without
    its password). A dry run checks all a send would check, and connects to nothing."""
    if outgoing.errors and request.force is None:
        raise SendError(refusal(request.issue, outgoing.errors))
    never = [error for error in outgoing.errors if not error.forcible]
    if never:
        raise SendError(refusal(request.issue, never, forcible=False))
    workspace = outgoing.workspace
    key = links.secret_key()  # a dry run refuses what the send would refuse
    config = send_config(workspace, request.connections, request.per_second, request.per_hour)
    relay = config.transport()  # [smtp] checked (a dry run too), nothing connected
    transport = None if request.dry_run else relay
    templates = campaign.templates(outgoing, key)  # a bad DKIM key stops us here
    audience = campaign.audience(outgoing, request.language)
    list_name = request.list_name or outgoing.newsletter.mailing_list
    with campaign.open_store(workspace) as store:
        approvals = gate.standing(store, outgoing, request.issue, list_name, request.sender)
        if not request.dry_run:  # a dry run shows them, and needs none
            gate.require(approvals, request.issue)
        yield Send(outgoing, store, campaign.plan(store, outgoing, list_name, audience),
                   request, audience, templates, transport, config.dispatch, approvals)


def _halting(progress: Progress | None, halt: Callable[[], str | None] | None,
             stop: Callable[[str], None]) -> Progress | None:
    """`progress`, asking `halt` (at most once a second) whether to stop."""
    if halt is None:
        return progress
    import time

    asked = [0.0]

    def report(current: Report) -> None:
        if progress is not None:
            progress(current)
        if time.monotonic() - asked[0] >= 1.0:
            asked[0] = time.monotonic()
            reason = halt()
            if reason is not None:
                stop(reason)

    return report


async def _dispatch(dispatcher: Dispatcher) -> Report:
    import asyncio
    import signal

    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if asyncrun.in_main_thread() else ()
    for number in signals:  # Ctrl-C: finish what is in flight, record it, stop
        loop.add_signal_handler(number, dispatcher.halt, "interrupted")
    try:
        return await dispatcher.run()
    finally:
        for number in signals:
            loop.remove_signal_handler(number)


def refusal(issue: Path, errors: list[Notice], forcible: bool = True) -> str:
    """The lines of the error a send with check errors stops with; `forcible` False for
    errors that --force does not override (Notice.forcible)."""
    number = f"{len(errors)} error{'s' * (len(errors) != 1)}"
    them = "them" if len(errors) > 1 else "it"
    advice = (f"fix {them}, or send anyway with --force \"REASON\" (the reason goes to the "
              "audit trail)" if forcible else f"fix {them}: --force does not send a "
              "translation still to come")
    return "\n".join([f"{issue}: not sent: `bulletin check` finds {number}; {advice}",
                      *map(str, errors)])


def forced(reason: str, errors: list[Notice]) -> str:
    """The audit trail's detail of a forced send: the reason, then what it overrode."""
    return " ".join(reason.split()) + "\n" + "\n".join(map(str, errors))


def publish_media(outgoing: Outgoing, store: Store) -> int:
    """Every edition's local images into the store (BASE/media/<name>, `bulletin serve`);
    how many were new. Done before the first message, so no one opens an email whose
    images are not there yet."""
    return store.media.put((media.name, media.data, media.content_type)
                           for edition in outgoing.editions
                           for media in edition.rendered.media)


@dataclass(frozen=True)
class TestCopy:
    """One [TEST] copy: to whom, which edition, what the server said."""

    address: str
    language: str
    result: Result


def send_test(outgoing: Outgoing, addresses: list[str], out_dir: Path | None = None
              ) -> list[TestCopy]:
    """Every edition of `outgoing` to every address, subject prefixed [TEST], over SMTP (or
    written as .eml files to `out_dir`); those the server took are kept as the issue's test
    sends (which `bulletin send` and `bulletin status` show), not as sends to the list."""
    workspace = outgoing.workspace
    transport = send_config(workspace).transport(out_dir)
    envelope = envelope_from(workspace, outgoing.newsletter)
    if any(edition.rendered.media for edition in outgoing.editions):
        with campaign.open_store(workspace) as store:
            publish_media(outgoing, store)
    results = asyncrun.run(lambda: campaign.send_tests(outgoing, addresses, transport,
                                                       envelope))
    with campaign.open_store(workspace) as store:
        for address, _language, result, message_id in results:
            if result.sent and out_dir is None:
                store.ledger.record_test_send(outgoing.key, address, message_id, result.reply)
    return [TestCopy(address, language, result) for address, language, result, _ in results]


@dataclass(frozen=True)
class Status:
    """What became of an issue's send."""

    key: str
    """How the ledger names the issue."""
    counts: dict[str, int]
    failures: list[tuple[str, int]]
    """(last reply, how many), most common first."""
    uncertain: list[Claim]
    tests: list[tuple[str, datetime]]
    forced: list[AuditRecord]
    """The sends that went past the errors of `bulletin check`."""
    returns: IssueReturns | None = None
    """Bounces, complaints and unsubscribes since it was sent."""
    warnings: list[str] = field(default_factory=list)
    """A rate at or above its newsletter's threshold ([newsletters.X.bounces])."""
    timing: list[LanguageTiming] = field(default_factory=list)
    """When each language's first and last message went (store/timing.py)."""


def rate(count: int, sent: int) -> Fraction | None:
    """`count` of `sent` messages, exactly (None when nothing was sent)."""
    return Fraction(count, sent) if sent else None


def warnings(returns: IssueReturns, complaint_warning: float,
             bounce_warning: float) -> list[str]:
    """What is wrong with an issue's rates, one line each: the complaint rate at or above
    `complaint_warning`, the bounce rate (hard and soft) at or above `bounce_warning`.
    Compared exactly (as fractions), so that 1 in 1,000 is 0.1%."""
    found = []
    for what, count, threshold, advice in (
            ("complaint", returns.complaints, complaint_warning,
             "mailbox providers start refusing mail from senders near 0.3%; check that "
             "everyone on the list asked for it"),
            ("bounce", returns.bounced, bounce_warning,
             "clean the list: old or bought addresses hurt delivery to everyone")):
        share = rate(count, returns.sent)
        if share is not None and share >= Fraction(str(threshold)):
            found.append(f"{what} rate {percent(share)} ({count:,} of {returns.sent:,} sent) "
                         f"is at or above {percent(Fraction(str(threshold)))}: {advice}")
    return found


def percent(share: Fraction) -> str:
    """A share as a percentage with up to two decimals: 0.1%, 2%, 33.33%."""
    shown = f"{float(share * 100):.2f}".rstrip("0").rstrip(".")
    return "under 0.01%" if shown == "0" and share else shown + "%"


def status(issue: Path, config: Path | None = None) -> Status:
    """What the ledger and the audit trail hold about the issue's send (the issue is loaded
    for its name, not rendered)."""
    from ..workflow import load  # here: a sending process never needs it

    workspace, loaded = load(issue, config)
    key = campaign.issue_key(loaded)
    rules = workspace.newsletter(loaded.issue.newsletter).bounces
    with campaign.open_store(workspace) as store:
        returns = store.inbound.of_issue(key)
        return Status(key, store.ledger.counts(key), store.ledger.failures(key),
                      store.ledger.uncertain(key), store.ledger.test_sends(key),
                      [record for record in store.issue_audit(key) if record.action == FORCED],
                      returns, warnings(returns, rules.complaint_warning, rules.bounce_warning),
                      by_language(store.engine, key))
