"""Phase 2 of an import: the staged rows (staging.py) merged into the store, inside the one
short write transaction the caller holds.

For each chunk of staged rows (those a batch staged first), one set-based read joins the
staging table with the existing subscribers, their suppression and their membership of the
list; the subscription rules (rules.subscribe, the same function a single subscription uses)
decide each row in Python; and the changes are written with multi-row statements. New
subscribers' memberships and audit rows are inserted straight from the rows just inserted (no
round trip of their ids through Python). On PostgreSQL the rows that are only inserted (new
subscribers, memberships, audit rows) go in with COPY (bulk.Copy), the constants of the import
written into every row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    String,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)

from .bulk import Copy, Many, Query, constant
from .models import (
    AuditEntry,
    Membership,
    Subscriber,
    Suppression,
    UTCDateTime,
    now,
    table,
)
from .rows import NoteKind
from .rules import NOBODY, Person, Request, State, subscribe
from .staging import staged

_subscribers = table(Subscriber)
_memberships = table(Membership)
_audit = table(AuditEntry)
_suppressions = table(Suppression)

OUTCOME_COUNTS = {"added": "added", "joined": "joined", "activated": "activated",
                  "resubscribed": "resubscribed", "unchanged": "unchanged",
                  "suppressed": "suppressed", "left": "unsubscribed"}
"""Each outcome of the rules, and the ImportReport count it adds to."""


class Merge:
    """Merges the staged rows into list `list_id` on `connection`. `count(name, n)` adds n to
    the report's count `name`; `refused(line, kind, message)` is told of each row not
    imported."""

    def __init__(self, connection: Connection, list_id: int, source: str, actor: str | None,
                 resubscribe: bool, count: Callable[[str, int], None],
                 refused: Callable[[int, NoteKind, str], None]) -> None:
        self.connection = connection
        self.list_id = list_id
        self.source = source
        self.request = Request(resubscribe=resubscribe)
        self.count = count
        self.refused = refused
        self.postgres = connection.dialect.name == "postgresql"
        self.added = 0
        self.analysed = 0
        """PostgreSQL: how many subscribers this import had added when it last analysed."""

        def sql(value: object, type_: Any = None) -> Any:
            return constant(connection, value, type_)

        now_ = now()
        at = sql(now_, UTCDateTime())
        consent = sql(f"import:{source}"[:200])
        on_list = sql(list_id)
        # What the rules give every new subscriber of this import (the same for all).
        self.new = subscribe(NOBODY, self.request)
        assert self.new.after.subscriber is not None and self.new.after.membership is not None
        subscriber_keys = ("email", "email_key", "name", "language")
        join_keys = ("subscriber_id",)
        audit_keys = ("subscriber_id", "email_key", "list_id", "action", "old_status",
                      "new_status", "detail")
        self.insert_subscribers: Callable[[list[tuple[Any, ...]]], None]
        self.join: Callable[[list[tuple[Any, ...]]], None]
        self.insert_audit: Callable[[list[tuple[Any, ...]]], None]
        if connection.dialect.name == "postgresql":
            self.insert_subscribers = Copy(
                connection, _subscribers.name, subscriber_keys,
                (("status", self.new.after.subscriber.status),
                 ("consent_source", f"import:{source}"[:200]), ("consent_at", now_),
                 ("created_at", now_), ("updated_at", now_)))
            self.join = Copy(connection, _memberships.name, join_keys,
                             (("list_id", list_id), ("status", "active"),
                              ("created_at", now_), ("updated_at", now_)))
            self.insert_audit = Copy(connection, _audit.name, audit_keys,
                                     (("at", now_), ("source", "import"), ("actor", actor)))
        else:
            self.insert_subscribers = Many(
                connection, insert(_subscribers).values(
                    status=sql(self.new.after.subscriber.status), consent_source=consent,
                    consent_at=at, created_at=at, updated_at=at),
                subscriber_keys)
            self.join = Many(
                connection, insert(_memberships).values(list_id=on_list, status=sql("active"),
                                                        created_at=at, updated_at=at),
                join_keys)
            self.insert_audit = Many(
                connection, insert(_audit).values(at=at, source=sql("import"),
                                                  actor=sql(actor)),
                audit_keys)
        self.fill = Many(
            connection, update(_subscribers).where(_subscribers.c.id == bindparam("_id"))
            .values(name=bindparam("name"), language=bindparam("language"), updated_at=at),
            ("_id", "name", "language"))
        self.change_status = Many(
            connection, update(_subscribers).where(_subscribers.c.id == bindparam("_id"))
            .values(status=bindparam("status"), consent_source=consent, consent_at=at,
                    updated_at=at),
            ("_id", "status"))
        self.rejoin = Many(
            connection, update(_memberships)
            .where(_memberships.c.list_id == on_list,
                   _memberships.c.subscriber_id == bindparam("_subscriber"))
            .values(status=sql("active"), updated_at=at),
            ("_subscriber",))
        just_added = (select(_subscribers.c.id, _subscribers.c.email_key, staged.c.line)
                      .join_from(staged, _subscribers,
                                 _subscribers.c.email_key == staged.c.email_key)
                      .where(staged.c.chunk == bindparam("chunk"),
                             _subscribers.c.id > bindparam("after"))
                      .subquery())
        self.join_new = insert(_memberships).from_select(
            ["list_id", "subscriber_id", "status", "created_at", "updated_at"],
            select(on_list.label("list_id"), just_added.c.id,
                   sql(self.new.after.membership).label("status"), at.label("created_at"),
                   sql(now_, UTCDateTime()).label("updated_at")))
        self.audit_new = [insert(_audit).from_select(
            ["at", "subscriber_id", "email_key", "list_id", "action", "old_status",
             "new_status", "source", "actor", "detail"],
            select(at.label("at"), just_added.c.id, just_added.c.email_key,
                   sql(list_id if row.on_list else None).label("list_id"),
                   sql(row.action).label("action"),
                   sql(row.old_status).label("old_status"),
                   sql(row.new_status).label("new_status"),
                   sql("import").label("source"), sql(actor).label("actor"),
                   (sql(f"{source}:") + cast(just_added.c.line, String)).label("detail")))
            for row in self.new.audit]
        self.state = Query(connection, select(staged.c.email_key, staged.c.email, staged.c.name,
                             staged.c.language, staged.c.line, _subscribers.c.id,
                             _subscribers.c.status, _subscribers.c.name,
                             _subscribers.c.language, _suppressions.c.email_key,
                             _memberships.c.status)
                      .select_from(staged)
                      .outerjoin(_subscribers, _subscribers.c.email_key == staged.c.email_key)
                      .outerjoin(_suppressions,
                                 _suppressions.c.email_key == staged.c.email_key)
                      .outerjoin(_memberships, (_memberships.c.list_id == on_list)
                                 & (_memberships.c.subscriber_id == _subscribers.c.id))
                      .where(staged.c.chunk == bindparam("chunk"))
                      .order_by(staged.c.line))

    def chunk(self, number: int) -> None:
        """Merge the staged rows first staged by batch `number`."""
        connection = self.connection
        request = self.request
        where = f"{self.source}:"
        new: list[tuple[Any, ...]] = []
        fills: list[tuple[Any, ...]] = []
        statuses: list[tuple[Any, ...]] = []
        joins: list[tuple[Any, ...]] = []
        rejoins: list[tuple[Any, ...]] = []
        audits: list[tuple[Any, ...]] = []
        counts: Counter[str] = Counter()
        for (key, email, name, language, line, id_, status, old_name, old_language,
             suppression, membership) in self.state.run(chunk=number):
            if id_ is None and suppression is None:
                before = NOBODY
            else:
                before = State(None if id_ is None else Person(status, old_name, old_language),
                               membership, suppression is not None)
            decision = subscribe(before, Request(request.status, request.resubscribe, name,
                                                 language))
            outcome = decision.outcome
            counts[outcome] += 1
            if outcome == "suppressed":
                self.refused(line, "suppressed",
                             f"{email} is on the suppression list; never imported")
                continue
            if outcome == "left":
                how = decision.left_how or "unsubscribed from this list"
                self.refused(line, "unsubscribed",
                             f"{email} has left ({how}); not re-subscribed (only if they "
                             f"have asked to be: --resubscribe)")
                continue
            after = decision.after.subscriber
            assert after is not None
            if outcome == "added":
                # As the staging table has them, which is where they are inserted from.
                assert after.name == name and after.language == language
                new.append((email, key, name, language))
                continue
            assert before.subscriber is not None
            if decision.filled:
                counts["filled"] += 1
                fills.append((id_, after.name, after.language))
            if decision.consent or after.status != before.subscriber.status:
                statuses.append((id_, after.status))
            if decision.after.membership != membership:
                if membership is None:
                    joins.append((id_,))
                else:
                    rejoins.append((id_,))
            detail = f"{where}{line}"
            for row in decision.audit:
                audits.append((id_, key, self.list_id if row.on_list else None, row.action,
                               row.old_status, row.new_status, detail))

        for name, count in counts.items():
            self.count(OUTCOME_COUNTS.get(name, name), count)
        if new:
            after_id = connection.scalar(select(func.coalesce(func.max(_subscribers.c.id), 0)))
            self.insert_subscribers(new)
            marks = {"chunk": number, "after": after_id}
            connection.execute(self.join_new, marks)
            for statement in self.audit_new:
                connection.execute(statement, marks)
            self.added += len(new)
            if self.postgres and self.added >= 2 * self.analysed:
                # Statistics that see this transaction's own new rows, each time they have
                # doubled: planned for the empty tables they were, the next chunk's read
                # would scan every subscriber for each staged row.
                connection.exec_driver_sql(f"ANALYZE {_subscribers.name}, {_memberships.name}")
                self.analysed = self.added
        self.fill(fills)
        self.change_status(statuses)
        self.join(joins)
        self.rejoin(rejoins)
        self.insert_audit(audits)
