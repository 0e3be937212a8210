"""Sending benchmark (issue 18): the whole `bulletin send` command into Postfix's smtp-sink
at 10,000, 100,000 and 1,000,000 recipients, on SQLite and on PostgreSQL, each beside
Postfix's own C load generator (`smtp-source -d`) sending the same message as often in the
same run; then a relay 50 ms away, the cost of one personalised message, and the sender's
peak memory at 1,000,000 recipients. One table; every figure beside its reference and
target.

    python benchmarks/send.py [--quick] [--sizes 10000,100000,1000000] [--old-code DIR]
                              [--repeat N] [--no-bytecode] [--no-postgresql]

Rows of the table (all traffic on 127.0.0.1):

 M  For each of --sizes (default 10,000, 100,000 and 1,000,000; --quick: 10,000 and
    100,000), `python -m bulletin send ISSUE --yes` as a whole command, 8 connections, into
    a fresh smtp-sink, with its store
      - on SQLite: the subscribers imported by Store.import_csv (the real import) once per
        size, and a fresh copy of that store for each send;
      - on PostgreSQL (postgresql+psycopg://postgres@127.0.0.1:5432/test, when it answers): a
        fresh schema for each send, its subscribers made by INSERT ... SELECT and ANALYZEd
        (not measured), dropped afterwards.
    Figures: msg/s by the dispatcher's own time (the "Done in" the command prints) and by the
    wall time of the whole command; CPU µs a message of the whole command (user + system of
    it and of its render child, startup included, over the messages sent), and on SQLite the
    same less a --dry-run's on the same store (imports, render, plan); the time of one claim
    (SendLedger.claim, its transaction included, the sender busy meanwhile) at the start and
    at the end of the run: the median of the first and of the last 20 claims that found
    messages (of a quarter of them each, when there are fewer than 80). Beside them, once
    per size: smtp-source -d -s 8 -m SIZE -F the same message, its msg/s (wall) and CPU µs a
    message.
    Verdicts: CPU at most 120 µs a message, and at most 1.8x smtp-source -d's; the "Done in"
    rate at least 0.9x smtp-source -d's; at the largest size, the claim at the end at most
    1.5x the claim at the start (both databases) and PostgreSQL's rate within 10% of
    SQLite's (at least 0.9x; the target is at 1,000,000).
    With --old-code DIR (a checkout of an older bulletin, e.g. `git worktree add /tmp/old
    HEAD`), every send is run by that checkout too (PYTHONPATH=DIR), taking turns, each
    figure beside the other's. --repeat N sends each N times, taking turns; the lowest CPU
    and the highest rate are judged, every run's shown.
 4  The dispatcher (in a child process, as `bulletin send` drives it: render_apart,
    campaign.plan, ledger.create, Dispatcher.run) sending to --recipients (20,000) on SQLite
    against benchmarks/delay_sink.py, a sink in its own process whose every reply leaves 50 ms
    after the command it answers (a relay one 50 ms round trip away; smtp-sink's -w/-W delays
    take whole seconds), at each of --delay-connections. Target: at least 1,000 msg/s.
 5  Microseconds for MessageTemplate.message (signing included), median of 100,000, as the
    dispatcher calls it (dot-stuffed for DATA; the plain form beside it), beside
    bulletin.message.build_message + to_bytes (the EmailMessage path). Target: under 10 µs.
 6  The memory of the SQLite sends of M (no send of its own): `bulletin send` renders in a
    child process at its start, so its memory is shown three ways: the sender's own peak RSS
    (the process that sends, to the end), the render child's, and the two together while
    both were alive (sampled; RSS and PSS); os.wait4's ru_maxrss, the larger of the two peaks
    and not their sum, too; and a --dry-run on the same store as the baseline. Target: the
    sender under 76 MiB at the largest size, and flat (under 1.25x its peak at the
    size before); the whole command (sender and render child, their RSS added up) is judged
    against the same beside it.

How the sends of M are run. The command is `python -c HOOKS send ISSUE --yes`, where HOOKS
(below) runs bulletin's __main__ as `python -m bulletin` does (runpy), having wrapped
SendLedger.claim to time each claim (two clock reads a claim) and Dispatcher.run to read its
report's seconds unrounded (the "Done in" line rounds them to 0.1 s); it writes what it saw
to a file when the command ends. The whole command cannot be timed from inside otherwise
without a hook in the product. The --dry-runs run `python -m bulletin` itself.

Bytecode. By default every command runs as an installed bulletin runs, its modules' bytecode
cached (pip compiles a wheel's modules when it installs them): the checkouts are run in
place, so PYTHONDONTWRITEBYTECODE is lifted for the commands and PYTHONPYCACHEPREFIX points
into this run's temporary folder, and before anything is measured the checkouts' modules are
compiled there (compileall) and an untimed send of 200 recipients on each database (and with
each checkout) writes the bytecode of every other module a send imports. Nothing is written
into a checkout. --no-bytecode runs them as the environment has it instead (with
PYTHONDONTWRITEBYTECODE set, bulletin's own modules are compiled at every start). The title
says which.

Every measurement runs in a fresh process (a small launcher stands between it and this
script, so that the sender's peak RSS is its own and not this script's, which a forked child
would inherit). The machine is shared, so each figure also says how much CPU other processes
used while it ran ("others"); before each measurement the script waits (at most --quiet-wait
s) for the machine to go quiet. Servers listen on 127.0.0.1 only; every loop is bounded in
count and time (--time-limit for the whole run); child processes are ended on any exit.
On 2 CPUs: --quick about 6 minutes (9 while others keep the CPUs busy); the full run about
20 minutes (35 busy), three quarters of it at 1,000,000; --old-code doubles the sends.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import smtplib
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import people  # benchmarks/people.py: generated subscribers
from rich.console import Console
from rich.table import Table

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
ISSUE = ROOT / "issues" / "cohes3ion-04.yaml"
DELAY_SINK = BENCH_DIR / "delay_sink.py"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
LIST = "cohes3ion"
KEY = "benchmark-signing-key-not-a-secret"
ENVELOPE_FROM = "cohes3ion@example.gov.wales"

TARGET_CPU_US = 120.0  # CPU a message of the whole command
TARGET_CPU_SOURCE = 1.8  # times smtp-source -d's CPU a message, in the same run
TARGET_RATE_SOURCE = 0.9  # times smtp-source -d's rate, in the same run
TARGET_POSTGRESQL = 0.9  # PostgreSQL's rate at 1,000,000, times SQLite's: within 10%
TARGET_CLAIM = 1.5  # a claim at the end of the run, times one at its start
TARGET_DELAYED = 1_000  # msg/s against a relay 50 ms away
TARGET_MICROSECONDS = 10.0  # to personalise one message
TARGET_KIB = 76 * 1024  # peak memory sending to 1,000,000 recipients: under 76 MiB (issue 18;
# the target before it was 80 MB, 76.3 MiB)

CLK_TCK = os.sysconf("SC_CLK_TCK")
err = Console(stderr=True, highlight=False)


def say(text: str) -> None:
    """Progress, on stderr: stdout carries only the table."""
    err.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}", markup=True)


# -- child processes: started here, always ended here --------------------------------------------

_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(command: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """Start `command` in a process group of its own (so that it and anything it starts can
    be ended together), remembered until it is ended."""
    process = subprocess.Popen(command, start_new_session=True, **options)
    _children[process.pid] = process
    return process


def _signal_group(process: subprocess.Popen[bytes], number: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, number)  # the group this script made for it: its id is the pid


def end(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to its group, then SIGKILL after `grace` seconds; reaped either way."""
    _children.pop(process.pid, None)
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    _signal_group(process, signal.SIGKILL)  # anything it left behind


def end_all() -> None:
    for process in list(_children.values()):
        end(process, grace=3.0)


def _on_signal(number: int, _frame: object) -> None:
    raise SystemExit(128 + number)  # unwinds through every `finally` and context manager


atexit.register(end_all)


@dataclass
class Finished:
    """A child process that ran to its end (or was killed at its deadline)."""

    code: int
    wall: float
    cpu: float
    """Its user + system seconds (its children's included; not the launcher's)."""
    stdout: str
    stderr: str
    timed_out: bool
    others: float = 0.0
    """CPUs' worth of work done meanwhile by processes that are not part of the measurement."""
    memory: Memory | None = None


class CpuMeter:
    """Busy CPU seconds of the whole machine (/proc/stat) over an interval, less those of the
    processes measured, as a count of CPUs kept busy by others."""

    def __init__(self) -> None:
        self.busy0 = machine_busy()
        self.t0 = time.monotonic()

    def others(self, ours: float) -> float:
        wall = max(time.monotonic() - self.t0, 1e-9)
        return max(0.0, (machine_busy() - self.busy0 - ours) / wall)


def machine_busy() -> float:
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def process_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            after_name = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(after_name[11]) + int(after_name[12])) / CLK_TCK  # utime, stime


def vm_hwm_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# A small launcher between this script and a measured command. A child's ru_maxrss starts
# from the RSS of the process that forked it (Linux keeps the high-water mark across exec), and
# this script grows large; the launcher is small, so the command's figure is its own.
#
# `bulletin send` starts a child process of its own to render (bulletin.send.outgoing), and
# the ru_maxrss that os.wait4 reports for a process is the larger of its own peak and those of
# the children it reaped: not its own, not a sum. So the launcher also watches the command's
# process tree every SAMPLE_S: each process's VmHWM (the kernel's exact high-water mark of its
# RSS, up to the last sample before it ends) and the sum of their VmRSS (and PSS, which shares
# out the pages they have in common) while more than one is alive. Past the first second,
# while the command is alone, every SLOW_S: the kernel keeps the high-water mark, so only a
# rise in its last SLOW_S could be missed, and the sampling takes less CPU from the machine.
# The CPU time reported is the command's own (and its children's), from the launcher's
# os.wait4, not the launcher's.
SAMPLE_S = 0.005
SLOW_S = 0.02
LAUNCHER = """
import os, sys, time

def fields(pid, name, keys):
    found = {}
    try:
        with open(f"/proc/{pid}/{name}") as lines:
            for line in lines:
                key = line.split(":", 1)[0]
                if key in keys:
                    found[key] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return found

def descendants(pid):
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as children:
                kids = [int(kid) for kid in children.read().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found

pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
started = time.monotonic()
hwm, seen, together, together_pss, command_meanwhile = {}, {}, 0, 0, 0
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    now = time.monotonic()
    rss = {}
    for each in [pid, *descendants(pid)]:
        got = fields(each, "status", ("VmHWM", "VmRSS"))
        if "VmHWM" in got:
            hwm[each] = max(hwm.get(each, 0), got["VmHWM"])
            rss[each] = got.get("VmRSS", 0)
            seen.setdefault(each, [now, now])[1] = now
    if len(rss) > 1:
        together = max(together, sum(rss.values()))
        command_meanwhile = max(command_meanwhile, rss.get(pid, 0))
        together_pss = max(together_pss, sum(
            fields(each, "smaps_rollup", ("Pss",)).get("Pss", 0) for each in rss))
    time.sleep(SAMPLE_S if len(rss) > 1 or now - started < 1 else SLOW_S)
children = [{"hwm_kib": hwm[each], "seconds": seen[each][1] - seen[each][0]}
            for each in hwm if each != pid]
report = {"maxrss_kib": usage.ru_maxrss, "command_hwm_kib": hwm.get(pid, 0),
          "children": children, "together_rss_kib": together,
          "together_pss_kib": together_pss, "command_meanwhile_kib": command_meanwhile,
          "command_cpu": usage.ru_utime + usage.ru_stime}
import json  # (only now: the launcher stays small, and what it forks starts from its size)
sys.stderr.write("\\nlauncher-report " + json.dumps(report) + "\\n")
sys.exit(os.waitstatus_to_exitcode(status))
""".replace("SAMPLE_S", repr(SAMPLE_S)).replace("SLOW_S", repr(SLOW_S))


@dataclass
class Memory:
    """What the launcher saw of a command's memory (KiB)."""

    maxrss_kib: int = 0
    """os.wait4's ru_maxrss: the larger of the command's own peak and its children's."""
    command_kib: int = 0
    """The command's own peak RSS (VmHWM, read every SAMPLE_S while it ran)."""
    child_kib: int = 0
    """The largest peak RSS of any process the command started (0: it started none)."""
    child_seconds: float = 0.0
    together_rss_kib: int = 0
    """The largest sum of the RSS of the command and its children seen while any child was
    alive (sampled; pages they share, libraries above all, count once in each)."""
    together_pss_kib: int = 0
    """The same as PSS (shared pages shared out between the processes)."""
    command_meanwhile_kib: int = 0
    """The command's own RSS, at most, while a child was alive."""

    @property
    def whole_kib(self) -> int:
        """The whole command's peak: the command alone, or it and its child together."""
        return max(self.command_kib, self.together_rss_kib, self.maxrss_kib)


def _memory(report: dict[str, Any]) -> Memory:
    children = report["children"]
    biggest = max(children, key=lambda c: c["hwm_kib"], default={"hwm_kib": 0, "seconds": 0})
    return Memory(report["maxrss_kib"], report["command_hwm_kib"], biggest["hwm_kib"],
                  biggest["seconds"], report["together_rss_kib"], report["together_pss_kib"],
                  report["command_meanwhile_kib"])


def run_measured(command: list[str], *, timeout: float, env: dict[str, str] | None = None,
                 cwd: Path | None = None, sink: Sink | None = None) -> Finished:
    """Run `command` to its end (killed after `timeout` s): its memory (see LAUNCHER), its
    CPU time."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        sink_cpu = sink.cpu() if sink else 0.0
        meter = CpuMeter()
        started = time.monotonic()
        process = spawn([sys.executable, "-S", "-c", LAUNCHER, *command], stdout=out,
                        stderr=errors, env=env, cwd=cwd)
        timed_out = False
        try:
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - started > timeout:
                    timed_out = True
                    _signal_group(process, signal.SIGKILL)
                    pid, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.005)
        except BaseException:  # interrupted: the command goes too
            _signal_group(process, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.wait4(process.pid, 0)
            raise
        finally:
            _children.pop(process.pid, None)
        _signal_group(process, signal.SIGKILL)  # the command itself, if the launcher was killed
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        cpu = usage.ru_utime + usage.ru_stime  # the launcher's and the command's (below:
        # the command's alone, as the launcher saw it)
        others = meter.others(cpu + ((sink.cpu() - sink_cpu) if sink else 0.0))
        out.seek(0)
        errors.seek(0)
        stderr = errors.read().decode(errors="replace")
        found = re.search(r"\nlauncher-report (.*)\n$", stderr)
        memory = Memory()
        if found:
            stderr = stderr[:found.start()]
            report = json.loads(found[1])
            memory = _memory(report)
            cpu = report["command_cpu"]
        return Finished(process.returncode, wall, cpu, out.read().decode(errors="replace"),
                        stderr, timed_out, others, memory)


def wait_quiet(limit: float, threshold: float = 0.3) -> float:
    """Wait (at most `limit` s) until other processes keep less than `threshold` CPUs busy;
    return the last load seen."""
    started = time.monotonic()
    said = False
    while True:
        meter = CpuMeter()
        time.sleep(0.5)
        load = meter.others(0.0)
        waited = time.monotonic() - started
        if load < threshold or waited >= limit:
            if said:
                say(f"waited {waited:.0f} s; others now use {load:.1f} CPUs")
            return load
        if not said:
            say(f"machine busy ({load:.1f} CPUs used by others): waiting up to {limit:.0f} s")
            said = True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- SMTP sinks -----------------------------------------------------------------------------------

class Sink:
    """Postfix's smtp-sink, or benchmarks/delay_sink.py, on 127.0.0.1, for one measurement."""

    def __init__(self, delay: float | None = None, max_seconds: float = 3600.0) -> None:
        self.port = free_port()
        self.delay = delay
        if delay is None:
            command = [SMTP_SINK]
            if os.geteuid() == 0:
                command += ["-u", "nobody"]  # smtp-sink refuses to run as root
            command += [f"127.0.0.1:{self.port}", "1000"]
        else:
            command = [sys.executable, str(DELAY_SINK), "--port", str(self.port),
                       "--delay", str(delay), "--max-seconds", str(max_seconds)]
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.counters: dict[str, int] = {}
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by __exit__)

    def cpu(self) -> float:
        return process_cpu(self.process.pid) if self.process else 0.0

    def __enter__(self) -> Sink:
        self.process = spawn(self.command, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._log.seek(0)
                raise RuntimeError(f"{self.command[0]} stopped: {self._log.read()!r}")
            with contextlib.suppress(OSError), \
                    socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return self
            time.sleep(0.02)
        raise RuntimeError(f"{self.command[0]} did not listen within 10 s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            end(self.process)
            self._log.seek(0)
            for line in self._log.read().decode(errors="replace").splitlines():
                if line.startswith("{"):
                    self.counters = json.loads(line)
        self._log.close()


# -- the workspace and the stores -----------------------------------------------------------------

def make_workspace(folder: Path, source: Path = ROOT) -> Path:
    """bulletin.toml, templates/, brand/ (the files bulletin.toml names) and the example issue
    of the checkout at `source` copied into `folder`; the issue path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "bulletin.toml", folder / "bulletin.toml.base")
    for name in ("templates", "brand"):
        if (source / name).is_dir():
            shutil.copytree(source / name, folder / name, dirs_exist_ok=True)
    (folder / "issues").mkdir(exist_ok=True)
    shutil.copy(source / ISSUE.relative_to(ROOT), folder / "issues" / ISSUE.name)
    return folder / "issues" / ISSUE.name


def configure(issue: Path, port: int, connections: int) -> None:
    """The workspace's bulletin.toml with an [smtp] table for the sink at `port`."""
    folder = issue.parent.parent
    base = (folder / "bulletin.toml.base").read_text()
    (folder / "bulletin.toml").write_text(
        base + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = {connections}\ntimeout = 30\n")




@dataclass
class Prepared:
    path: Path
    rows: int
    seconds: float


def prepare_store(folder: Path, rows: int, name: str = "") -> Prepared:
    """A fresh SQLite store holding `rows` subscribers on the list, imported from a generated
    CSV by Store.import_csv (the real import path); checkpointed, so that it can be copied."""
    from bulletin.store.store import Store

    csv_path = folder / f"subscribers-{rows}{name}.csv"
    people.generate(csv_path, rows, languages=("en", ""), seed=20261125)
    database = folder / f"store-{rows}{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    with Store.open(f"sqlite:///{database}") as store:
        store.create_list(LIST, newsletter=LIST)
        started = time.perf_counter()
        report = store.import_csv(csv_path, LIST)
        seconds = time.perf_counter() - started
    csv_path.unlink()
    if report.added != rows:
        raise RuntimeError(f"import added {report.added} of {rows} subscribers")
    with sqlite3.connect(database) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Prepared(database, rows, seconds)


def prepare_stores(matrix: Matrix, folder: Path, rows: int, bytecode: Path | None,
                   timeout: float) -> dict[str, Prepared]:
    """`prepare_store`'s store for each checkout of the matrix, by its own code: a store made
    by a newer bulletin has a newer schema, which an older one refuses to open. The first
    (this checkout's) in this process; any other in a child process running that code."""
    stores: dict[str, Prepared] = {}
    for index, (name, code) in enumerate(matrix.codes):
        if index == 0 or code is None:
            stores[name] = prepare_store(folder, rows, f"-{index}")
            continue
        done = run_measured([sys.executable, __file__, "--child-prepare", str(folder),
                             "--size", str(rows), "--store-name", f"-{index}"],
                            timeout=timeout, env=child_env("", bytecode, code))
        if done.code != 0 or done.timed_out:
            raise RuntimeError(f"preparing the {name} code's store: {_failure(done)}")
        path, seconds = json.loads(done.stdout.strip().splitlines()[-1])
        stores[name] = Prepared(Path(path), rows, seconds)
    return stores


def child_prepare(folder: Path, rows: int, name: str) -> None:
    """Runs in the child (the checkout whose store it makes): `prepare_store`, its path and
    seconds as one JSON line."""
    prepared = prepare_store(folder, rows, name)
    print(json.dumps([str(prepared.path), prepared.seconds]))


def fresh_copy(prepared: Prepared, folder: Path, name: str) -> str:
    """A copy of the prepared store nobody has sent from; its URL."""
    target = folder / name
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(prepared.path, target)
    return f"sqlite:///{target}"


def child_env(database_url: str, bytecode: Path | None, code: Path | None = None,
              state: Path | None = None) -> dict[str, str]:
    """The environment of a measured command: its store, the signing key, the bulletin at
    `code` (PYTHONPATH) if given, and its modules' bytecode cached under `bytecode` (as an
    installed bulletin's is), or, when None, as this environment has it."""
    drop = ("PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BULLETIN_")
           and (bytecode is None or k not in drop) and k != "PYTHONPATH"}
    env.update(BULLETIN_SECRET_KEY=KEY, BULLETIN_DATABASE_URL=database_url, COLUMNS="400")
    if bytecode is not None:
        env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    if state is not None:  # the journals of a PostgreSQL store live under it
        env["XDG_STATE_HOME"] = str(state)
    return env


# -- the dispatcher, in a child process, as `bulletin send` drives it ----------------------------

def child_dispatch(issue: Path, connections: int) -> None:
    """Runs in the child: what cli_send.send_command does, without the prompt and the progress
    bar; prints one JSON line."""
    started = time.perf_counter()
    from bulletin.send.outgoing import render_apart

    outgoing = render_apart(issue)
    from bulletin import asyncrun, links
    from bulletin.message import envelope_from
    from bulletin.send import campaign

    workspace, newsletter = outgoing.workspace, outgoing.newsletter
    list_name = newsletter.mailing_list
    key = links.secret_key()
    transport, settings = _sending(workspace, connections)
    with campaign.open_store(workspace) as store:
        plan = campaign.plan(store, outgoing, list_name)
        setup = time.perf_counter() - started
        rss_before = vm_hwm_kib()
        begun = time.perf_counter()
        store.ledger.create(plan.issue, list_name)
        queued = time.perf_counter() - begun
        dispatcher = _dispatcher(
            store, plan.issue, campaign.templates(outgoing, key),
            outgoing.first.language, envelope_from(workspace, newsletter), transport, settings)
        report = asyncrun.run(dispatcher.run)
        seconds = time.perf_counter() - begun
        counts = store.ledger.counts(plan.issue)
    print(json.dumps({"sent": report.sent, "failed": report.failed,
                      "uncertain": report.uncertain, "deferred": report.deferred,
                      "stopped": report.stopped, "setup": setup, "queued": queued,
                      "seconds": seconds, "dispatch": report.seconds, "counts": counts,
                      "rss_before_kib": rss_before,
                      "window": dispatcher.settings.in_flight}))


POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLAIMS_SHOWN = 20  # claims at the start and at the end of a send whose median is shown


def _sending(workspace: Any, connections: int) -> tuple[Any, Any]:
    """The transport factory and the dispatch settings, from whichever bulletin is imported
    (newer ones build both in bulletin.send.config)."""
    try:
        from bulletin.send.config import send_config
    except ImportError:
        from bulletin.send import campaign

        return (campaign.transport_factory(workspace),  # type: ignore[attr-defined]
                campaign.dispatch_settings(workspace, connections))  # type: ignore[attr-defined]
    config = send_config(workspace, connections)
    return config.transport(), config.dispatch


def _dispatcher(store: Any, *args: Any, **kwargs: Any) -> Any:
    """A Dispatcher of whichever bulletin is imported: one that takes the store, or (newer)
    only its ledger."""
    import inspect

    from bulletin.send.dispatch import Dispatcher

    first = next(iter(inspect.signature(Dispatcher).parameters))
    return Dispatcher(store if first == "store" else store.ledger, *args, **kwargs)



@dataclass
class Run:
    """One send: what the row shows."""

    label: str
    sent: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    details: list[str] = field(default_factory=list)
    error: str | None = None
    others: float = 0.0
    memory: Memory = field(default_factory=Memory)
    extra: dict[str, Any] = field(default_factory=dict)


def dispatch_run(issue: Path, prepared: Prepared, folder: Path, connections: int,
                 delay: float | None, timeout: float, label: str,
                 bytecode: Path | None) -> Run:
    """Row 4: the dispatcher in a child process (child_dispatch) into a sink."""
    run = Run(label)
    url = fresh_copy(prepared, folder, "run.db")
    with Sink(delay, max_seconds=timeout + 60) as sink:
        configure(issue, sink.port, connections)
        done = run_measured([sys.executable, __file__, "--child-dispatch", str(issue),
                             "--connections", str(connections)],
                            timeout=timeout, env=child_env(url, bytecode), cwd=issue.parent.parent,
                            sink=sink)
        sink_cpu = sink.cpu()
    run.others, run.memory = done.others, done.memory or Memory()
    run.extra["sink"] = sink.counters
    if done.code != 0 or done.timed_out:
        run.error = _failure(done)
        return run
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run.sent, run.seconds = result["sent"], result["seconds"]
    run.rate = run.sent / run.seconds
    counts = result["counts"]
    if run.sent != prepared.rows or counts.get("sent") != prepared.rows:
        run.error = (f"sent {run.sent} of {prepared.rows}; ledger {counts}; "
                     f"stopped: {result['stopped']}")
    run.details = [
        f"{run.sent:,} sent in {run.seconds:.2f} s (ledger.create {result['queued']:.2f} s "
        f"+ Dispatcher.run {result['dispatch']:.2f} s); ledger: {counts.get('sent', 0):,} "
        f"sent; window {result['window']}",
        f"setup before sending (imports, render, plan) {result['setup']:.2f} s",
        f"CPU: sender {done.cpu / done.wall:.0%} of one, sink {sink_cpu / done.wall:.0%}; "
        f"others {done.others:.1f} CPUs",
        f"sender peak RSS {mib(run.memory.command_kib)} ({mib(result['rss_before_kib'])} "
        f"before sending); its render child {mib(run.memory.child_kib)}",
    ]
    run.extra.update(result)
    return run


def _failure(done: Finished) -> str:
    if done.timed_out:
        return f"killed after {done.wall:.0f} s (time limit)"
    tail = (done.stderr.strip() or done.stdout.strip())[-400:]
    return f"exit {done.code}: {tail}"


# -- smtplib, smtp-source, personalising ----------------------------------------------------------

@dataclass
class Templates:
    template: Any
    rendered: Any
    newsletter: Any
    base_url: str
    recipients: list[Any]


def load_templates(count: int) -> Templates:
    from bulletin.message import Recipient
    from bulletin.send import campaign
    from bulletin.send.outgoing import Outgoing
    from bulletin.workflow import prepare_editions

    editions = prepare_editions(ISSUE)
    templates = campaign.templates(Outgoing.of(editions), KEY.encode())
    first = editions[0]
    chance = random.Random(7)
    recipients = [Recipient(str(100_000 + n), f"{chance.choice(people.FIRST)}.{n}@example.org",
                            f"{chance.choice(people.FIRST)} {chance.choice(people.LAST)}")
                  for n in range(count)]
    return Templates(templates[first.rendered.language], first.rendered,
                     first.loaded.newsletter, first.workspace.settings.base_url, recipients)


def smtp_source_run(message: bytes, folder: Path, keep: bool, messages: int, sessions: int,
                    timeout: float) -> Run:
    """Postfix's C generator sending `message` (-F: it adds the CRLFs and the dot-stuffing)."""
    run = Run("smtp-source")
    path = folder / "message.txt"
    path.write_bytes(message.replace(b"\r\n", b"\n"))
    with Sink(None) as sink:
        command = [SMTP_SOURCE, *(["-d"] if keep else []), "-s", str(sessions), "-m",
                   str(messages), "-F", str(path), "-f", ENVELOPE_FROM, "-t",
                   "reader@example.org", f"127.0.0.1:{sink.port}"]
        done = run_measured(command, timeout=timeout, sink=sink)
        sink_cpu = sink.cpu()
    run.others = done.others
    if done.code != 0 or done.timed_out:
        run.error = _failure(done)
        return run
    run.sent, run.seconds = messages, done.wall
    run.rate = messages / done.wall
    run.extra = {"cpu": done.cpu, "wall": done.wall}
    run.details = [" ".join(["smtp-source", *command[1:]]).replace(str(path), "MESSAGE"),
                   f"{messages:,} messages in {done.wall:.2f} s (wall); CPU "
                   f"{done.cpu / messages * 1e6:.1f} µs a message ({done.cpu:.2f} s)",
                   f"CPU: smtp-source {done.cpu / done.wall:.0%} of one, sink "
                   f"{sink_cpu / done.wall:.0%}; others {done.others:.1f} CPUs"]
    return run


@dataclass
class Personalise:
    fast_us: float
    """MessageTemplate.message(..., stuffed=True): what the dispatcher asks for."""
    plain_us: float
    """The same message not dot-stuffed (what the file transport and send-test write)."""
    fast_p90_us: float
    fast_count: int
    slow_us: float
    slow_count: int
    size: int
    others: float


def personalise_timing(templates: Templates, fast: int, slow: int,
                       time_limit: float) -> Personalise:
    import gc

    from bulletin.message import build_message, to_bytes

    template, recipients = templates.template, templates.recipients
    date = format_datetime(dt.datetime.now(dt.UTC))
    meter = CpuMeter()
    own = time.process_time()
    for recipient in recipients[:1000]:  # warm up
        template.message(recipient, date)
    times, plain_times = [], []
    clock = time.perf_counter_ns
    message = template.message
    gc.collect()
    deadline = time.monotonic() + time_limit / 2
    for number in range(fast):
        recipient = recipients[number % len(recipients)]
        before = clock()
        message(recipient, date, stuffed=True)
        middle = clock()
        message(recipient, date)
        plain_times.append(clock() - middle)
        times.append(middle - before)
        if number % 1000 == 0 and time.monotonic() > deadline:
            break
    size = len(message(recipients[0], date)[1])
    slow_times = []
    key = KEY.encode()
    deadline = time.monotonic() + time_limit / 2
    for number in range(slow):
        recipient = recipients[number % len(recipients)]
        before = clock()
        to_bytes(build_message(templates.rendered, templates.newsletter, templates.base_url,
                               recipient, key))
        slow_times.append(clock() - before)
        if time.monotonic() > deadline:
            break
    others = meter.others(time.process_time() - own)
    times.sort()
    return Personalise(statistics.median(times) / 1000, statistics.median(plain_times) / 1000,
                       times[int(len(times) * 0.9)] / 1000, len(times),
                       statistics.median(slow_times) / 1000, len(slow_times), size, others)


# -- the report -----------------------------------------------------------------------------------

def machine() -> str:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    postfix = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        postfix = subprocess.run(["/usr/sbin/postconf", "-d", "-h", "mail_version"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
    return (f"{os.cpu_count()} CPUs ({model or platform.machine()}), Linux "
            f"{platform.release()}, Python {platform.python_version()}, Postfix {postfix} "
            f"(smtp-sink, smtp-source), SQLite {sqlite3.sqlite_version}")


def rate(value: float) -> str:
    return f"{value:,.0f}" if value else "-"


def mib(kib: float) -> str:
    return f"{kib / 1024:,.1f} MiB"


def mb(kib: float) -> str:
    return f"{kib * 1024 / 1e6:,.1f} MB"


def verdict(ok: bool, text: str, others: float = 0.0) -> str:
    mark = "[green]MET[/]" if ok else "[red]NOT MET[/]"
    busy = f" [yellow](others used {others:.1f} CPUs meanwhile)[/]" if others >= 0.3 else ""
    return f"{mark}: {text}{busy}"


def lines(items: list[str]) -> str:
    return "\n".join(items)


def esc(text: str) -> str:
    from rich.markup import escape
    return escape(text)




# -- the whole command, as `python -m bulletin` runs it, with two hooks (row M) ----------------

CONNECTIONS = 8  # of every send of row M, and of smtp-source's sessions beside them
WARM = 200  # recipients of the untimed sends that write the bytecode

# Runs bulletin's __main__ as `python -m bulletin` does, having wrapped SendLedger.claim (each
# claim timed, with how many messages it found) and Dispatcher.run (its report's seconds, which
# the "Done in" line prints rounded); writes them to $SEND_BENCH_REPORT when the command ends.
# An older checkout without either runs unhooked (its row then says so).
HOOKS = """
import json, os, runpy, time
report, clock, claims, seen = os.environ.pop("SEND_BENCH_REPORT"), time.perf_counter, [], {}
try:
    from bulletin.store.sendledger import SendLedger
    claim = SendLedger.claim
except (ImportError, AttributeError):
    SendLedger = None
if SendLedger is not None:
    def timed(self, *args, **kwargs):
        before = clock()
        got = claim(self, *args, **kwargs)
        claims.append((clock() - before, len(got)))
        return got
    SendLedger.claim = timed
try:
    from bulletin.send.dispatch import Dispatcher
    run = Dispatcher.run
except (ImportError, AttributeError):
    Dispatcher = None
if Dispatcher is not None:
    async def reported(self, *args, **kwargs):
        got = await run(self, *args, **kwargs)
        seen["dispatch"] = got.seconds
        return got
    Dispatcher.run = reported
try:
    runpy.run_module("bulletin", run_name="__main__", alter_sys=True)
finally:
    with open(report, "w") as out:
        json.dump({"claims": claims, **seen}, out)
"""


def command_run(issue: Path, url: str, folder: Path, expected: int, timeout: float,
                label: str, bytecode: Path | None, code: Path | None = None,
                dry_run: bool = False) -> Run:
    """`bulletin send ISSUE --yes` (through HOOKS), or `python -m bulletin send ISSUE
    --dry-run`, by the bulletin at `code` (PYTHONPATH) if given, on the store at `url`, into
    a fresh smtp-sink."""
    run = Run(label)
    hooked = folder / "hooks.json"
    hooked.unlink(missing_ok=True)
    env = child_env(url, bytecode, code, folder / "state") | {"SEND_BENCH_REPORT": str(hooked)}
    command = [sys.executable, "-m", "bulletin", "send", str(issue), "--dry-run"] if dry_run \
        else [sys.executable, "-c", HOOKS, "send", str(issue), "--yes"]
    with Sink(None, max_seconds=timeout + 60) as sink:
        configure(issue, sink.port, CONNECTIONS)
        done = run_measured(command, timeout=timeout, env=env, cwd=issue.parent.parent,
                            sink=sink)
        sink_cpu = sink.cpu()
    run.others, run.memory, run.seconds = done.others, done.memory or Memory(), done.wall
    run.extra = {"cpu": done.cpu, "wall": done.wall, "sink_cpu": sink_cpu}
    if done.code != 0 or done.timed_out:
        run.error = _failure(done)
        return run
    if dry_run:
        return run
    found = re.search(r"Done in ([\d.]+) s: (\d+) sent, (\d+) failed", done.stdout)
    if not found:
        run.error = f"no 'Done in' line in the output: {done.stdout[-300:]!r}"
        return run
    hooks = json.loads(hooked.read_text()) if hooked.exists() else {}
    run.sent = int(found[2])
    dispatch = hooks.get("dispatch") or float(found[1])
    run.rate = run.sent / dispatch
    if run.sent != expected:
        run.error = f"sent {run.sent} of {expected}: {done.stdout[-300:]!r}"
    found_rows = [(duration, size) for duration, size in hooks.get("claims", []) if size]
    run.extra |= {"dispatch": dispatch, "claims": len(found_rows),
                  "batch": sum(size for _, size in found_rows) / max(1, len(found_rows))}
    shown = min(CLAIMS_SHOWN, len(found_rows) // 4)  # a small send has few claims
    if shown >= 3:
        run.extra["first_ms"] = statistics.median(d for d, _ in found_rows[:shown]) * 1e3
        run.extra["last_ms"] = statistics.median(d for d, _ in found_rows[-shown:]) * 1e3
        run.extra["shown"] = shown
    return run


# -- PostgreSQL: a fresh schema for each send ---------------------------------------------------

def postgresql_schema() -> tuple[str, Any]:
    """A fresh schema on the benchmark's PostgreSQL server, and an engine to drop it with."""
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRESQL, isolation_level="AUTOCOMMIT",
                           connect_args={"connect_timeout": 5})
    schema = f"bulletin_send_bench_{os.getpid()}_{time.monotonic_ns()}"
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    return schema, engine


def postgresql_missing() -> str | None:
    """Why the benchmark's PostgreSQL server cannot be used, or None when it can."""
    from sqlalchemy import text

    try:
        schema, engine = postgresql_schema()
    except Exception as error:  # the driver's, SQLAlchemy's: all mean "not here"
        return f"{type(error).__name__}: {str(error).splitlines()[0]}"
    with engine.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()
    return None


def child_fill(size: int) -> None:
    """Runs in the child (the bulletin that will send imported), BULLETIN_DATABASE_URL a fresh
    schema: the store's tables, the list, `size` subscribers on it made by INSERT ... SELECT
    (the import is not what is measured), ANALYZE; prints the seconds it took."""
    from sqlalchemy import text

    from bulletin.store.store import Store

    started = time.perf_counter()
    with Store.open(os.environ["BULLETIN_DATABASE_URL"]) as store:
        store.create_list(LIST, newsletter=LIST)
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO subscribers (id, email, email_key, name, language, status, "
                "created_at, updated_at) SELECT n, 'reader' || n || '@example.org', "
                "'reader' || n || '@example.org', 'Reader ' || n, "
                "CASE WHEN n % 2 = 0 THEN 'en' END, 'active', now(), now() "
                "FROM generate_series(1, :size) AS n"), {"size": size})
            connection.execute(text(
                "INSERT INTO memberships (list_id, subscriber_id, status, created_at, "
                "updated_at) SELECT lists.id, n, 'active', now(), now() FROM lists, "
                "generate_series(1, :size) AS n"), {"size": size})
            connection.execute(text(
                "SELECT setval(pg_get_serial_sequence('subscribers', 'id'), :size)"),
                {"size": size})
        with store.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    print(time.perf_counter() - started)


@contextlib.contextmanager
def postgresql_store(size: int, bytecode: Path | None, code: Path | None,
                     timeout: float) -> Iterator[tuple[str, float]]:
    """A fresh schema holding `size` subscribers on the list (made by the bulletin at `code`,
    in a child process), dropped afterwards: its URL, and the seconds filling it took."""
    from urllib.parse import quote

    from sqlalchemy import text

    schema, engine = postgresql_schema()
    try:
        url = f"{POSTGRESQL}?options={quote(f'-csearch_path={schema}')}"
        done = run_measured([sys.executable, __file__, "--child-fill", "--size", str(size)],
                            timeout=timeout, env=child_env(url, bytecode, code))
        if done.code != 0 or done.timed_out:
            raise RuntimeError(f"filling the schema: {_failure(done)}")
        yield url, float(done.stdout.strip().splitlines()[-1])
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


# -- row M: the matrix --------------------------------------------------------------------------

SQLITE, POSTGRES = "SQLite", "PostgreSQL"


@dataclass
class Matrix:
    """Every send of row M, and smtp-source's beside them."""

    sizes: list[int]
    databases: list[str]
    codes: list[tuple[str, Path | None]]
    issues: dict[str, Path]
    postgresql_missing: str | None = None
    sends: dict[tuple[int, str, str], list[Run]] = field(default_factory=dict)
    sources: dict[int, list[Run]] = field(default_factory=dict)
    dry: dict[tuple[int, str], Run] = field(default_factory=dict)
    imported: dict[int, str] = field(default_factory=dict)


def send_once(matrix: Matrix, stores: dict[str, Prepared], database: str, name: str,
              folder: Path, bytecode: Path | None, timeout: float) -> Run:
    """One send of row M: `prepared.rows` recipients, on `database`, by the code `name`
    (from its own store, on SQLite)."""
    code, prepared = dict(matrix.codes)[name], stores[name]
    size, issue = prepared.rows, matrix.issues[name]
    if database == SQLITE:
        url = fresh_copy(prepared, folder, "run.db")
        return command_run(issue, url, folder, size, timeout, "send", bytecode, code)
    with postgresql_store(size, bytecode, code, max(300.0, size / 2000)) as (url, seconds):
        run = command_run(issue, url, folder, size, timeout, "send", bytecode, code)
    run.details.append(f"{size:,} subscribers made in {seconds:.1f} s (INSERT ... SELECT, "
                       "ANALYZE; not measured)")
    return run


def warm_up(matrix: Matrix, folder: Path, bytecode: Path | None, clock: Clock) -> str:
    """Each checkout's modules compiled into the run's bytecode folder, then an untimed send of
    WARM recipients on each database by each checkout (which writes the bytecode of every
    other module a send imports); what was done, for the title."""
    if bytecode is None:
        return "bytecode as the environment has it (--no-bytecode)"
    for name, code in matrix.codes:
        say(f"compiling the {name} code's modules into {bytecode}")
        compiled = subprocess.run(
            [sys.executable, "-m", "compileall", "-q", "-j", "0", str((code or ROOT) /
                                                                        "bulletin")],
            env=child_env("", bytecode, code), capture_output=True, text=True,
            timeout=clock.allow(600), check=False)
        if compiled.returncode != 0:
            say(f"compileall: {compiled.stdout.strip()[-300:]}")
    stores = prepare_stores(matrix, folder, WARM, bytecode, clock.allow(300))
    for database in matrix.databases:
        for name, _ in matrix.codes:
            step(clock, 0, f"untimed send of {WARM} recipients on {database}, {name} code, "
                 "writing the bytecode")
            run = _guard(lambda d=database, n=name: send_once(
                matrix, stores, d, n, folder, bytecode, clock.allow(300)), "warm-up")
            if run.error:
                say(f"[red]the untimed send failed[/]: {esc(run.error)}")
    for prepared in stores.values():
        prepared.path.unlink()
    return "bytecode cached in this run's own folder (PYTHONPYCACHEPREFIX), compiled before " \
           "measuring, as an installed bulletin runs"


def measure_matrix(matrix: Matrix, options: Options, folder: Path, sample: bytes,
                   bytecode: Path | None, clock: Clock) -> None:
    """Row M: at each size, a --dry-run and `repeat` sends on each database by each checkout,
    and smtp-source -d, taking turns."""
    for size in matrix.sizes:
        measure_size(matrix, options, folder, sample, bytecode, clock, size)


def measure_size(matrix: Matrix, options: Options, folder: Path, sample: bytes,
                 bytecode: Path | None, clock: Clock, size: int) -> None:
    """Row M at one size."""
    step(clock, 0, f"M: importing {size:,} subscribers into SQLite (Store.import_csv)")
    stores = prepare_stores(matrix, folder, size, bytecode, clock.allow(max(300.0, size / 500)))
    matrix.imported[size] = (f"{size:,} subscribers imported by Store.import_csv in "
                             + ", ".join(f"{prepared.seconds:.1f} s" + (f" ({name} code)" if
                                         len(stores) > 1 else "")
                                         for name, prepared in stores.items())
                             + " (not measured)")
    for name, code in matrix.codes:
        step(clock, options.quiet_wait, f"M: {size:,}, SQLite, --dry-run, {name} code")
        matrix.dry[size, name] = _guard(lambda n=name, c=code: command_run(
            matrix.issues[n], fresh_copy(stores[n], folder, "run.db"), folder, size,
            clock.allow(max(300.0, size / 2000)), "dry run", bytecode, c, dry_run=True),
            "dry run")
    for number in range(options.repeat):
        turn = f", run {number + 1} of {options.repeat}" if options.repeat > 1 else ""
        for database in matrix.databases:
            for name, _ in matrix.codes:
                step(clock, options.quiet_wait,
                     f"M: {size:,}, {database}, bulletin send, {name} code{turn}")
                matrix.sends.setdefault((size, database, name), []).append(_guard(
                    lambda d=database, n=name: send_once(
                        matrix, stores, d, n, folder, bytecode,
                        clock.allow(max(600.0, size / 300))), "send"))
        step(clock, options.quiet_wait, f"M: {size:,}, smtp-source -d{turn}")
        matrix.sources.setdefault(size, []).append(_guard(lambda: smtp_source_run(
            sample, folder, True, size, CONNECTIONS,
            clock.allow(max(300.0, size / 1000))), "smtp-source -d"))
    for prepared in stores.values():
        prepared.path.unlink()
    (folder / "run.db").unlink(missing_ok=True)


def micro(run: Run) -> float:
    """CPU µs a message of the whole command."""
    return float(run.extra["cpu"]) / run.sent * 1e6


def matrix_rows(rows: list[tuple[str, str, str, str, str, str]], matrix: Matrix) -> None:
    largest = max(matrix.sizes)
    old = len(matrix.codes) > 1
    for size in matrix.sizes:
        number = "M" if size == matrix.sizes[0] else ""
        sources = [r for r in matrix.sources.get(size, []) if not r.error]
        source = max(sources, key=lambda r: r.rate) if sources else None
        source_us = min(r.extra["cpu"] / r.sent * 1e6 for r in sources) if sources else 0.0
        what = f"smtp-source -d (C) → smtp-sink, {CONNECTIONS} sessions, {size:,} messages " \
               "(the example issue's message)"
        if source is None:
            error = next((r.error for r in matrix.sources.get(size, []) if r.error), "no run")
            rows.append((number, what, "-", esc(error or ""), "", "[red]no figure[/]"))
        else:
            details = list(source.details)
            if len(sources) > 1:
                details.append("each run: " + ", ".join(
                    f"{rate(r.rate)}/s, {r.extra['cpu'] / r.sent * 1e6:.1f} µs" for r in sources))
            rows.append((number, what, rate(source.rate), esc(lines(details)),
                         f"the reference: {source_us:.1f} µs CPU a message", ""))
        for database in matrix.databases:
            for name, code in matrix.codes:
                rows.append(send_row(matrix, size, database, name, code, source, source_us,
                                     size == largest, old))


def send_row(matrix: Matrix, size: int, database: str, name: str, code: Path | None,
             source: Run | None, source_us: float, largest: bool,
             old: bool) -> tuple[str, str, str, str, str, str]:
    """One send of row M: its figures, beside smtp-source -d's, and its verdicts."""
    what = (f"`bulletin send ISSUE --yes` (whole command) → smtp-sink, {size:,} recipients, "
            f"{CONNECTIONS} connections, {database}"
            + (f", {name} code ({code or ROOT})" if old else ""))
    every = matrix.sends.get((size, database, name), [])
    done = [r for r in every if not r.error]
    if not done:
        error = next((r.error for r in every if r.error), "no run")
        return ("", what, "-", esc(error or ""), "", "[red]no figure[/]")
    best = min(done, key=micro)
    fastest = max(done, key=lambda r: r.rate)
    us = micro(best)
    got = best.extra
    details = [
        f"{best.sent:,} sent; Done in {got['dispatch']:.2f} s = {rate(best.rate)}/s; whole "
        f"command {got['wall']:.2f} s = {rate(best.sent / got['wall'])}/s (startup and "
        f"summary {got['wall'] - got['dispatch']:.2f} s)",
        f"CPU of the whole command {got['cpu']:.2f} s = {us:.1f} µs a message (render child "
        f"and startup included); sender {got['cpu'] / got['wall']:.0%} of one CPU, sink "
        f"{got['sink_cpu'] / got['wall']:.0%}"]
    dry = matrix.dry.get((size, name)) if database == SQLITE else None
    if dry is not None:
        details.append(f"less its --dry-run ({dry.extra['cpu']:.2f} s CPU: imports, render, "
                       f"plan): {(got['cpu'] - dry.extra['cpu']) / best.sent * 1e6:.1f} µs a "
                       "message" if not dry.error else f"no --dry-run figure: {dry.error}")
    if "first_ms" in got:
        details.append(
            f"claims: {got['claims']:,} that found messages, {got['batch']:.0f} on average; "
            f"{got['first_ms']:.2f} ms at the start, {got['last_ms']:.2f} ms at the end "
            f"({got['last_ms'] / got['first_ms']:.2f}x; median of the first and of the last "
            f"{got['shown']})")
    else:
        details.append(f"claims: {got['claims']} that found messages, "
                       f"{got['batch']:.0f} on average: too few to compare"
                       if got["claims"] else "claims: none timed (no SendLedger.claim)")
    details += [*best.details, matrix.imported[size]] if database == SQLITE else best.details
    details.append(f"peak RSS: sender {mib(best.memory.command_kib)}, its render child "
                   f"{mib(best.memory.child_kib)}; others {best.others:.1f} CPUs")
    if len(done) > 1:
        details.append("each run: " + ", ".join(f"{rate(r.rate)}/s, {micro(r):.1f} µs"
                                                for r in done))
    comparison, verdicts = [], [verdict(us <= TARGET_CPU_US, f"CPU {us:.1f} µs a message vs "
                                        f"≤ {TARGET_CPU_US:g} µs", best.others)]
    if source is not None:
        cpu_ratio, rate_ratio = us / source_us, fastest.rate / source.rate
        comparison += [f"{rate_ratio:.2f}x smtp-source -d's rate (Done in); "
                       f"{fastest.sent / fastest.extra['wall'] / source.rate:.2f}x by the "
                       "whole command's wall",
                       f"CPU {cpu_ratio:.2f}x smtp-source -d's {source_us:.1f} µs"]
        verdicts += [verdict(cpu_ratio <= TARGET_CPU_SOURCE, f"CPU {cpu_ratio:.2f}x "
                             f"smtp-source -d's vs ≤ {TARGET_CPU_SOURCE:g}x"),
                     verdict(rate_ratio >= TARGET_RATE_SOURCE, f"rate {rate_ratio:.2f}x "
                             f"smtp-source -d's vs ≥ {TARGET_RATE_SOURCE:g}x", fastest.others)]
    if largest and "first_ms" in got:
        growth = got["last_ms"] / got["first_ms"]
        verdicts.append(verdict(growth <= TARGET_CLAIM, f"claim at the end {growth:.2f}x the "
                                f"start vs ≤ {TARGET_CLAIM:g}x"))
    sqlite = [r for r in matrix.sends.get((size, SQLITE, name), []) if not r.error]
    if database == POSTGRES and sqlite:
        versus = fastest.rate / max(r.rate for r in sqlite)
        comparison.append(f"{versus:.2f}x SQLite's rate")
        if largest:
            at = "" if size == 1_000_000 else f" (the target is at 1,000,000; here {size:,})"
            verdicts.append(verdict(versus >= TARGET_POSTGRESQL, f"rate {versus:.2f}x "
                                    f"SQLite's vs ≥ {TARGET_POSTGRESQL:g}x (within 10%){at}"))
    others = [r for r in matrix.sends.get((size, database, "old"), []) if not r.error]
    if name == "new" and others:
        comparison.append(f"{fastest.rate / max(r.rate for r in others):.2f}x the old code's "
                          f"rate; CPU {us / min(micro(r) for r in others):.2f}x the old code's")
    return ("", what, rate(fastest.rate), esc(lines(details)), lines(comparison),
            lines(verdicts))


# -- rows 4 to 6 -------------------------------------------------------------------------------

def relay_rows(rows: list[tuple[str, str, str, str, str, str]], delayed: list[Run],
               recipients: int) -> None:
    """Row 4: the dispatcher against a relay 50 ms away."""
    best = max(delayed, key=lambda r: 0.0 if r.error else r.rate)
    for index, run in enumerate(delayed):
        what = (f"bulletin dispatcher (in a child, as `bulletin send` drives it; SQLite, "
                f"{recipients:,} recipients) → sink replying 50 ms after each command "
                f"(delay_sink.py, own process), {run.label}")
        number = "4" if index == 0 else ""
        if run.error:
            rows.append((number, what, "-", esc(run.error), "", "[red]no figure[/]"))
            continue
        connections = int(run.label.split()[0]) if run.label[0].isdigit() else 0
        ceiling = connections / 0.05  # one round trip of 50 ms a message and connection
        sessions = run.extra.get("sink", {}).get("sessions")
        comparison = [f"{run.rate / ceiling:.2f}x the ceiling (connections / 1 round trip)"]
        comparison += [f"sink saw {sessions} sessions"] if sessions else []
        ok = verdict(run.rate >= TARGET_DELAYED, f"best {best.rate:,.0f}/s with {best.label} "
                     f"vs target ≥ {TARGET_DELAYED:,}/s", best.others) if run is best else ""
        rows.append((number, what, rate(run.rate), esc(lines(run.details)), lines(comparison),
                     ok))


def personalise_row(rows: list[tuple[str, str, str, str, str, str]],
                    timing: Personalise) -> None:
    """Row 5: one personalised message."""
    rows.append(("5", "personalise one message: MessageTemplate.message, dot-stuffed for "
                 "DATA as the dispatcher asks (HMAC tokens included)",
                 f"{1e6 / timing.fast_us:,.0f}",
                 f"median {timing.fast_us:.2f} µs, p90 {timing.fast_p90_us:.2f} µs over "
                 f"{timing.fast_count:,} calls; {timing.size:,}-byte message; not stuffed "
                 f"(files, send-test): median {timing.plain_us:.2f} µs\n"
                 f"EmailMessage path (build_message + to_bytes): median "
                 f"{timing.slow_us:,.0f} µs over {timing.slow_count:,}; others "
                 f"{timing.others:.1f} CPUs",
                 f"{timing.slow_us / timing.fast_us:,.0f}x faster than EmailMessage",
                 verdict(timing.fast_us < TARGET_MICROSECONDS,
                         f"{timing.fast_us:.2f} µs vs target < {TARGET_MICROSECONDS:g} µs",
                         timing.others)))


def memory_rows(rows: list[tuple[str, str, str, str, str, str]], matrix: Matrix) -> None:
    """Row 6, from the SQLite sends of row M by this checkout. `bulletin send` is two
    processes for a while: the sender, which lives to the end, and the child that renders at
    the start (bulletin.send.outgoing). Each one's peak is shown, and what the two held
    together while both were alive."""
    target = mib(TARGET_KIB)
    memory = []
    for size in matrix.sizes:
        done = [r for r in matrix.sends.get((size, SQLITE, "new"), []) if not r.error]
        if done:  # the largest peak of its runs
            memory.append((size, max(done, key=lambda r: r.memory.command_kib)))
    largest = max(matrix.sizes)
    for index, (size, sent) in enumerate(memory):
        m = sent.memory
        what = f"peak memory of `bulletin send` (the SQLite send of M) → smtp-sink, {size:,} " \
               "recipients"
        details = [f"sender (the process that sends, from start to end): peak RSS "
                   f"{mib(m.command_kib)} = {mb(m.command_kib)}"]
        baseline = matrix.dry.get((size, "new"))
        if baseline is None or baseline.error:
            details.append(f"no --dry-run figure: {baseline.error if baseline else 'no run'}")
        else:
            added = (m.command_kib - baseline.memory.command_kib) / 1024
            details.append(f"a --dry-run on the same store (render, imports, plan; nothing "
                           f"sent) peaks at {mib(baseline.memory.command_kib)}: sending adds "
                           f"{added:,.1f} MiB")
        if m.child_kib:
            details.append(
                f"render child: peak RSS {mib(m.child_kib)}, alive about "
                f"{m.child_seconds:.1f} s; meanwhile the sender held at most "
                f"{mib(m.command_meanwhile_kib)}, and the two together at most "
                f"{mib(m.together_rss_kib)} RSS ({mib(m.together_pss_kib)} PSS: shared "
                f"library pages counted once), sampled every {SAMPLE_S * 1000:g} ms")
        else:
            details.append("no render child seen")
        details.append(f"whole command: peak {mib(m.whole_kib)} = {mb(m.whole_kib)} "
                       f"(os.wait4's ru_maxrss, {mib(m.maxrss_kib)}, is the larger of the "
                       f"sender's and the child's peaks, not their sum)")
        comparison, ok = [], ""
        if size == largest and index > 0:
            before, peak = memory[index - 1][1].memory.command_kib, m.command_kib
            growth = peak / before
            comparison.append(f"sender: {growth:.2f}x its peak at {memory[index - 1][0]:,}")
            flat = growth < 1.25
            at = "" if size == 1_000_000 else f" (the target is at 1,000,000; here {size:,})"
            ok = verdict(peak < TARGET_KIB and flat, f"sender {mib(peak)} vs target < "
                         f"{target}; {'flat' if flat else 'NOT flat'}{at}")
            ok += "\n" + verdict(m.whole_kib < TARGET_KIB,
                                 f"whole command (sender and render child together, their "
                                 f"RSS added up) {mib(m.whole_kib)} vs target < {target}; "
                                 f"counting shared pages once (PSS): "
                                 f"{mib(m.together_pss_kib)}")
        rows.append(("6" if index == 0 else "", what, rate(sent.rate), esc(lines(details)),
                     lines(comparison), ok))


def print_table(options: Options, rows: list[tuple[str, str, str, str, str, str]],
                how: str) -> None:
    width = int(os.environ.get("COLUMNS", "0")) or 200
    console = Console(width=max(width, 160), highlight=False)
    title = f"bulletin send benchmark — {machine()} — {how}"
    if options.quick:
        title += " — QUICK RUN (--quick: no 1,000,000-recipient run)"
    if options.old_code is not None:
        title += f" — OLD AND NEW CODE (--old-code {options.old_code})"
    table = Table(title=esc(title), show_lines=True, title_justify="left",
                  caption="msg/s: messages per second. others: CPUs' worth of work done by "
                          "processes outside the measurement while it ran (the machine is "
                          "shared). CPU: user + system time.", caption_justify="left")
    table.add_column("#", no_wrap=True)
    table.add_column("measurement", ratio=3)
    table.add_column("msg/s", justify="right", no_wrap=True)
    table.add_column("figures", ratio=5)
    table.add_column("comparison", ratio=2)
    table.add_column("verdict", ratio=3)
    for row in rows:
        table.add_row(*row)
    console.print(table)


# -- main ---------------------------------------------------------------------------------------

@dataclass
class Options:
    quick: bool
    sizes: list[int]
    recipients: int
    delay_connections: list[int]
    time_limit: float
    quiet_wait: float
    repeat: int
    old_code: Path | None
    bytecode: bool
    postgresql: bool
    fast: int = 100_000
    slow: int = 1_000


def parse() -> tuple[argparse.Namespace, Options | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="sizes 10,000 and 100,000 (no 1,000,000-recipient run)")
    parser.add_argument("--sizes", help="recipients of each send of row M (default "
                        "10000,100000,1000000; with --quick 10000,100000)")
    parser.add_argument("--recipients", type=int, default=20_000,
                        help="recipients of row 4 (the relay 50 ms away)")
    parser.add_argument("--delay-connections", default="100,200")
    parser.add_argument("--time-limit", type=float, default=7200.0,
                        help="seconds for the whole run; steps past it are skipped")
    parser.add_argument("--quiet-wait", type=float, default=30.0,
                        help="seconds to wait, at most, for a quiet machine before each step")
    parser.add_argument("--repeat", type=int, default=1,
                        help="sends of each kind, taking turns (rows M and 4)")
    parser.add_argument("--old-code", type=Path,
                        help="also send with the bulletin at this checkout (PYTHONPATH)")
    parser.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                        help="run the commands with the environment's bytecode settings "
                             "instead of with their bytecode cached")
    parser.add_argument("--no-postgresql", dest="postgresql", action="store_false",
                        help="SQLite alone")
    parser.add_argument("--child-dispatch", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-fill", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-prepare", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--store-name", default="", help=argparse.SUPPRESS)
    parser.add_argument("--connections", type=int, default=CONNECTIONS,
                        help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_dispatch or args.child_fill or args.child_prepare:
        return args, None
    sizes = args.sizes or ("10000,100000" if args.quick else "10000,100000,1000000")
    return args, Options(
        quick=args.quick, sizes=sorted(int(n) for n in sizes.split(",")),
        recipients=args.recipients,
        delay_connections=[int(c) for c in args.delay_connections.split(",")],
        time_limit=args.time_limit, quiet_wait=args.quiet_wait, repeat=args.repeat,
        old_code=args.old_code.resolve() if args.old_code else None, bytecode=args.bytecode,
        postgresql=args.postgresql)


class Clock:
    """The run's time budget."""

    def __init__(self, limit: float) -> None:
        self.deadline = time.monotonic() + limit

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def allow(self, wanted: float) -> float:
        """Seconds a step may take: `wanted`, or what is left; raises TimeoutError when
        little is."""
        left = self.left()
        if left < 20:
            raise TimeoutError("the --time-limit is spent")
        return min(wanted, left)


def main() -> None:
    args, options = parse()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, _on_signal)
    if options is None:
        if args.child_fill:
            child_fill(args.size)
        elif args.child_prepare:
            child_prepare(args.child_prepare, args.size, args.store_name)
        else:
            child_dispatch(args.child_dispatch, args.connections)
        return
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not os.access(tool, os.X_OK):
            sys.exit(f"{tool} is missing: apt-get install postfix")
    clock = Clock(options.time_limit)
    rows: list[tuple[str, str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bulletin-send-bench-") as temporary:
        folder = Path(temporary)
        try:
            how = measure_all(options, folder, clock, rows)
        finally:
            end_all()
    print_table(options, rows, how)


def step(clock: Clock, quiet_wait: float, what: str) -> None:
    say(what)
    wait_quiet(min(quiet_wait, max(0.0, clock.left() - 60)))


def measure_all(options: Options, folder: Path, clock: Clock,
                rows: list[tuple[str, str, str, str, str, str]]) -> str:
    """Every row, into `rows`; how the commands ran (their bytecode), for the title."""
    bytecode = folder / "bytecode" if options.bytecode else None
    codes: list[tuple[str, Path | None]] = [("new", None)]
    issues = {"new": make_workspace(folder / "workspace")}
    if options.old_code is not None:
        codes.append(("old", options.old_code))
        issues["old"] = make_workspace(folder / "workspace-old", options.old_code)
    missing = postgresql_missing() if options.postgresql else "left out (--no-postgresql)"
    if missing and options.postgresql:
        say(f"[yellow]PostgreSQL not reachable[/] ({esc(missing)}): SQLite alone")
    matrix = Matrix(options.sizes, [SQLITE] + ([] if missing else [POSTGRES]), codes, issues,
                    missing)
    how = warm_up(matrix, folder, bytecode, clock)
    say(how)

    # 5: personalising one message (in this process), and the message smtp-source sends
    templates = load_templates(1000)
    sample = templates.template.message(templates.recipients[0])[1]
    step(clock, options.quiet_wait, "5: personalising one message")
    timing = personalise_timing(templates, options.fast, options.slow, clock.allow(120))

    measure_matrix(matrix, options, folder, sample, bytecode, clock)

    # 4: a relay 50 ms away
    step(clock, 0, f"4: importing {options.recipients:,} subscribers (Store.import_csv)")
    small = prepare_store(folder, options.recipients)
    delayed = [best_of(options.repeat, lambda c=connections: dispatch_run(
        issues["new"], small, folder, c, 0.05, clock.allow(600), f"{c} connections",
        bytecode), clock, options.quiet_wait,
        f"4: dispatcher to a 50 ms relay, {connections} connections")
        for connections in options.delay_connections]

    matrix_rows(rows, matrix)
    if missing and options.postgresql:
        rows.append(("", "PostgreSQL", "-", esc(f"not reachable at {POSTGRESQL}: {missing}"),
                     "", "[yellow]not run[/]"))
    relay_rows(rows, delayed, options.recipients)
    personalise_row(rows, timing)
    memory_rows(rows, matrix)
    return how


def best_of(repeat: int, measure: Callable[[], Run], clock: Clock, quiet_wait: float,
            what: str) -> Run:
    """The fastest of `repeat` runs (the machine is shared: a slow run is usually someone
    else's work), noting every run's rate."""
    runs = []
    for number in range(repeat):
        step(clock, quiet_wait, what + (f" (run {number + 1} of {repeat})" if repeat > 1
                                        else ""))
        runs.append(_guard(measure, what.split(", ", 1)[-1]))
        if runs[-1].error:
            break
    best = max(runs, key=lambda r: 0.0 if r.error else r.rate)
    if len(runs) > 1:
        best.details.append(f"{len(runs)} runs: "
                            + ", ".join(f"{r.rate:,.0f}/s (others {r.others:.1f} CPUs)"
                                        for r in runs) + "; the fastest shown")
    return best


def _guard(measure: Callable[[], Run], label: str) -> Run:
    """A failed or skipped measurement becomes a row that says so."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return measure()
    except TimeoutError as error:
        return Run(label, error=f"skipped: {error}")
    except (RuntimeError, OSError, ValueError, smtplib.SMTPException, SQLAlchemyError) as error:
        return Run(label, error=f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    main()
