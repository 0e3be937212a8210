"""Queueing an issue on SQLite keeps the memory its statement holds within a bound that does
not grow with the list: its sorts kept up to the page cache's 2 MB each, so the sender's peak
grew with the number of recipients (issue 18). Measured by SQLite's own count of the memory
it holds (sqlite3_memory_highwater, in bytes), not by time. Each language's size is counted
apart, not by a second window over the rows (count() OVER, which held 1.6 MB more here).
(What is left, about 5 MB at 90,000 members, is the window's own table and the sorts, each
capped.)"""

from __future__ import annotations

import ctypes
import ctypes.util
import sqlite3
from pathlib import Path

import pytest

from bulletin.send import campaign
from bulletin.send.campaign import SENDING_CACHE_KIB
from bulletin.settings import load_workspace
from bulletin.store.store import Store

MEMBERS = 90_000
BOUND = 23 << 18  # 5.75 MiB
"""What queueing them may add to SQLite's memory at its peak, in bytes."""


def _library() -> ctypes.CDLL:
    import _sqlite3  # the library Python's sqlite3 module uses, with its counters

    library = ctypes.CDLL(_sqlite3.__file__)
    try:
        library.sqlite3_memory_highwater.restype = ctypes.c_int64
    except AttributeError:  # linked dynamically: the counters are in libsqlite3 itself
        found = ctypes.util.find_library("sqlite3")
        if found is None:
            pytest.skip("libsqlite3 cannot be found to read its memory counters")
        library = ctypes.CDLL(found)
    library.sqlite3_memory_highwater.restype = ctypes.c_int64
    library.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library


def test_queueing_an_issue_holds_sqlite_memory_bounded_not_by_the_list(tmp_path: Path) -> None:
    library = _library()
    csv = tmp_path / "members.csv"
    csv.write_text("email,name,language\n" + "".join(
        f"reader{n:06d}@example.org,Reader {n},{('en', 'cy', '')[n % 3]}\n"
        for n in range(MEMBERS)))
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.create_list("news", newsletter="news")
        store.import_csv(csv, "news")
        before = library.sqlite3_memory_used()
        library.sqlite3_memory_highwater(1)  # the peak, from now on
        assert store.ledger.create("news-1", "news") == MEMBERS
        added = library.sqlite3_memory_highwater(0) - before
    assert added < BOUND, f"queueing {MEMBERS:,} members held {added:,} bytes more at its peak"


def _cache_sizes(store: Store) -> tuple[int, int]:
    """PRAGMA cache_size on two connections of the store's engine open at once."""
    with store.engine.connect() as one, store.engine.connect() as two:
        return (one.exec_driver_sql("PRAGMA cache_size").scalar_one(),
                two.exec_driver_sql("PRAGMA cache_size").scalar_one())


def test_a_store_opened_with_a_cache_size_gives_it_to_every_connection(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.open(url, cache_kib=300) as store:
        assert _cache_sizes(store) == (-300, -300)
    default = sqlite3.connect(":memory:").execute("PRAGMA cache_size").fetchone()[0]
    assert default != -300
    with Store.open(url) as store:  # SQLite's own, otherwise
        assert _cache_sizes(store) == (default, default)


def test_a_send_opens_its_store_with_the_small_cache(workspace: Path) -> None:
    """Its connections' caches were 2 MB each, about 4 MB of the sender's peak at
    1,000,000 recipients."""
    with campaign.open_store(load_workspace(workspace / "bulletin.toml")) as store:
        assert _cache_sizes(store) == (-SENDING_CACHE_KIB, -SENDING_CACHE_KIB)
    assert SENDING_CACHE_KIB < 1024
