"""The public archive: each issue as it was sent, by newsletter, issue and language, for the
web service's archive pages.

    store.archive.put("cohes3ion", "cohes3ion-04", "en", subject, html, text)
    store.archive.get("cohes3ion", "cohes3ion-04")      # the first language published
    store.archive.index("cohes3ion")                    # newest first

What is put here is public: a copy with no recipient's data in it (the render layer makes it).
Putting an issue again replaces it and keeps the date it was first published.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .aggregate import Aggregate
from .models import ArchivedIssue, now


@dataclass(frozen=True, slots=True)
class ArchivedCopy:
    newsletter: str
    issue: str
    language: str
    subject: str
    html: str
    text: str
    published_at: datetime


@dataclass(frozen=True, slots=True)
class ArchiveEntry:
    issue: str
    language: str
    subject: str
    published_at: datetime


class Archive(Aggregate):
    """The archived issues."""

    def put(self, newsletter: str, issue: str, language: str, subject: str, html: str,
            text: str) -> bool:
        """Keep an issue as sent for the public archive (no recipient's data in it!). Putting
        the same (newsletter, issue, language) again replaces it; True if it was new."""
        try:
            return self._put(newsletter, issue, language, subject, html, text)
        except IntegrityError:  # another sender put it at the same moment: replace theirs
            return self._put(newsletter, issue, language, subject, html, text)

    def _put(self, newsletter: str, issue: str, language: str, subject: str, html: str,
             text: str) -> bool:
        at = now()
        with self.transaction() as session:
            found = session.scalar(select(ArchivedIssue).where(
                ArchivedIssue.newsletter == newsletter, ArchivedIssue.issue == issue,
                ArchivedIssue.language == language))
            if found is None:
                session.add(ArchivedIssue(newsletter=newsletter, issue=issue, language=language,
                                          subject=subject, html=html, text=text,
                                          published_at=at, updated_at=at))
                return True
            found.subject, found.html, found.text, found.updated_at = subject, html, text, at
            return False

    def get(self, newsletter: str, issue: str, language: str | None = None
            ) -> ArchivedCopy | None:
        """The archived issue in `language` (any language: the first one published), or
        None."""
        query = select(ArchivedIssue).where(ArchivedIssue.newsletter == newsletter,
                                            ArchivedIssue.issue == issue)
        if language is not None:
            query = query.where(ArchivedIssue.language == language)
        with Session(self.engine) as session:
            found = session.scalar(query.order_by(ArchivedIssue.id).limit(1))
            if found is None:
                return None
            return ArchivedCopy(found.newsletter, found.issue, found.language, found.subject,
                                found.html, found.text, found.published_at)

    def index(self, newsletter: str) -> list[ArchiveEntry]:
        """Every archived issue of the newsletter in every language, newest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(ArchivedIssue.issue, ArchivedIssue.language, ArchivedIssue.subject,
                       ArchivedIssue.published_at)
                .where(ArchivedIssue.newsletter == newsletter)
                .order_by(ArchivedIssue.published_at.desc(), ArchivedIssue.issue,
                          ArchivedIssue.id)).all()
        return [ArchiveEntry(*row) for row in rows]
