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
from pathlib import Path

import pytest

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

