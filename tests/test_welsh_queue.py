"""The send queue interleaves a bilingual list's languages (on SQLite and PostgreSQL): claims
take the lowest ids first, so each language's subscribers are spread over the whole queue,
never all of one language and then the other."""

from __future__ import annotations

from sqlalchemy import select

from bulletin.store.models import LedgerEntry, Subscriber
from bulletin.store.store import Store

pytest_plugins = ["tests.store_fixtures"]


def test_the_queue_spreads_each_language_over_the_whole_send(store: Store, news: str) -> None:
    people = [*(("cy", n) for n in range(30)), *(("en", n) for n in range(60)),
              *((None, n) for n in range(10))]  # joined in blocks, one language after another
    for language, n in people:
        store.subscribe(f"{language}{n}@example.org", news, source="test", language=language)
    assert store.ledger.create("news/1", news) == 100
    with store.engine.connect() as connection:
        order = [language for language, in connection.execute(
            select(Subscriber.language).join(LedgerEntry,
                                             LedgerEntry.subscriber_id == Subscriber.id)
            .where(LedgerEntry.issue == "news/1").order_by(LedgerEntry.id))]
    for language, total in (("cy", 30), ("en", 60), (None, 10)):
        places = [n for n, got in enumerate(order) if got == language]
        assert len(places) == total
        assert places[0] < 10 and places[-1] >= 90, (language, places)
        # evenly: in every tenth of the queue, about a tenth of this language
        for tenth in range(10):
            inside = sum(1 for place in places if tenth * 10 <= place < tenth * 10 + 10)
            assert abs(inside - total / 10) <= 1.5, (language, tenth, inside)
