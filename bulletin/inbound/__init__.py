"""Inbound mail: what comes back after sending (bounces, complaints, auto-replies, emailed
unsubscribe requests). This package is the pure classification stage: `classify(bytes)` ->
`Classification`; attribution, policy and intake build on it."""

from __future__ import annotations

from bulletin.inbound.classify import classify
from bulletin.inbound.model import KINDS, Classification, Kind, NotAnEmailError

__all__ = ["KINDS", "Classification", "Kind", "NotAnEmailError", "classify"]
