"""The end of an import's merge: every staged address the store has never seen added, with its
membership of the list and its audit rows, set-based, inside the database (merge.py calls it
after the chunks, which have taken the addresses the store knows out of the staging table).

The rules decide the same for every new address (`subscribe(NOBODY, request)`, asked once by
the caller and handed in as `new`), so the statements here are that decision written as SQL:
its status, membership and audit rows. Subscribers get ids in the order of the file.

SQLite (the write lock is this transaction's, so nothing else adds a subscriber meanwhile):
each new subscriber's id is worked out before it is inserted, the highest id so far plus its
place among the staged rows (its `seq` when the staging table holds exactly 1 to n, else its
rank by `seq`), so the subscribers, memberships and audit rows are three plain passes over the
staging table, with no look-up of one in the other.

PostgreSQL (others may write meanwhile): one statement inserts the subscribers in the order of
the file, ids from their sequence, and its CTEs write the memberships and audit rows from the
ids it returns. A subscriber someone else added meanwhile with one of these addresses breaks
the unique address (IntegrityError: the import fails whole, and says to run it again); one
they suppressed meanwhile is looked for afterwards, with the same result.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    case,
    cast,
    exists,
    func,
    insert,
    null,
    select,
)

from .bulk import constant
from .errors import StoreError
from .models import (
    AuditEntry,
    MailingList,
    Membership,
    Subscriber,
    Suppression,
    UTCDateTime,
    table,
)
from .rules import Decision
from .staging import staged

_subscribers = table(Subscriber)
_memberships = table(Membership)
_audit = table(AuditEntry)
_suppressions = table(Suppression)
_COLUMNS = ["email", "email_key", "name", "language", "language_source", "language_at",
            "status", "consent_source", "consent_at", "created_at", "updated_at"]


class NewRows:
    """The statements that add the new addresses to list `list_id`, as the rules' decision
    `new` for a new address says."""

    def __init__(self, connection: Connection, list_id: int, source: str, actor: str | None,
                 new: Decision, at_time: object) -> None:
        self.connection = connection
        self.list_id = list_id
        self.source = source
        self.postgres = connection.dialect.name == "postgresql"
        subscriber, membership = new.after.subscriber, new.after.membership
        assert subscriber is not None and membership is not None

        def sql(value: object, type_: Any = None) -> Any:
            return constant(connection, value, type_)

        at = sql(at_time, UTCDateTime())
        given = staged.c.language.is_not(None)
        values = [staged.c.email, staged.c.email_key, staged.c.name, staged.c.language,
                  case((given, sql("import")), else_=None),
                  case((given, at), else_=cast(null(), UTCDateTime())),
                  sql(subscriber.status), sql(f"import:{source}"[:200]), at, at, at]
        detail = sql(f"{source}:") + cast(staged.c.line, String)

        def audit(ids: Any, keys: Any) -> list[tuple[list[str], list[Any]]]:
            return [(["at", "subscriber_id", "email_key", "list_id", "action", "old_status",
                      "new_status", "source", "actor", "detail"],
                     [at, ids, keys, sql(list_id if row.on_list else None), sql(row.action),
                      sql(row.old_status), sql(row.new_status), sql("import"), sql(actor),
                      detail])
                    for row in new.audit]

        joined = ["list_id", "subscriber_id", "status", "created_at", "updated_at"]
        if self.postgres:
            added = (insert(_subscribers)
                     .from_select(_COLUMNS, select(*values).order_by(staged.c.seq))
                     .returning(_subscribers.c.id, _subscribers.c.email_key).cte("added"))
            members = insert(_memberships).from_select(
                joined, select(sql(list_id), added.c.id, sql(membership), at, at))
            audited = [insert(_audit).from_select(
                names, select(*columns).join_from(added, staged,
                                                  staged.c.email_key == added.c.email_key))
                for names, columns in audit(added.c.id, added.c.email_key)]
            # One statement: the subscribers, their memberships and audit rows, and how many.
            self.postgres_sql = select(func.count()).select_from(added).add_cte(
                members.cte("joined"),
                *(statement.cte(f"audited{number}") for number, statement in
                  enumerate(audited)))
            self.suppressed_meanwhile = select(exists().where(
                _suppressions.c.email_key == staged.c.email_key))
            return
        self.sqlite_sql: dict[bool, list[Any]] = {}
        for dense in (True, False):
            # The id of each new subscriber: the highest before, plus its place in the file.
            place = staged.c.seq if dense else func.row_number().over(order_by=staged.c.seq)
            ids = bindparam("after", type_=Integer()) + place
            self.sqlite_sql[dense] = [
                insert(_subscribers).from_select(
                    ["id", *_COLUMNS], select(ids, *values).order_by(staged.c.seq)),
                insert(_memberships).from_select(
                    joined, select(sql(list_id), ids, sql(membership), at, at)
                    .order_by(staged.c.seq)),
                *(insert(_audit).from_select(names, select(*columns).order_by(staged.c.seq))
                  for names, columns in audit(ids, staged.c.email_key))]

    def add(self, new: int, dense: bool) -> None:
        """Add the `new` addresses the staging table holds (`dense`: as seq 1 to `new`)."""
        connection = self.connection
        if self.postgres:
            unchecked = self._unchecked()
            if unchecked:
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            added = connection.scalar(self.postgres_sql)
            if unchecked:
                connection.exec_driver_sql("SET LOCAL session_replication_role = origin")
            if connection.scalar(self.suppressed_meanwhile):
                added = -1
        else:
            after = connection.scalar(select(func.coalesce(func.max(_subscribers.c.id), 0)))
            statements = self.sqlite_sql[dense]
            added = connection.execute(statements[0], {"after": after}).rowcount
            for statement in statements[1:]:
                connection.execute(statement, {"after": after})
        if added != new:
            # PostgreSQL: someone else subscribed or suppressed one after it was read.
            raise StoreError(f"{self.source}: another process added some of these addresses "
                             f"while the import ran; nothing was imported. Run it again")

    def _unchecked(self) -> bool:
        """PostgreSQL: whether the foreign keys of the new rows may go unchecked, and the list
        locked as their checks would lock it. Each check is a query per row and key (four
        a new subscriber), most of the import's time, for rows valid by construction: the
        subscriber ids are of rows this statement inserts, which no one else can see, and
        the list is locked here against deletion (FOR KEY SHARE, as a check locks it) until
        the import commits. Only a superuser may turn the checks off (for one statement, by
        session_replication_role, which also turns off triggers: so only where these tables
        have none but the foreign keys' own)."""
        connection = self.connection
        lists = table(MailingList)
        locked = connection.scalar(select(lists.c.id).where(lists.c.id == self.list_id)
                                   .with_for_update(key_share=True, read=True))
        if locked is None:
            return False
        return bool(connection.exec_driver_sql(
            "SELECT current_setting('is_superuser') = 'on' AND NOT EXISTS (SELECT 1 FROM "
            "pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('subscribers'::regclass, "
            "'memberships'::regclass, 'audit_log'::regclass))").scalar())
