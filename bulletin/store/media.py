"""Published images: the processed local images of sent issues, by content-addressed name
(images.py), for `bulletin serve` to answer BASE/media/<name> and `bulletin media export`.

    store.media.put(files)          # before the first message of a send; idempotent
    store.media.get("3f2a....jpg")  # bytes and type, or None
    store.media.names()

A name is the hash of its bytes, so putting a name that is there already changes nothing, and
two senders putting the same image at once both succeed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .models import MediaObject, now


@dataclass(frozen=True, slots=True)
class StoredMedia:
    name: str
    content_type: str
    data: bytes


class Media(Aggregate):
    """The published images."""

    def put(self, files: Iterable[tuple[str, bytes, str]]) -> int:
        """Keep each (name, bytes, content type) not kept yet; how many were new."""
        wanted = {name: (data, content_type) for name, data, content_type in files}
        if not wanted:
            return 0
        for attempt in range(3):  # another sender may put the same image at the same moment
            try:
                with self.transaction() as session:
                    there = set(session.scalars(select(MediaObject.name).where(
                        MediaObject.name.in_(wanted))))
                    new = [name for name in wanted if name not in there]
                    at = now()
                    session.add_all(MediaObject(name=name, content_type=wanted[name][1],
                                                data=wanted[name][0], size=len(wanted[name][0]),
                                                created_at=at) for name in new)
                    return len(new)
            except IntegrityError:
                if attempt == 2:
                    raise
        return 0

    def get(self, name: str) -> StoredMedia | None:
        with Session(self.engine) as session:
            found = session.get(MediaObject, name)
            if found is None:
                return None
            return StoredMedia(found.name, found.content_type, found.data)

    def names(self) -> list[str]:
        with Session(self.engine) as session:
            return list(session.scalars(select(MediaObject.name).order_by(MediaObject.name)))
