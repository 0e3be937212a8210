"""`bulletin subscribers show ADDRESS`: everything the store knows about one person, for an
operator asked "was she sent issue 4? why is she suppressed?": status, lists, language,
consent, suppression, pause, the issues queued for her and what became of each, and what came
back (bounces, complaints, auto-replies, emailed unsubscribes) with the inbound row holding
its evidence. Only her own data: nothing of any other subscriber, and not the stored messages
themselves (a bounce may name other people; `inbound #ID` points to it).

Registered on the `subscribers` group by bulletin.cli.subscribers; kept apart so that module
stays in its room."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from .common import StoreConfigOpt, out, reported
from .database import open_store

if TYPE_CHECKING:
    from ..store import Store


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def profile(store: Store, email: str) -> dict[str, Any]:
    """One subscriber's record as one JSON-ready object; NotSubscribedError (a StoreError)
    for an address the store does not have, StoreError for one that is not an address."""
    info = store.subscriber(email)
    suppression = store.suppressions.get(info.email)
    deliveries = store.ledger.of_subscriber(info.id)
    issue_of = {row.id: row.issue for row in deliveries}
    return {
        "email": info.email, "name": info.name, "status": info.status,
        "language": info.language,
        "language_choice": {"source": info.language_source, "at": _when(info.language_at)},
        "consent": {"source": info.consent_source, "at": _when(info.consent_at)},
        "lists": [{"list": name, "status": status}
                  for name, status in store.memberships(info.id).items()],
        "suppressed": None if suppression is None else {
            "reason": suppression.reason, "source": suppression.source,
            "at": _when(suppression.at)},
        "paused_until": _when(store.paused_until(info.id)),
        "issues": [{"issue": row.issue, "state": row.state, "last_reply": row.last_reply,
                    "at": _when(row.at)} for row in deliveries],
        "returns": [{"inbound": row.id, "kind": row.kind, "status": row.status,
                     "reason": row.reason, "at": _when(row.received_at),
                     "issue": issue_of.get(row.delivery_id or 0), "action": row.action,
                     "source": row.source} for row in store.inbound.of(info.id)],
    }


def show_command(
        email: Annotated[str, typer.Argument(help="Their email address (any case)",
                                             show_default=False)],
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
        config: StoreConfigOpt = None) -> None:
    """Everything about one subscriber: status, lists, language, consent, suppression,
    pause, the issues sent to them and each outcome, and the bounces and complaints about
    them with their evidence (the inbound row)."""
    with reported(), open_store(config) as store:
        found = profile(store, email)
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return
    _print(found)


def _stamp(at: str | None) -> str:
    return "-" if at is None else at.replace("T", " ")[:16] + " UTC"


def _print(found: dict[str, Any]) -> None:
    name = f"  ({found['name']})" if found["name"] else ""
    out.print(f"[bold]{escape(found['email'])}[/]{escape(name)}")
    consent = found["consent"]
    lists = ", ".join(f"{m['list']} ({m['status']})" for m in found["lists"]) or "none"
    suppressed = found["suppressed"]
    choice = found["language_choice"]
    rows = [("Status", found["status"]), ("Language", found["language"] or "-"),
            ("Chosen via", f"{choice['source']}, {_stamp(choice['at'])}"
             if choice["source"] else "not recorded"),
            ("Consent", f"{consent['source'] or '-'}, {_stamp(consent['at'])}"
             if consent["source"] or consent["at"] else "-"),
            ("Lists", lists),
            ("Suppressed", "no" if suppressed is None else
             f"yes, since {_stamp(suppressed['at'])} ({suppressed['source']}): "
             f"{' '.join(suppressed['reason'].split())}")]
    if found["paused_until"]:
        rows.append(("Paused", f"until {found['paused_until'][:10]}"))
    for label, value in rows:
        out.print(f"  {label + ':':<12} {escape(value)}")
    issues = found["issues"]
    out.print(f"[bold]Issues ({len(issues)}):[/]" + ("" if issues else " none"))
    for row in issues:
        reply = " ".join((row["last_reply"] or "").split())[:120]
        out.print(f"  {escape(row['issue'])}  {row['state']}  {_stamp(row['at'])}"
                  + (f"  {escape(reply)}" if reply else ""))
    returns = found["returns"]
    out.print(f"[bold]Bounces and complaints ({len(returns)}):[/]" + ("" if returns
                                                                      else " none"))
    for row in returns:
        what = " ".join(part for part in (row["kind"], row["status"], row["reason"]) if part)
        about = f" about {row['issue']}" if row["issue"] else ""
        out.print(f"  {_stamp(row['at'])}  {escape(what)}{escape(about)}: {row['action']} "
                  f"(evidence: inbound #{row['inbound']}, from {escape(row['source'])})")


def register(group: typer.Typer) -> None:
    """Add `show` to the `subscribers` group."""
    group.command("show")(show_command)

