"""Phase 2 of an import: the staged rows (staging.py) merged into the store, inside the one
short write transaction the caller holds.

Addresses the store already knows (a subscriber or a suppression) are read a chunk (the rows a
batch staged first) at a time, with one set-based read joining the staging table with their
subscriber, suppression and membership of the list; the subscription rules (rules.subscribe,
the same function a single subscription uses) decide each row in Python, and the changes are
written with multi-row statements.

Each known row is then taken out of the staging table, so that what is left there is the
addresses the store has never seen: most of a big import. The rules decide the same for every
one of them (`subscribe(NOBODY, request)`, asked once), so they are added last, in one
set-based pass inside the database (newrows.py): nothing goes through Python, and the rows are
read once, not once a chunk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    insert,
    literal_column,
    select,
    true,
    update,
)

from .bulk import Copy, Many, Query, constant
from .models import AuditEntry, Membership, Subscriber, Suppression, UTCDateTime, now, table
from .newrows import NewRows
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
        self.known = 0
        """How many staged addresses the chunks found known to the store."""

        def sql(value: object, type_: Any = None) -> Any:
            return constant(connection, value, type_)

        now_ = now()
        at = sql(now_, UTCDateTime())
        consent = sql(f"import:{source}"[:200])
        on_list = sql(list_id)
        # What the rules give every new subscriber of this import (the same for all).
        self.new = subscribe(NOBODY, self.request)
        assert self.new.after.subscriber is not None and self.new.after.membership is not None
        join_keys = ("subscriber_id",)
        audit_keys = ("subscriber_id", "email_key", "list_id", "action", "old_status",
                      "new_status", "detail")
        self.join: Callable[[list[tuple[Any, ...]]], object]
        self.insert_audit: Callable[[list[tuple[Any, ...]]], object]
        if self.postgres:
            self.join = Copy(connection, _memberships.name, join_keys,
                             (("list_id", list_id), ("status", "active"),
                              ("created_at", now_), ("updated_at", now_)))
            self.insert_audit = Copy(connection, _audit.name, audit_keys,
                                     (("at", now_), ("source", "import"), ("actor", actor)))
        else:
            self.join = Many(
                connection, insert(_memberships).values(list_id=on_list, status=sql("active"),
                                                        created_at=at, updated_at=at),
                join_keys)
            self.insert_audit = Many(
                connection, insert(_audit).values(at=at, source=sql("import"),
                                                  actor=sql(actor)),
                audit_keys)
        chose = _subscribers.c.language.is_distinct_from(bindparam("language"))
        self.fill = Many(
            connection, update(_subscribers).where(_subscribers.c.id == bindparam("_id"))
            .values(name=bindparam("name"), language=bindparam("language"), updated_at=at,
                    # a language the import fills in is a choice recorded via the import
                    language_source=case((chose, sql("import")),
                                         else_=_subscribers.c.language_source),
                    language_at=case((chose, at), else_=_subscribers.c.language_at)),
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
        # The rows whose address the store has never seen: the rules decide the same for
        # every one of them (self.new), so they are written set-based (newrows.py).
        self.new_rows = NewRows(connection, list_id, source, actor, self.new, now_)
        self.state = Query(connection, _state(self.postgres, on_list))

    def chunk(self, low: int, high: int) -> None:
        """Merge the staged rows of one chunk (low < seq <= high) whose address the store
        knows (a subscriber or a suppression); the others are left to `add_new`."""
        request = self.request
        where = f"{self.source}:"
        fills: list[tuple[Any, ...]] = []
        statuses: list[tuple[Any, ...]] = []
        joins: list[tuple[Any, ...]] = []
        rejoins: list[tuple[Any, ...]] = []
        audits: list[tuple[Any, ...]] = []
        counts: Counter[str] = Counter()
        known = self.state.run(low=low, high=high)
        for (_, key, email, name, language, line, id_, status, old_name, old_language,
             suppression, membership) in known:
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
            assert after is not None and before.subscriber is not None
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

        self.known += len(known)
        for name, count in counts.items():
            self.count(OUTCOME_COUNTS.get(name, name), count)
        self.fill(fills)
        self.change_status(statuses)
        self.join(joins)
        self.rejoin(rejoins)
        self.insert_audit(audits)

        # Out of the staging table: what is left there is the new addresses (add_new).
        if known and self.postgres:
            self.connection.exec_driver_sql(f"DELETE FROM {staged.name} WHERE seq = ANY(%(seqs)s)",
                                            {"seqs": [row[0] for row in known]})
        elif known:
            self.connection.exec_driver_sql(f"DELETE FROM {staged.name} WHERE seq = ?",
                                            [(row[0],) for row in known])

    def add_new(self, staged_rows: int, dense: bool) -> None:
        """Add every staged address the store has never seen, with their memberships and
        audit rows, in one set-based pass (after every chunk, which takes the addresses the
        store knows out of the staging table). `staged_rows` is how many addresses were
        staged (`dense`: as seq 1 to staged_rows); all but the known ones are added, or the
        import fails (someone else added one meanwhile)."""
        new = staged_rows - self.known
        if new:
            self.new_rows.add(new, dense and not self.known)
            self.count("added", new)


_ONE: Any = literal_column("1")
"""LIMIT 1 written into the SQL (Query binds only the parameters it is given)."""


def _state(postgres: bool, on_list: Any) -> Any:
    """The read of a chunk's known rows: each staged row (low < seq <= high) with its
    subscriber, suppression and membership of the list, where it has a subscriber or a
    suppression. On PostgreSQL each is looked up a row at a time through its index (LATERAL,
    LIMIT 1: a join the planner cannot turn into a scan), whatever it thinks of the tables'
    sizes: with statistics from before an import of 1,000,000 rows it hashed the whole
    subscribers table for every chunk (143 ms a chunk)."""
    subscriber: Any = _subscribers
    suppression: Any = _suppressions
    membership: Any = _memberships
    subscribed: Any
    suppressed: Any
    member: Any
    if postgres:
        subscriber = (select(_subscribers.c.id, _subscribers.c.status, _subscribers.c.name,
                             _subscribers.c.language)
                      .where(_subscribers.c.email_key == staged.c.email_key)
                      .limit(_ONE).lateral("subscriber"))
        suppression = (select(_suppressions.c.email_key)
                       .where(_suppressions.c.email_key == staged.c.email_key)
                       .limit(_ONE).lateral("suppression"))
        membership = (select(_memberships.c.status)
                      .where(_memberships.c.list_id == on_list,
                             _memberships.c.subscriber_id == subscriber.c.id)
                      .limit(_ONE).lateral("membership"))
        subscribed, suppressed, member = true(), true(), true()
    else:
        subscribed = _subscribers.c.email_key == staged.c.email_key
        suppressed = _suppressions.c.email_key == staged.c.email_key
        member = (_memberships.c.list_id == on_list) \
            & (_memberships.c.subscriber_id == _subscribers.c.id)
    return (select(staged.c.seq, staged.c.email_key, staged.c.email, staged.c.name,
                   staged.c.language, staged.c.line, subscriber.c.id, subscriber.c.status,
                   subscriber.c.name, subscriber.c.language, suppression.c.email_key,
                   membership.c.status)
            .select_from(staged)
            .outerjoin(subscriber, subscribed)
            .outerjoin(suppression, suppressed)
            .outerjoin(membership, member)
            .where(staged.c.seq > bindparam("low"), staged.c.seq <= bindparam("high"),
                   subscriber.c.id.is_not(None) | suppression.c.email_key.is_not(None))
            .order_by(staged.c.line))
