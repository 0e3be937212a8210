"""A configured inbound.ca_file that does not exist: `bulletin serve` and `bulletin bounces
fetch` agree, each stopping at once with the same one-line error naming the setting and the
file (serve does not go on without the mailbox, as it does without the password: a CA file
named and missing is a mistake in bulletin.toml, not a secret not yet given)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.test_inbound_imap_serve import Serving
from tests.waiting import SAFETY, wait_for
from tests.web_helpers import KEY

PASSWORD = "secret-Password-5"


def run(workspace: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BULLETIN_CONFIG", "BULLETIN_DATABASE_URL")}
    env.update(BULLETIN_SECRET_KEY=KEY, BULLETIN_IMAP_PASSWORD=PASSWORD)
    return subprocess.run([sys.executable, "-m", "bulletin", *args], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=SAFETY, check=False)


def test_a_missing_ca_file_stops_serve_as_it_stops_fetch(workspace: Path) -> None:
    missing = workspace / "certs" / "mailbox-ca.pem"
    with (workspace / "bulletin.toml").open("a") as config:
        config.write('\n[inbound]\nhost = "127.0.0.1"\nport = 1\nusername = "bulletin"\n'
                     'ca_file = "certs/mailbox-ca.pem"\n')
    fetched = run(workspace, "bounces", "fetch")
    serving = Serving(workspace, PASSWORD)
    wait_for(lambda: serving.process.poll() is not None or any("Serving" in x
                                                              for x in serving.out),
             "bulletin serve to stop or to serve")
    served = serving.stop()  # Ctrl-C, if it serves
    assert fetched.returncode == 1, fetched.stdout + fetched.stderr
    (line,) = fetched.stderr.splitlines()
    assert line.startswith("Error: ") and "inbound.ca_file" in line \
        and str(missing) in line, fetched.stderr
    assert (served, "".join(serving.out), "".join(serving.err)) == (1, "", fetched.stderr)
