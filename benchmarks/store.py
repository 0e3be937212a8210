"""Subscriber store benchmark: import 1,000,000 generated subscribers through the real import
path (a CSV file on disk → bulletin.csvimport → Store.import_csv) into a fresh SQLite store,
then stream every active member of the list.

    python benchmarks/store.py [--rows 1000000] [--small 100000] [--no-postgresql]
    python benchmarks/store.py --old-code DIR [--rows 200000] [--no-postgresql]

--old-code DIR (a checkout of an older bulletin, e.g. `git worktree add /tmp/old HEAD`) runs
the import of --rows with that code and with this one, alternating, on SQLite and on
PostgreSQL, and prints one table of both: rows/s, CPU seconds, write-lock seconds and peak
memory.

One run prints: rows per second, the CPU seconds of the importing process (all its threads;
on busy cores the wall time grows but this much less), peak memory of the import (Python's
heap by tracemalloc, and the growth of the process's peak RSS, which includes SQLite's own
cache), how long the
import held the database's write lock (its merge transaction; an import without
ImportReport.locked_seconds held it throughout), the same at
--small rows to show the memory is flat in the size of the file, the time to stream the
list's active members, and a comparison with the targets (≥ 60,000 rows/s on SQLite,
≥ 50,000 on PostgreSQL; memory flat). Each measurement runs in a fresh process, so one does
not inherit another's peak; speed is measured without tracemalloc (which slows Python down),
memory in a second run with it. If PostgreSQL answers on 127.0.0.1:5432, the --rows import
is timed there too. The machine's cores and load average, before and after, are printed
with the figures: on busy cores the rates are lower than the code's. A few minutes on 2
cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import people  # benchmarks/people.py: generated subscribers

ROOT = Path(__file__).resolve().parents[1]
TARGET_ROWS_PER_S = 60_000
TARGET_POSTGRESQL_ROWS_PER_S = 50_000
FLAT = 1.25  # the bigger import's peak may be at most this much above the smaller one's ...
SLACK_MIB = 2.0  # ... plus this, for allocator noise
POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# -- the measuring child ----------------------------------------------------------------------

def child(csv_path: Path, url: str, trace: bool, stream: bool, code: Path = ROOT) -> None:
    import tracemalloc

    sys.path.insert(0, str(code))
    from bulletin.store import Store

    with Store.open(url) as store:
        store.create_list("bench")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if trace:
            tracemalloc.start()
        started, cpu = time.perf_counter(), _cpu()
        report = store.import_csv(csv_path, "bench")
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
        # Older imports (one transaction) held the write lock from start to end.
        locked = getattr(report, "locked_seconds", None)
        result = {"rows": report.rows, "added": report.added, "seconds": seconds, "cpu": cpu,
                  "locked_seconds": seconds if locked is None else locked,
                  "rss_growth_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                  - rss_before}
        if trace:
            result["traced_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.reset_peak()
        if stream:
            started = time.perf_counter()
            members = sum(1 for _ in store.iter_active_members("bench"))
            result["stream_seconds"] = time.perf_counter() - started
            result["streamed"] = members
            if trace:
                result["stream_traced_peak"] = tracemalloc.get_traced_memory()[1]
    print(json.dumps(result))


def measure(csv_path: Path, url: str, *, trace: bool = False, stream: bool = False,
            code: Path = ROOT) -> dict:
    command = [sys.executable, __file__, "--child", str(csv_path), url, "--code", str(code)]
    command += ["--trace"] * trace + ["--stream"] * stream
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"benchmark child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fresh_sqlite(folder: Path, name: str) -> str:
    for suffix in ("", "-wal", "-shm"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{folder / name}"


def postgresql_schema() -> tuple[str, object] | None:
    try:
        from sqlalchemy import create_engine, text
        engine = create_engine(POSTGRESQL, isolation_level="AUTOCOMMIT",
                               connect_args={"connect_timeout": 3})
        schema = f"bulletin_bench_{int(time.time())}"
        with engine.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception:  # no server: that part is informational only
        return None
    return schema, engine


def drop_schema(schema: str, engine: object) -> None:
    from sqlalchemy import text
    with engine.connect() as connection:  # type: ignore[attr-defined]
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()  # type: ignore[attr-defined]


# -- the report -------------------------------------------------------------------------------

def mib(amount: float) -> str:
    return f"{amount / 2**20:,.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--no-postgresql", action="store_true")
    parser.add_argument("--old-code", type=Path,
                        help="an older checkout to compare with, in one table")
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("CSV", "URL"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        child(Path(options.child[0]), options.child[1], options.trace, options.stream,
              options.code)
        return
    if options.old_code:
        compare(options.old_code.resolve(), options.rows, not options.no_postgresql)
        return

    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as temporary:
        folder = Path(temporary)
        big, small = folder / f"subscribers-{options.rows}.csv", \
            folder / f"subscribers-{options.small}.csv"
        started = time.perf_counter()
        people.generate(big, options.rows)
        people.generate(small, options.small)
        print(f"machine before: {load()}")
        print(f"bulletin store benchmark: SQLite {_sqlite_version()}, Python "
              f"{sys.version.split()[0]}, the real import path (CSV file → Store.import_csv, "
              f"staged, then merged)")
        print(f"generated {options.rows:,} subscribers ({big.stat().st_size / 1e6:.1f} MB) "
              f"and {options.small:,} in {time.perf_counter() - started:.1f} s")

        speed_small = measure(small, fresh_sqlite(folder, "small.db"))
        speed_big = measure(big, fresh_sqlite(folder, "big.db"), stream=True)
        memory_small = measure(small, fresh_sqlite(folder, "small.db"), trace=True)
        memory_big = measure(big, fresh_sqlite(folder, "big.db"), trace=True, stream=True)
        pg = None
        if not options.no_postgresql:
            made = postgresql_schema()
            if made is not None:
                schema, engine = made
                try:
                    pg = measure(big, f"{POSTGRESQL}?options=-csearch_path%3D{schema}",
                                 stream=True)
                finally:
                    drop_schema(schema, engine)

    for run in (speed_small, speed_big, memory_small, memory_big):
        assert run["added"] == run["rows"], run
    print()
    print(f"{'SQLite import':<24}{'rows':>11}{'seconds':>10}{'rows/s':>10}{'CPU s':>7}"
          f"{'write lock s':>14}{'tracemalloc peak':>19}{'peak RSS growth':>18}")
    for label, speed, memory in (("file of " + f"{options.small:,}", speed_small, memory_small),
                                 ("file of " + f"{options.rows:,}", speed_big, memory_big)):
        print(f"{label:<24}{speed['rows']:>11,}{speed['seconds']:>10.2f}"
              f"{speed['rows'] / speed['seconds']:>10,.0f}{speed['cpu']:>7.2f}"
              f"{speed['locked_seconds']:>14.2f}"
              f"{mib(memory['traced_peak']):>19}"
              f"{mib(speed['rss_growth_kib'] * 1024):>18}")
    streamed, stream_seconds = speed_big["streamed"], speed_big["stream_seconds"]
    print(f"stream all {streamed:,} active members of the list: {stream_seconds:.2f} s "
          f"({streamed / stream_seconds:,.0f} members/s; tracemalloc peak while streaming "
          f"{mib(memory_big['stream_traced_peak'])})")
    if pg is not None:
        print(f"PostgreSQL: {pg['rows']:,} rows imported in "
              f"{pg['seconds']:.2f} s = {pg['rows'] / pg['seconds']:,.0f} rows/s "
              f"({pg['cpu']:.2f} s of CPU in bulletin's process, the server's not counted; write "
              f"transaction {pg['locked_seconds']:.2f} s); streamed "
              f"{pg['streamed']:,} in {pg['stream_seconds']:.2f} s")
    elif not options.no_postgresql:
        print("PostgreSQL: not answering on 127.0.0.1:5432, not measured")

    rate = speed_big["rows"] / speed_big["seconds"]
    growth = memory_big["traced_peak"] / memory_small["traced_peak"]
    flat = memory_big["traced_peak"] <= FLAT * memory_small["traced_peak"] + SLACK_MIB * 2**20
    rss_flat = speed_big["rss_growth_kib"] <= FLAT * speed_small["rss_growth_kib"] \
        + SLACK_MIB * 1024
    print(f"machine after: {load()}")
    print()
    print("against the targets:")
    print(f"  import speed on SQLite ≥ {TARGET_ROWS_PER_S:,} rows/s: {rate:,.0f} rows/s "
          f"({options.rows:,} rows) — {'met' if rate >= TARGET_ROWS_PER_S else 'NOT MET'}")
    if pg is not None:
        pg_rate = pg["rows"] / pg["seconds"]
        print(f"  import speed on PostgreSQL ≥ {TARGET_POSTGRESQL_ROWS_PER_S:,} rows/s: "
              f"{pg_rate:,.0f} rows/s ({pg['rows']:,} rows) — "
              f"{'met' if pg_rate >= TARGET_POSTGRESQL_ROWS_PER_S else 'NOT MET'}")
    print(f"  memory flat in the size of the file: tracemalloc peak "
          f"{mib(memory_big['traced_peak'])} for {options.rows:,} rows against "
          f"{mib(memory_small['traced_peak'])} for {options.small:,} (ratio {growth:.2f}); "
          f"peak RSS growth "
          f"{mib(speed_big['rss_growth_kib'] * 1024)} against "
          f"{mib(speed_small['rss_growth_kib'] * 1024)} — "
          f"{'met' if flat and rss_flat else 'NOT MET'}")


def compare(old: Path, rows: int, postgresql: bool) -> None:
    """The import of `rows` with the code at `old` and with this one, alternating (old, new,
    old, new: each twice, the better run kept), on SQLite and PostgreSQL; memory in a third
    run of each under tracemalloc."""
    codes = (("old", old), ("new", ROOT))
    results: dict[tuple[str, str], dict] = {}
    before = load()
    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as temporary:
        folder = Path(temporary)
        path = folder / f"subscribers-{rows}.csv"
        people.generate(path, rows)
        backends = ["SQLite"] + ["PostgreSQL"] * postgresql

        def url(backend: str) -> tuple[str, Callable[[], None]]:
            if backend == "SQLite":
                return fresh_sqlite(folder, "compare.db"), lambda: None
            made = postgresql_schema()
            if made is None:
                sys.exit("PostgreSQL is not answering on 127.0.0.1:5432")
            schema, engine = made
            return (f"{POSTGRESQL}?options=-csearch_path%3D{schema}",
                    lambda: drop_schema(schema, engine))

        for backend in backends:
            for _ in range(2):
                for label, code in codes:
                    target, done = url(backend)
                    try:
                        run = measure(path, target, code=code)
                    finally:
                        done()
                    assert run["added"] == run["rows"] == rows, run
                    best = results.get((backend, label))
                    if best is None or run["seconds"] < best["seconds"]:
                        results[(backend, label)] = run
            for label, code in codes:
                target, done = url(backend)
                try:
                    results[(backend, label)]["traced_peak"] = \
                        measure(path, target, code=code, trace=True)["traced_peak"]
                finally:
                    done()
    print(f"machine before: {before}; after: {load()}")
    print(f"import of {rows:,} generated subscribers (CSV file → Store.import_csv), old = "
          f"{old}, new = {ROOT}; best of 2 alternating runs")
    print(f"{'':<12}{'code':<6}{'seconds':>9}{'rows/s':>10}{'CPU s':>7}{'write lock s':>14}"
          f"{'tracemalloc peak':>18}{'peak RSS growth':>17}{'new/old':>9}")
    for backend in backends:
        for label, _ in codes:
            run = results[(backend, label)]
            ratio = results[(backend, "old")]["seconds"] / run["seconds"]
            print(f"{backend:<12}{label:<6}{run['seconds']:>9.2f}"
                  f"{run['rows'] / run['seconds']:>10,.0f}{run['cpu']:>7.2f}"
                  f"{run['locked_seconds']:>14.2f}"
                  f"{mib(run['traced_peak']):>18}{mib(run['rss_growth_kib'] * 1024):>17}"
                  f"{ratio:>8.2f}x")
    target = {"SQLite": 60_000, "PostgreSQL": 50_000}
    for backend in backends:
        run = results[(backend, "new")]
        rate = run["rows"] / run["seconds"]
        print(f"target on {backend} ≥ {target[backend]:,} rows/s: {rate:,.0f} — "
              f"{'met' if rate >= target[backend] else 'NOT MET'}")


def _cpu() -> float:
    """The seconds of CPU this process has used (all its threads; not a database server's)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def load() -> str:
    """The machine's cores and load average, to print beside the figures."""
    one, five, _ = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.1f} (1 min), {five:.1f} (5 min)"


def _sqlite_version() -> str:
    import sqlite3
    return sqlite3.sqlite_version


if __name__ == "__main__":
    main()
