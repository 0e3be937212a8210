"""How fast and how well inbound messages are classified, over the corpus in
tests/data/inbound (real bounces, complaints, auto-replies and ordinary mail with the
sources' published answers). Prints one table: messages classified per second, the share
with the right kind and the right recipient set, and the same for flufl.bounce (Mailman's
detectors) when it is installed, measured on the same files with the same answer key.

    python benchmarks/bounces.py [--seconds 3]

flufl.bounce only finds addresses (temporary or permanent); its kind is taken as hard for a
permanent failure, soft for a temporary one and not-bounce when it finds nothing. The
IMAP-mailbox timing (10,000 bounces through `bulletin bounces fetch`) belongs to the intake
stage and is added there.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bulletin.inbound import classify

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "inbound"
Result = tuple[str, set[str]]


def ours(data: bytes) -> Result:
    got = classify(data)
    return got.kind, {a.lower() for a in got.recipients}


def flufl() -> Callable[[bytes], Result] | None:
    try:
        from flufl.bounce import all_failures  # type: ignore[import-not-found]
    except ImportError:
        return None

    def run(data: bytes) -> Result:
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        try:
            temporary, permanent = all_failures(msg)
        except Exception:
            return "error", set()
        found = {a.decode("utf-8", "replace").lower() for a in temporary | permanent}
        kind = "hard" if permanent else "soft" if temporary else "not-bounce"
        return kind, found
    return run


def measure(name: str, run: Callable[[bytes], Result], files: dict[str, bytes],
            answers: dict[str, dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """One row for the whole corpus and one without flufl.bounce's own test messages (whose
    answer key is flufl.bounce's output, so it cannot miss there)."""
    results = {key: run(data) for key, data in files.items()}
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for data in files.values():
            run(data)
        done += len(files)
    rate = done / (time.perf_counter() - start)
    rows = []
    for subset, keep in (("all", lambda k: True),
                         ("not flufl's own", lambda k: not k.startswith("flufl-bounce/"))):
        chosen = {k: a for k, a in answers.items() if keep(k)}
        kind_ok = sum(results[k][0] in a["kind"] for k, a in chosen.items())
        scored = [k for k, a in chosen.items()
                  if a["recipients"] is not None or "recipients_count" in a]
        recipients_ok = sum(
            results[k][1] == {r.lower() for r in chosen[k]["recipients"]}
            if chosen[k]["recipients"] is not None
            else len(results[k][1]) == chosen[k]["recipients_count"] for k in scored)
        false_hard = sum(results[k][0] == "hard" for k, a in chosen.items()
                         if not {"hard", "soft"} & set(a["kind"]))
        rows.append({"classifier": name, "subset": subset, "messages": len(chosen),
                     "per_second": rate, "kind": kind_ok / len(chosen),
                     "recipients": recipients_ok / len(scored), "false_hard": false_hard})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # flufl.bounce logs every detector that raises
    answers: dict[str, dict[str, Any]] = json.loads((CORPUS / "answers.json").read_text())
    files = {name: (CORPUS / name).read_bytes() for name in answers}
    rows = measure("bulletin.inbound", ours, files, answers, args.seconds)
    other = flufl()
    if other is not None:
        rows += measure("flufl.bounce 6.0.0", other, files, answers, args.seconds)
    print(f"{'classifier':<20} {'corpus':<16} {'messages':>8} {'msgs/s':>8} {'kind ok':>8} "
          f"{'rcpts ok':>8} {'non-bounce as hard':>18}")
    for row in rows:
        print(f"{row['classifier']:<20} {row['subset']:<16} {row['messages']:>8} "
              f"{row['per_second']:>8.0f} {row['kind']:>8.1%} {row['recipients']:>8.1%} "
              f"{row['false_hard']:>18}")
    if other is None:
        print("(flufl.bounce is not installed: pip install flufl.bounce to compare)")


if __name__ == "__main__":
    main()
