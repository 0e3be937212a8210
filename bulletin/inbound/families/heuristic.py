"""The last resort for reports in no known format: a message that presents itself as a
delivery report (a daemon sender, a bounce subject, an empty Return-Path) and says in words
that delivery failed; its failed recipients are the addresses in the report text that are
not the sender, the envelope or a postmaster. Only tried after every named family."""

from __future__ import annotations

from bulletin.inbound.families.base import (
    FAILURE_PHRASE,
    Finding,
    says_it_failed,
)
from bulletin.inbound.families.textual import scan
from bulletin.inbound.message import Parsed


def detect(p: Parsed) -> Finding | None:
    if not says_it_failed(p):
        return None
    found = scan(p, "heuristic", FAILURE_PHRASE, max_lines=25)
    if found is None and FAILURE_PHRASE.search(p.text):
        found = scan(p, "heuristic", FAILURE_PHRASE, max_lines=25, text=p.text)
    if found is None:
        # A report that names no address (or only ones we cannot tell apart from the sender).
        return Finding(family="heuristic", failures=[], permanent=None)
    return found
