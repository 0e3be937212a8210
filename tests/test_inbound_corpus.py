"""The classifier against a corpus of real bounces, complaints, auto-replies and ordinary
mail gathered from public sources (tests/data/inbound/README.md names them, their licences
and how each answer was taken from the source's own published tests).

Thresholds (issue 14): at least 95% correct kind, at least 95% correct recipient set, and no
auto-reply or ordinary message ever classed as a hard bounce. A failure prints the accuracy
per source and per family and the files that missed."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from bulletin.inbound import classify

CORPUS = Path(__file__).parent / "data" / "inbound"
ANSWERS: dict[str, dict[str, Any]] = json.loads((CORPUS / "answers.json").read_text())


def _results() -> list[tuple[str, dict[str, Any], Any]]:
    return [(name, answer, classify((CORPUS / name).read_bytes()))
            for name, answer in sorted(ANSWERS.items())]


RESULTS = _results()


def _same_recipients(expected: list[str], got: tuple[str, ...]) -> bool:
    return {a.lower() for a in expected} == {a.lower() for a in got}


def _table(rows: dict[str, list[bool]]) -> str:
    return "\n".join(f"  {key:<28} {sum(v):>4}/{len(v):<4} {100 * sum(v) / len(v):6.1f}%"
                     for key, v in sorted(rows.items()))


def test_corpus_is_large_and_every_file_has_an_answer() -> None:
    files = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*")
             if p.is_file() and p.name not in ("LICENSE", "README.md", "answers.json")}
    assert files == set(ANSWERS)
    assert len(ANSWERS) >= 200


def test_kind_accuracy_is_at_least_95_percent() -> None:
    by_source: dict[str, list[bool]] = defaultdict(list)
    by_family: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for name, answer, got in RESULTS:
        ok = got.kind in answer["kind"]
        by_source[name.split("/")[0]].append(ok)
        by_family[got.family].append(ok)
        if not ok:
            misses.append(f"  {name}: expected {answer['kind']}, got {got.kind} ({got.family}, "
                          f"{got.reason}, {got.status})")
    total = [ok for rows in by_source.values() for ok in rows]
    accuracy = sum(total) / len(total)
    assert accuracy >= 0.95, (
        f"kind accuracy {accuracy:.1%}\nby source:\n{_table(by_source)}\n"
        f"by family (as classified):\n{_table(by_family)}\nmisses:\n" + "\n".join(misses))


def test_recipient_accuracy_is_at_least_95_percent() -> None:
    by_source: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for name, answer, got in RESULTS:
        if answer["recipients"] is not None:
            ok = _same_recipients(answer["recipients"], got.recipients)
        elif "recipients_count" in answer:  # the source publishes how many, not who
            ok = len(got.recipients) == answer["recipients_count"]
        else:
            continue
        by_source[name.split("/")[0]].append(ok)
        if not ok:
            misses.append(f"  {name}: expected {answer['recipients']}, got {list(got.recipients)}"
                          f" ({got.family})")
    total = [ok for rows in by_source.values() for ok in rows]
    accuracy = sum(total) / len(total)
    assert len(total) >= 150
    assert accuracy >= 0.95, (
        f"recipient accuracy {accuracy:.1%}\nby source:\n{_table(by_source)}\nmisses:\n"
        + "\n".join(misses))


def test_no_auto_reply_or_ordinary_message_is_ever_a_hard_bounce() -> None:
    wrong = [f"{name}: {got.family} {got.reason}" for name, answer, got in RESULTS
             if not {"hard", "soft"} & set(answer["kind"]) and got.kind == "hard"]
    assert wrong == []


def test_status_codes_match_where_the_source_publishes_one() -> None:
    checked = [(name, answer["status"], got.status) for name, answer, got in RESULTS
               if answer.get("status")]
    assert checked
    assert [c for c in checked if c[1] != c[2]] == []


def test_line_ends_do_not_change_any_answer() -> None:
    """sisimai publishes its corpus with LF, CRLF and CR line ends: all must read the same."""
    changed = []
    for name, _answer, got in RESULTS:
        data = (CORPUS / name).read_bytes().replace(b"\r\n", b"\n")
        for ending in (b"\r\n", b"\r"):
            other = classify(data.replace(b"\n", ending))
            if (other.kind, [a.lower() for a in other.recipients]) != (
                    got.kind, [a.lower() for a in got.recipients]):
                changed.append(f"{name} with {ending!r}: {other.kind} {other.recipients}")
    assert changed == []
