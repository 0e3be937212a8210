"""Naming one subscriber as the callers do: by email address (any case) or by id (as a signed
token names them), checked and found in a session. Every aggregate that takes a person uses
these, so an address is checked, and a missing person reported, the same way everywhere."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .addresses import Address, InvalidAddress, normalise
from .errors import NotSubscribedError, StoreError
from .models import Subscriber

SubscriberRef = str | int
"""An email address, or a subscriber's id (as a signed token names it)."""


def address(email: str) -> Address:
    """The normalised address, or a StoreError saying why `email` is not one."""
    try:
        return normalise(email)
    except InvalidAddress as exc:
        raise StoreError(str(exc)) from None


def find(session: Session, who: SubscriberRef, *, lock: bool = True) -> Subscriber:
    """The subscriber (row-locked for the transaction unless `lock` is false), or
    NotSubscribedError."""
    query = select(Subscriber)
    if isinstance(who, int):
        query = query.where(Subscriber.id == who)
        shown = f"subscriber {who}"
    else:
        found = address(who)
        query = query.where(Subscriber.email_key == found.key)
        shown = found.email
    subscriber = session.scalar(query.with_for_update() if lock else query)
    if subscriber is None:
        raise NotSubscribedError(f"no subscriber {shown} in the store")
    return subscriber
