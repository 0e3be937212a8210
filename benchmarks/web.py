"""One-click unsubscribes per second: `bulletin serve` (uvicorn, one process, a SQLite store)
on 127.0.0.1, and a load generator posting `List-Unsubscribe=One-Click` to a different
subscriber's link each time, as mailbox providers do after a send, for a bounded time.

    python benchmarks/web.py [--subscribers 100000] [--seconds 10] [--connections 16]
                             [--client auto|wrk|python]

The service runs as its own process (the real command, `python -m bulletin serve`). The load
comes from `wrk` (Debian package wrk) when it is installed, else from plain asyncio on
keep-alive HTTP/1.1 connections in this process. Afterwards the store is checked: every
answered subscriber unsubscribed, with the audit source one-click. Then, for comparison, the
same app without HTTP (ASGI called in this process) shows what the HTTP server costs.
Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bulletin import links  # noqa: E402
from bulletin.settings import load_workspace  # noqa: E402
from bulletin.store import Store  # noqa: E402

KEY = "benchmark-key-" + "x" * 24
BODY = b"List-Unsubscribe=One-Click"
WARM_UP = 200
WRK_SCRIPT = """
local paths = {}
local i = 0
init = function(args)
  for line in io.lines(args[1]) do paths[#paths + 1] = line end
end
request = function()
  i = i + 1
  if i > #paths then i = 1 end  -- a repeat is harmless: already unsubscribed
  return wrk.format("POST", paths[i],
    {["Content-Type"] = "application/x-www-form-urlencoded"}, "List-Unsubscribe=One-Click")
end
done = function(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status, summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def workspace(folder: Path, port: int, subscribers: int) -> None:
    shutil.copy(ROOT / "bulletin.toml", folder / "bulletin.toml")
    shutil.copytree(ROOT / "templates", folder / "templates")
    if (ROOT / "brand").is_dir():  # the logo files bulletin.toml names
        shutil.copytree(ROOT / "brand", folder / "brand")
    config = folder / "bulletin.toml"
    config.write_text(re.sub(r'(?m)^base_url = .*$', f'base_url = "http://127.0.0.1:{port}"',
                             config.read_text()))
    rows = folder / "subscribers.csv"
    with rows.open("w") as out:
        out.write("email,name,language\r\n")
        for number in range(subscribers):
            out.write(f"reader{number}@example.org,,en\r\n")
    with Store.open(f"sqlite:///{folder / 'bulletin.db'}") as store:
        store.create_list("cohes3ion", newsletter="cohes3ion")
        store.import_csv(rows, "cohes3ion")


def start(folder: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "BULLETIN_SECRET_KEY": KEY,
           "BULLETIN_CONFIG": str(folder / "bulletin.toml")}
    env.pop("BULLETIN_DATABASE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "bulletin", "serve", "--port", str(port)],
                               cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline() if process.stdout else ""
    if "Serving" not in line:
        process.kill()
        raise SystemExit(f"bulletin serve did not start: {line!r}")
    return process


class Outcome:
    def __init__(self, client: str, answered: int, failed: int, seconds: float,
                 median_ms: float, p99_ms: float, max_ms: float) -> None:
        self.client = client
        self.answered = answered
        self.failed = failed
        self.seconds = seconds
        self.median_ms = median_ms
        self.p99_ms = p99_ms
        self.max_ms = max_ms


# -- the Python load generator -----------------------------------------------------------------

async def _connection(port: int, paths: list[bytes], position: list[int], deadline: float,
                      latencies: list[float], codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline and position[0] < len(paths):
            path = paths[position[0]]
            position[0] += 1
            started = time.perf_counter()
            writer.write(b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/x-www-form-urlencoded\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
            head = await reader.readuntil(b"\r\n\r\n")
            code = int(head.split(b" ", 2)[1])
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            await reader.readexactly(int(length[1]) if length else 0)
            latencies.append(time.perf_counter() - started)
            codes[code] = codes.get(code, 0) + 1
    finally:
        writer.close()


def python_load(port: int, paths: list[bytes], seconds: float, connections: int) -> Outcome:
    latencies: list[float] = []
    codes: dict[int, int] = {}
    position = [0]

    async def run() -> float:
        started = time.perf_counter()
        await asyncio.gather(*(_connection(port, paths, position, started + seconds,
                                           latencies, codes) for _ in range(connections)))
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    ordered = sorted(latencies) or [0.0]
    return Outcome(f"Python asyncio, {connections} keep-alive connections", codes.get(200, 0),
                   sum(n for code, n in codes.items() if code != 200), elapsed,
                   statistics.median(ordered) * 1000,
                   ordered[max(int(len(ordered) * 0.99) - 1, 0)] * 1000, ordered[-1] * 1000)


# -- wrk ---------------------------------------------------------------------------------------

def wrk_load(folder: Path, port: int, paths: list[bytes], seconds: float,
             connections: int) -> Outcome:
    script, listing = folder / "oneclick.lua", folder / "paths.txt"
    script.write_text(WRK_SCRIPT)
    listing.write_bytes(b"\n".join(paths) + b"\n")
    result = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
                             "-s", str(script), f"http://127.0.0.1:{port}", "--", str(listing)],
                            capture_output=True, text=True, check=True)
    match = re.search(r"^WRK (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)$",
                      result.stdout, re.M)
    if match is None:
        raise SystemExit(f"wrk said: {result.stdout}{result.stderr}")
    requests, bad_status, socket_errors, micros = (int(match[n]) for n in range(1, 5))
    return Outcome(f"wrk 1 thread, {connections} keep-alive connections",
                   requests - bad_status, bad_status + socket_errors, micros / 1e6,
                   float(match[5]), float(match[6]), float(match[7]))


# -- the app without HTTP ----------------------------------------------------------------------

def in_process(folder: Path, first: int, last: int, seconds: float, connections: int
               ) -> tuple[int, float]:
    """One-click unsubscribes of subscribers first..last through the ASGI app called
    directly (httpx's ASGI transport): the app's own cost, without uvicorn and HTTP."""
    import httpx

    from bulletin.web.service import create_app

    loaded = load_workspace(folder / "bulletin.toml")
    signer = links.Signer(KEY.encode())
    paths = iter([f"/unsubscribe/{signer.sign('unsubscribe', str(n))}"
                  for n in range(first, last + 1)])
    with Store.open(f"sqlite:///{folder / 'bulletin.db'}") as store:
        app = create_app(loaded, store, KEY.encode(), None)

        async def run() -> tuple[int, float]:
            done = 0
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://app") as client:
                started = time.perf_counter()

                async def worker() -> None:
                    nonlocal done
                    for path in paths:
                        if time.perf_counter() > started + seconds:
                            return
                        answer = await client.post(path, content=BODY, headers={
                            "Content-Type": "application/x-www-form-urlencoded"})
                        done += answer.status_code == 200

                await asyncio.gather(*(worker() for _ in range(connections)))
                return done, time.perf_counter() - started

        return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    options = parser.parse_args()
    use_wrk = options.client == "wrk" or (options.client == "auto" and shutil.which("wrk"))

    with tempfile.TemporaryDirectory(prefix="bulletin-web-") as temporary:
        folder = Path(temporary)
        port = free_port()
        print(f"setting up {options.subscribers:,} subscribers ...", flush=True)
        workspace(folder, port, options.subscribers)
        signer = links.Signer(KEY.encode())
        paths = [f"/unsubscribe/{signer.sign('unsubscribe', str(n))}".encode()
                 for n in range(1, options.subscribers + 1)]
        process = start(folder, port)
        try:
            warm = python_load(port, paths[:WARM_UP], 30.0, 4)
            load = paths[WARM_UP:]
            outcome = wrk_load(folder, port, load, options.seconds, options.connections) \
                if use_wrk else python_load(port, load, options.seconds, options.connections)
        finally:
            process.terminate()
            process.wait(timeout=30)
        with Store.open(f"sqlite:///{folder / 'bulletin.db'}") as store:
            left = store.counts("cohes3ion")["unsubscribed"]
            sources = {a.source for n in (1, WARM_UP + 1) for a in store.audit(n)[1:]}
        expected = min(warm.answered + outcome.answered, options.subscribers)
        rest = options.subscribers - left
        alone = in_process(folder, left + 1, options.subscribers, 3.0, options.connections) \
            if rest > 1000 else None

    print()
    print(f"setup: bulletin serve (FastAPI under uvicorn with h11, 1 process) on 127.0.0.1, "
          f"a SQLite store (WAL) of {options.subscribers:,} subscribers;")
    print(f"       load: {outcome.client}, {options.seconds:g} s, a different subscriber's "
          "one-click POST each time")
    print(f"       {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs (shared by server and load generator), "
          f"{platform.machine()} {platform.system()}")
    print(f"one-click unsubscribes: {outcome.answered / outcome.seconds:,.0f} per second "
          f"({outcome.answered:,} answered 200 in {outcome.seconds:.1f} s, "
          f"{outcome.failed} failed)")
    print(f"latency: median {outcome.median_ms:.1f} ms, p99 {outcome.p99_ms:.1f} ms, "
          f"max {outcome.max_ms:.1f} ms")
    # wrk stops counting with requests still in flight, which the service then completes
    ok = expected <= left <= expected + options.connections and sources == {"one-click"}
    print(f"store afterwards: {left:,} unsubscribed ({expected:,} answered, warm-up included; "
          f"at most {options.connections} more were in flight at the end), audit source "
          f"{sorted(sources)}{'' if ok else '  MISMATCH'}")
    if alone is not None:
        done, seconds = alone
        print(f"the app alone (ASGI in-process, no HTTP server): {done / seconds:,.0f} "
              "one-click unsubscribes per second")


if __name__ == "__main__":
    main()
