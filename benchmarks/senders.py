"""Several senders benchmark (issue 18): one `bulletin send --yes` against two started together
for the same issue, on PostgreSQL, into Postfix's smtp-sink. One table; the two senders'
figures beside the one sender's, measured in the same run.

    python benchmarks/senders.py [--recipients 100000] [--connections 8] [--repeat 1]
                                 [--no-bytecode] [--quiet-wait 30] [--time-limit 3600]

Each run (all traffic on 127.0.0.1):
  - a fresh schema of PostgreSQL (postgresql+psycopg://postgres@127.0.0.1:5432/test) holding
    --recipients subscribers on the list, made and dropped by benchmarks/send.py's
    postgresql_store (INSERT ... SELECT, ANALYZE; not measured);
  - a fresh smtp-sink, run with -c (its running counters: the messages it took);
  - one workspace (bulletin.toml with [smtp] to the sink, --connections connections), one
    XDG_STATE_HOME (the senders' journals: one host);
  - `python -m bulletin send ISSUE --yes`, once alone, and twice started at the same moment
    (two processes, each with --connections connections: twice as many to the sink).
Figures of each run, each whole command from its start: the wall time until every sender
has ended, msg/s over it, the CPU (user + system) of the senders (each with its render child,
os.wait4's rusage) as µs a message and as CPUs kept busy, each sender's own part (its "Done
in ...: N sent"), the sink's CPU, and CPUs used meanwhile by other processes (the machine is
shared: "others").

Nobody twice: every message bulletin sends has one recipient, the ledger holds one row per
subscriber and issue (a unique key), and a row is `sent` only once the sink has taken its
message. So when the sink took exactly --recipients messages and the ledger holds
--recipients rows of distinct subscribers, all `sent`, each subscriber got exactly one.

Target: two senders together at least as fast as one (msg/s of the two ≥ the one's), nobody
twice, every sender exits 0 and the parts add up to the list. --repeat N takes turns (one,
two, one, two...); the fastest of each is judged, every run shown. Before each run the script
waits (at most --quiet-wait s) for the machine to go quiet. By default the commands run with
their bytecode cached in this run's folder, as an installed bulletin runs (see
benchmarks/send.py: Bytecode), after an untimed send of a few recipients writes it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import send  # benchmarks/send.py: its sink, workspace, PostgreSQL store and measuring helpers
from rich.console import Console
from rich.table import Table
from send import (
    POSTGRESQL,
    ROOT,
    CpuMeter,
    Sink,
    child_env,
    configure,
    end,
    end_all,
    esc,
    lines,
    machine,
    make_workspace,
    postgresql_missing,
    postgresql_store,
    rate,
    say,
    verdict,
    wait_quiet,
)

TARGET = "two senders together at least as fast as one, nobody twice"
WARM = 200
DONE = re.compile(r"Done in ([\d.]+) s: (\d+) sent, (\d+) failed, (\d+) uncertain")


class CountingSink(Sink):
    """smtp-sink with its running counters (-c) in its log: the messages it took."""

    def __init__(self, max_seconds: float) -> None:
        super().__init__(None, max_seconds)
        self.command.insert(1, "-c")

    def messages(self) -> int:
        """Messages taken so far ("." received), by its last counters line."""
        self._log.flush()
        self._log.seek(0)
        found = re.findall(rb"mesg=(\d+)", self._log.read())
        return int(found[-1]) if found else 0


@dataclass
class Sender:
    code: int
    cpu: float
    wall: float
    output: str
    sent: int = 0
    dispatch: float = 0.0


@dataclass
class Outcome:
    senders: int
    wall: float = 0.0
    cpu: float = 0.0
    sink_cpu: float = 0.0
    others: float = 0.0
    sink_messages: int = 0
    ledger: dict[str, int] = field(default_factory=dict)
    each: list[Sender] = field(default_factory=list)
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.ledger.get("sent", 0) / self.wall if self.wall else 0.0


def ledger_of(url: str) -> dict[str, int]:
    """The issue's rows by state, all rows, and distinct subscribers among them."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = {state: n for state, n in connection.execute(text(
                "SELECT state, count(*) FROM ledger GROUP BY state"))}
            found["rows"], found["subscribers"] = connection.execute(text(
                "SELECT count(*), count(DISTINCT subscriber_id) FROM ledger")).one()
    finally:
        engine.dispose()
    return found


def senders_run(issue: Path, folder: Path, size: int, senders: int, connections: int,
                bytecode: Path | None, timeout: float) -> Outcome:
    """`senders` `bulletin send --yes` started at once on a fresh schema of `size`
    subscribers, into a fresh smtp-sink."""
    outcome = Outcome(senders)
    with postgresql_store(size, bytecode, None, max(300.0, size / 2000)) as (url, _seconds):
        env = child_env(url, bytecode, None, folder / "state")
        with contextlib.ExitStack() as files:
            outputs = [files.enter_context(tempfile.TemporaryFile()) for _ in range(senders)]
            with CountingSink(max_seconds=timeout + 60) as sink:
                configure(issue, sink.port, connections)
                sink_before, meter = sink.cpu(), CpuMeter()
                started = time.monotonic()
                processes = [send.spawn([sys.executable, "-m", "bulletin", "send", str(issue),
                                         "--yes"], stdout=output, stderr=subprocess.STDOUT,
                                        env=env, cwd=issue.parent.parent)
                             for output in outputs]
                ended = wait_all(processes, started, timeout)
                outcome.wall = max(each.wall for each in ended.values())
                outcome.sink_cpu = sink.cpu() - sink_before
                outcome.sink_messages = sink.messages()
            outcome.each = [ended[process.pid] for process in processes]
            outcome.cpu = sum(each.cpu for each in outcome.each)
            outcome.others = meter.others(outcome.cpu + outcome.sink_cpu)
            for each, output in zip(outcome.each, outputs, strict=True):
                output.seek(0)
                each.output = output.read().decode(errors="replace")
                found = DONE.search(" ".join(each.output.split()))
                if found:
                    each.dispatch, each.sent = float(found[1]), int(found[2])
        outcome.ledger = ledger_of(url)
    outcome.error = problem(outcome, size)
    return outcome


def wait_all(processes: list[subprocess.Popen[bytes]], started: float,
             timeout: float) -> dict[int, Sender]:
    """Each process reaped as it ends (killed after `timeout` s): its exit code, CPU (its own
    and its reaped children's: the render child) and wall time since `started`."""
    ended: dict[int, Sender] = {}
    try:
        while len(ended) < len(processes):
            for process in processes:
                if process.pid in ended:
                    continue
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    process.returncode = os.waitstatus_to_exitcode(status)
                    ended[pid] = Sender(process.returncode, usage.ru_utime + usage.ru_stime,
                                        time.monotonic() - started, "")
                elif time.monotonic() - started > timeout:
                    os.killpg(process.pid, signal.SIGKILL)
            time.sleep(0.005)
    finally:
        for process in processes:
            end(process, grace=3.0)
    return ended


def problem(outcome: Outcome, size: int) -> str | None:
    """What is wrong with a run, if anything: a sender that failed, parts that do not add up,
    anyone sent twice or not at all."""
    for number, each in enumerate(outcome.each, 1):
        if each.code != 0 or not DONE.search(" ".join(each.output.split())):
            return f"sender {number} exit {each.code}: {each.output.strip()[-300:]}"
    ledger = outcome.ledger
    parts = sum(each.sent for each in outcome.each)
    if parts != size:
        return f"the senders' parts add up to {parts:,}, not {size:,}"
    if not (outcome.sink_messages == ledger.get("sent") == ledger.get("rows")
            == ledger.get("subscribers") == size):
        return (f"the sink took {outcome.sink_messages:,} messages; the ledger holds "
                f"{ledger}; expected {size:,} of each")
    return None


def warm_up(issue: Path, folder: Path, connections: int, bytecode: Path | None) -> str:
    """The modules compiled into the run's bytecode folder and an untimed send of WARM
    recipients writing the rest (as benchmarks/send.py's warm-up); what was done."""
    if bytecode is None:
        return "bytecode as the environment has it (--no-bytecode)"
    say(f"compiling bulletin's modules into {bytecode}, then an untimed send of {WARM}")
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0",
                    str(ROOT / "bulletin")], env=child_env("", bytecode), capture_output=True,
                   timeout=600, check=False)
    run = senders_run(issue, folder, WARM, 1, connections, bytecode, 300)
    if run.error:
        say(f"[red]the untimed send failed[/]: {esc(run.error)}")
    return "bytecode cached in this run's own folder, as an installed bulletin runs"


def figures(run: Outcome, size: int) -> list[str]:
    per = run.cpu / max(1, run.ledger.get("sent", 0)) * 1e6
    parts = ", ".join(f"{each.sent:,} sent in {each.dispatch:.1f} s (ended at {each.wall:.1f} s"
                      f", CPU {each.cpu:.1f} s)" for each in run.each)
    return [f"wall {run.wall:.2f} s until all ended; CPU of the sender{'s' * (run.senders > 1)}"
            f" {run.cpu:.1f} s = {per:.0f} µs a message, {run.cpu / run.wall:.2f} CPUs",
            f"each sender's own part (its Done in): {parts}",
            f"sink took {run.sink_messages:,} messages; ledger {run.ledger.get('rows', 0):,} "
            f"rows, {run.ledger.get('subscribers', 0):,} subscribers, "
            f"{run.ledger.get('sent', 0):,} sent",
            f"sink CPU {run.sink_cpu:.1f} s; others {run.others:.1f} CPUs"]


def table(runs: dict[int, list[Outcome]], size: int, connections: int, notes: str) -> None:
    width = int(os.environ.get("COLUMNS", "0")) or 200
    console = Console(width=max(width, 160), highlight=False)
    title = (f"bulletin senders benchmark — {machine()} — PostgreSQL {POSTGRESQL} — "
             f"{size:,} recipients, {connections} connections a sender — {notes}")
    out = Table(title=esc(title), show_lines=True, title_justify="left",
                caption="msg/s: messages sent over the wall time until every sender ended "
                        "(startup, render and queueing included). others: CPUs' worth of "
                        "work done by processes outside the measurement while it ran.",
                caption_justify="left")
    for name, options in (("#", {"no_wrap": True}), ("measurement", {"ratio": 3}),
                          ("msg/s", {"justify": "right", "no_wrap": True}),
                          ("figures", {"ratio": 5}), ("comparison", {"ratio": 2}),
                          ("verdict", {"ratio": 3})):
        out.add_column(name, **options)  # type: ignore[arg-type]
    good = {count: [r for r in runs.get(count, []) if not r.error] for count in (1, 2)}
    best = {count: max(done, key=lambda r: r.rate) for count, done in good.items() if done}
    for count in (1, 2):
        what = ("one `bulletin send ISSUE --yes`" if count == 1 else
                "two `bulletin send ISSUE --yes` started together") + \
            f" → smtp-sink, {size:,} recipients, PostgreSQL"
        for turn, run in enumerate(runs.get(count, []), 1):
            label = f"{what} (run {turn})"
            if run.error:
                out.add_row(str(count), esc(label), "-", esc(run.error), "",
                            "[red]NOT MET[/]: " + esc(run.error[:120]))
                continue
            comparison, judged = "", ""
            if count == 1:
                comparison = "the reference"
                judged = verdict(True, "every sender exits 0, parts add up, nobody twice",
                                 run.others)
            elif 1 in best:
                ratio = run.rate / best[1].rate
                comparison = (f"{ratio:.2f}x the one sender's {rate(best[1].rate)} msg/s; "
                              f"CPU {run.cpu / best[1].cpu:.2f}x")
                judged = verdict(ratio >= 1.0, f"{ratio:.2f}x one sender's rate vs target "
                                 "≥ 1.0x; nobody twice, parts add up: yes", run.others)
            out.add_row(str(count), esc(label), rate(run.rate), esc(lines(figures(run, size))),
                        esc(comparison), judged)
    if 1 in best and 2 in best:
        ratio = best[2].rate / best[1].rate
        out.add_row("", f"target: {TARGET}", "", "", f"fastest two / fastest one: {ratio:.2f}x",
                    verdict(ratio >= 1.0, f"{ratio:.2f}x vs ≥ 1.0x; nobody twice in every run"))
    console.print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--time-limit", type=float, default=3600.0)
    args = parser.parse_args()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, send._on_signal)
    missing = postgresql_missing()
    if missing:
        sys.exit(f"PostgreSQL: {missing}")
    timeout = max(600.0, args.recipients / 100)
    deadline = time.monotonic() + args.time_limit
    runs: dict[int, list[Outcome]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="bulletin-senders-bench-") as temporary:
        folder = Path(temporary)
        issue = make_workspace(folder / "workspace")
        bytecode = None if args.no_bytecode else folder / "bytecode"
        try:
            notes = warm_up(issue, folder, args.connections, bytecode)
            for turn in range(args.repeat):
                for count in (1, 2):
                    if time.monotonic() + timeout > deadline:
                        say("[red]the --time-limit is spent[/]")
                        break
                    say(f"{count} sender(s), {args.recipients:,} recipients, run {turn + 1}")
                    wait_quiet(args.quiet_wait)
                    runs[count].append(senders_run(issue, folder, args.recipients, count,
                                                   args.connections, bytecode, timeout))
        finally:
            end_all()
    table(runs, args.recipients, args.connections, notes)


if __name__ == "__main__":
    main()
