"""Time bulletin's render pipeline, stage by stage, beside mjml JS compiling the same MJML.

    python benchmarks/render.py [--iterations N] [--warmup N] [--issue PATH]
    python benchmarks/render.py --commands N [--old-code DIR] [--issue PATH]

Stages, for one issue file in its newsletter's first language:

  load      YAML + validation                     bulletin.issue.load_issue
  compose   Jinja + Markdown + plain text + CSS   bulletin.compose.compose
  mjml      MJML to HTML (mjml-python)            bulletin.render.compile_mjml
  inline    CSS inlined (premailer)               bulletin.render.inline_css
  whole     compose + mjml + inline               bulletin.render.render
  e2e       load + whole

The reference is node's `mjml` package (pinned in benchmarks/package-lock.json, installed
into benchmarks/node_modules with `npm ci` when missing) compiling the exact MJML our compose
stage produced, timed in-process in one long-lived node process by benchmarks/mjml_compile.js.
Both sides report per-iteration times; medians and p90s are computed here, the same way.

Target: our whole pipeline (MJML, inlining, text) faster than mjml JS's compile alone.

`--commands N` times whole commands instead, each run a new process, N runs each, taking
turns: `python -m bulletin render ISSUE` (HTML, text and .eml, imports included) against
the `mjml` CLI (benchmarks/node_modules/.bin/mjml) compiling the MJML that render composed;
with `--old-code DIR`, also DIR's bulletin (an older checkout) the same way. Target: bulletin
render at least 1.2x faster than the mjml CLI.

Each command runs as an installed bulletin runs: its modules' bytecode cached (pip compiles
a wheel's modules when it installs them). The checkouts here are run in place, so the
benchmark lifts PYTHONDONTWRITEBYTECODE for the commands and points PYTHONPYCACHEPREFIX
into its temporary folder; the untimed first round writes the bytecode there, and nothing
is written into a checkout. `--no-bytecode` runs them as the environment has it instead
(with PYTHONDONTWRITEBYTECODE set, bulletin's own modules are compiled at every start).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bulletin.compose import compose
from bulletin.issue import load_issue
from bulletin.render import compile_mjml, inline_css, render
from bulletin.settings import Workspace, load_workspace

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
DEFAULT_ISSUE = ROOT / "issues" / "cohes3ion-04.yaml"
NODE_SCRIPT = BENCH_DIR / "mjml_compile.js"
NODE_TIMEOUT = 300  # seconds, for npm ci and for the timing run each

console = Console()


def say(text: str = "", style: str | None = None) -> None:
    """One line as it is: no markup, no highlighting, never wrapped."""
    console.print(text, style=style, markup=False, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Row:
    """One line of the table: a stage's per-iteration times in nanoseconds."""

    stage: str
    what: str
    times_ns: list[int]


def ms(ns: float) -> float:
    return ns / 1e6


def median_ms(times_ns: list[int]) -> float:
    return ms(statistics.median(times_ns))


def p90_ms(times_ns: list[int]) -> float:
    if len(times_ns) < 2:
        return ms(times_ns[0])
    return ms(statistics.quantiles(times_ns, n=10, method="inclusive")[-1])


def timed(fn: Callable[[], object], iterations: int, warmup: int) -> list[int]:
    """Per-call wall time of `fn` in nanoseconds, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times: list[int] = []
    clock = time.perf_counter_ns
    for _ in range(iterations):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def once(fn: Callable[[], Any]) -> tuple[Any, int]:
    start = time.perf_counter_ns()
    result = fn()
    return result, time.perf_counter_ns() - start


# --- the Python side ------------------------------------------------------------------------


def bench_python(issue: Path, workspace: Workspace, iterations: int,
                 warmup: int) -> tuple[list[Row], list[Row], str, int]:
    """(cold rows, warm rows, the MJML our compose stage produced, bytes of final HTML)."""
    # Cold: the very first call in this process, before anything has warmed the Jinja
    # template cache, Babel's locale data, cssutils or markdown-it (imports already done).
    loaded, cold_load = once(lambda: load_issue(issue, workspace))
    rendered, cold_render = once(lambda: render(loaded, workspace))
    cold = [
        Row("load", "first call", [cold_load]),
        Row("whole", "first call", [cold_render]),
        Row("e2e", "first call", [cold_load + cold_render]),
    ]

    language = loaded.newsletter.languages[0]
    theme_dir = workspace.theme_dir(loaded.newsletter.theme)
    base_url = workspace.settings.base_url
    composed = compose(loaded, theme_dir, base_url, language)
    html = compile_mjml(composed.mjml)

    def end_to_end() -> None:
        render(load_issue(issue, workspace), workspace, language)

    stages: list[tuple[str, str, Callable[[], object]]] = [
        ("load", "YAML + validation", lambda: load_issue(issue, workspace)),
        ("compose", "Jinja + Markdown + text",
         lambda: compose(loaded, theme_dir, base_url, language)),
        ("mjml", "mjml-python", lambda: compile_mjml(composed.mjml)),
        ("inline", "premailer", lambda: inline_css(html, composed.css)),
        ("whole", "render() = compose+mjml+inline", lambda: render(loaded, workspace, language)),
        ("e2e", "load + whole", end_to_end),
    ]
    warm = [Row(name, what, timed(fn, iterations, warmup)) for name, what, fn in stages]
    return cold, warm, composed.mjml, len(rendered.html.encode())


# --- the node side --------------------------------------------------------------------------


class NodeUnavailable(Exception):
    """mjml JS cannot be run here; the message is one line for the user."""


def _installed_mjml_version() -> str | None:
    manifest = BENCH_DIR / "node_modules" / "mjml" / "package.json"
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


def _locked_mjml_version() -> str | None:
    lock = BENCH_DIR / "package-lock.json"
    try:
        return json.loads(lock.read_text(encoding="utf-8"))["packages"]["node_modules/mjml"][
            "version"]
    except (OSError, ValueError, KeyError):
        return None


def ensure_mjml_js() -> str:
    """Path of node; installs the pinned mjml into benchmarks/node_modules if it is missing or
    not the locked version."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing = " and ".join(name for name, path in (("node", node), ("npm", npm)) if not path)
        raise NodeUnavailable(f"{missing} not found on PATH (install Node.js with npm to "
                              "compare)")
    locked = _locked_mjml_version()
    if locked is not None and _installed_mjml_version() == locked:
        return node
    command = [npm, "ci", "--prefix", str(BENCH_DIR), "--no-audit", "--no-fund",
               "--loglevel=error"]
    say(f"installing mjml {locked or '(unlocked)'} into {BENCH_DIR / 'node_modules'} with npm ci",
        style="dim")
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=NODE_TIMEOUT,
                                check=False)
    except subprocess.TimeoutExpired:
        raise NodeUnavailable(f"npm ci timed out after {NODE_TIMEOUT} s") from None
    if result.returncode != 0 or _installed_mjml_version() is None:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise NodeUnavailable(f"npm ci --prefix {BENCH_DIR} failed: {last}")
    return node


def bench_node(node: str, mjml: str, iterations: int, warmup: int) -> dict[str, Any]:
    """Run benchmarks/mjml_compile.js on exactly `mjml`; its JSON report."""
    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as tmp:
        source = Path(tmp) / "issue.mjml"
        source.write_text(mjml, encoding="utf-8")
        try:
            result = subprocess.run(
                [node, str(NODE_SCRIPT), str(source), str(iterations), str(warmup)],
                cwd=BENCH_DIR, capture_output=True, text=True, timeout=NODE_TIMEOUT,
                check=False)
        except subprocess.TimeoutExpired:
            raise NodeUnavailable(f"mjml JS timing run took over {NODE_TIMEOUT} s") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise NodeUnavailable(f"{NODE_SCRIPT.name} failed: {last}")
    return json.loads(result.stdout)


# --- report ---------------------------------------------------------------------------------


def _load_average() -> str:
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def context_lines(node_report: dict[str, Any] | None, node_error: str | None) -> list[str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    if node_report is not None:
        node_version, mjml_js = node_report["node_version"], node_report["mjml_version"]
    else:
        node_version = mjml_js = "unavailable"
    return [
        f"python      {platform.python_version()} ({platform.python_implementation()}) "
        f"on {platform.system()} {platform.machine()}",
        f"node        {node_version}",
        f"mjml-python {version('mjml-python')}   premailer {version('premailer')}   "
        f"jinja2 {version('jinja2')}   lxml {version('lxml')}",
        f"mjml (JS)   {mjml_js}",
        f"cpus        {os.cpu_count()} (usable: {len(os.sched_getaffinity(0))})"
        if hasattr(os, "sched_getaffinity") else f"cpus        {os.cpu_count()}",
    ]


def table(cold: list[Row], warm: list[Row], js: Row | None, js_cold_ns: int | None,
          iterations: int, warmup: int) -> Table:
    out = Table(title=f"ms: {iterations} iterations after {warmup} warm-up; first call: one "
                      "sample", title_justify="left")
    out.add_column("stage")
    out.add_column("what")
    out.add_column("n", justify="right")
    out.add_column("median", justify="right")
    out.add_column("p90", justify="right")
    out.add_column("min", justify="right")

    def add(row: Row, end_section: bool = False) -> None:
        times = row.times_ns
        out.add_row(row.stage, row.what, str(len(times)), f"{median_ms(times):.3f}",
                    f"{p90_ms(times):.3f}" if len(times) > 1 else "",
                    f"{ms(min(times)):.3f}" if len(times) > 1 else "",
                    end_section=end_section)

    for index, row in enumerate(warm):
        add(row, end_section=index == len(warm) - 1)
    if js is not None:
        add(js, end_section=True)
    for index, row in enumerate(cold):
        add(row, end_section=js_cold_ns is None and index == len(cold) - 1)
    if js_cold_ns is not None:
        add(Row("mjml JS", "first call, node", [js_cold_ns]))
    return out


def verdict(whole: Row, js: Row | None) -> str:
    ours = median_ms(whole.times_ns)
    if js is None:
        return (f"target: whole pipeline {ours:.2f} ms < mjml JS compile ? ms: not evaluated "
                "(mjml JS unavailable)")
    theirs = median_ms(js.times_ns)
    if ours < theirs:
        return (f"target: whole pipeline {ours:.2f} ms < mjml JS compile {theirs:.2f} ms: "
                f"met ({theirs / ours:.1f}x faster)")
    return (f"target: whole pipeline {ours:.2f} ms < mjml JS compile {theirs:.2f} ms: "
            f"not met ({ours / theirs:.1f}x slower)")


def bench_commands(issue: Path, workspace: Workspace, runs: int,
                   old_code: Path | None, bytecode: bool = True) -> int:
    """Whole commands, one new process a run, taking turns; a table of wall times."""
    ensure_mjml_js()
    loaded = load_issue(issue, workspace)
    newsletter = loaded.newsletter
    composed = compose(loaded, workspace.theme_dir(newsletter.theme),
                       workspace.settings.base_url, (newsletter.languages[0],), "single")
    unset = {"PYTHONPATH", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE"} if bytecode \
        else {"PYTHONPATH"}
    env = {name: value for name, value in os.environ.items() if name not in unset}
    with tempfile.TemporaryDirectory(prefix="bulletin-bench-") as tmp:
        if bytecode:  # as installed: written by the untimed first round, read by the rest
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "bytecode")
        source = Path(tmp) / "issue.mjml"
        source.write_text(composed.mjml, encoding="utf-8")
        render_ = [sys.executable, "-m", "bulletin", "render", str(issue), "--out",
                   str(Path(tmp) / "out")]
        commands: list[tuple[str, list[str], Path]] = [
            ("bulletin render", render_, ROOT),
            ("mjml CLI", [str(BENCH_DIR / "node_modules" / ".bin" / "mjml"), str(source), "-o",
                          str(Path(tmp) / "mjml.html")], ROOT)]
        if old_code is not None:  # `python -m` imports from the folder it runs in first;
            old = old_code.resolve()  # its own issue and bulletin.toml, which it can read
            old_issue = old / issue.relative_to(ROOT) if issue.is_relative_to(ROOT) else issue
            commands.append((f"bulletin render ({old_code.name})",
                             [*render_[:4], str(old_issue), *render_[5:]], old))
        times: dict[str, list[int]] = {name: [] for name, _, _ in commands}
        cpu: dict[str, list[int]] = {name: [] for name, _, _ in commands}
        for run in range(runs + 1):  # the first round warms the page cache, untimed
            for name, command, folder in commands:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                started = time.perf_counter_ns()
                done = subprocess.run(command, cwd=folder, env=env, capture_output=True,
                                      text=True, timeout=NODE_TIMEOUT, check=False)
                elapsed = time.perf_counter_ns() - started
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                if done.returncode != 0:
                    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                    say(f"{name} failed: {last}", style="red")
                    return 1
                if run:
                    times[name].append(elapsed)
                    cpu[name].append(int(used * 1e9))
    cached = "bytecode cached, as installed" if bytecode else "bytecode as the environment has it"
    out = Table(title=f"whole commands, wall ms: {runs} runs each, taking turns ({cached}); "
                      f"load avg {_load_average()}", title_justify="left")
    for column in ("command", "median", "min", "p90", "mjml CLI / this", "CPU median"):
        out.add_column(column, justify="left" if column == "command" else "right")
    theirs = median_ms(times["mjml CLI"])
    for name, measured in times.items():
        out.add_row(name, f"{median_ms(measured):.1f}", f"{ms(min(measured)):.1f}",
                    f"{p90_ms(measured):.1f}", f"{theirs / median_ms(measured):.2f}x",
                    f"{median_ms(cpu[name]):.1f}")
    console.print(out)
    ours = median_ms(times["bulletin render"])
    say(f"target: bulletin render at least 1.2x faster than the mjml CLI: "
        f"{theirs / ours:.2f}x, {'met' if theirs / ours >= 1.2 else 'not met'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200,
                        help="timed iterations per stage, both sides (default 200)")
    parser.add_argument("--warmup", type=int, default=50,
                        help="untimed iterations before timing, both sides (default 50)")
    parser.add_argument("--issue", type=Path, default=DEFAULT_ISSUE,
                        help="issue file (default issues/cohes3ion-04.yaml)")
    parser.add_argument("--commands", type=int, default=0, metavar="N",
                        help="time whole commands instead: bulletin render against the mjml "
                             "CLI, N runs each")
    parser.add_argument("--old-code", type=Path, metavar="DIR",
                        help="with --commands: also an older checkout's bulletin render")
    parser.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                        help="with --commands: run them with the environment's bytecode "
                             "settings instead of with their bytecode cached")
    args = parser.parse_args(argv)
    if args.iterations < 1 or args.warmup < 0:
        parser.error("--iterations must be at least 1 and --warmup at least 0")

    workspace = load_workspace(ROOT / "bulletin.toml")
    issue = args.issue.resolve()
    say(f"issue: {issue.relative_to(ROOT) if issue.is_relative_to(ROOT) else issue}")
    if args.commands:
        try:
            return bench_commands(issue, workspace, args.commands, args.old_code, args.bytecode)
        except NodeUnavailable as exc:
            say(f"mjml CLI unavailable: {exc}", style="yellow")
            return 1

    load_before = _load_average()
    cold, warm, mjml, html_bytes = bench_python(issue, workspace, args.iterations, args.warmup)
    # Python's garbage from the loops above should not land in node's measurement window.
    gc.collect()

    node_report: dict[str, Any] | None = None
    node_error: str | None = None
    try:
        node_report = bench_node(ensure_mjml_js(), mjml, args.iterations, args.warmup)
    except NodeUnavailable as exc:
        node_error = str(exc)
        say(f"mjml JS skipped: {node_error}", style="yellow")

    load_after = _load_average()

    js = js_cold = None
    if node_report is not None:
        js = Row("mjml JS", "node, mjml2html() (soft)", node_report["times_ns"])
        js_cold = node_report["cold_ns"]

    say()
    for line in context_lines(node_report, node_error):
        say(line)
    say(f"load avg    {load_before} before, {load_after} after (1/5/15 min)")
    say(f"input       MJML {len(mjml.encode()):,} bytes (the exact string compose produced, "
        "fed to both)")
    say(f"bulletin    {html_bytes:,} bytes of HTML after inlining")
    if node_report is not None:
        errors = node_report["errors"]
        say(f"mjml JS     {node_report['html_bytes']:,} bytes of HTML, {len(errors)} validation "
            "message(s)" + (f": {errors[0]}" if errors else ""))
    say()
    console.print(table(cold, warm, js, js_cold, args.iterations, args.warmup))
    whole = next(row for row in warm if row.stage == "whole")
    say(verdict(whole, js))
    return 0 if js is not None else 1


if __name__ == "__main__":
    sys.exit(main())
