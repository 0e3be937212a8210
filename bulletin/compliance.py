"""What an auditor asks of a multilingual newsletter under the Welsh Language Standards, for
one issue, as one record (`bulletin compliance`): the languages and the parity findings, the
order they are read in, what a subscriber with no recorded language gets, when each
language's messages of the last send went (and the skew), the list's subscribers by language
and by where they chose it, and the web pages in each language. A use-case: it loads the
issue (no rendering), runs the parity checks and reads the store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from . import links, parity
from .languages import unknown_gets
from .store.errors import UnknownListError
from .store.language_choice import members_by_choice
from .store.lists import list_id
from .store.store import Store
from .store.timing import LanguageTiming, by_language, skew
from .workflow import load


@dataclass(frozen=True)
class Page:
    name: str
    language: str
    url: str
    available: bool


@dataclass(frozen=True)
class Compliance:
    issue: str
    """How the ledger names it: newsletter/file stem."""
    languages: tuple[str, ...]
    """In the order they are read (first_language first)."""
    delivery: str
    unknown: str
    """What a subscriber with no recorded language gets: "first" or "bilingual"."""
    findings: list[parity.Finding]
    timing: list[LanguageTiming]
    skew: timedelta | None
    by_language: dict[str, int]
    """Active members by recorded language ("none recorded" for None)."""
    by_source: dict[str, int]
    """Active members with a language, by where they chose it ("not recorded" for None)."""
    pages: list[Page]

    @property
    def errors(self) -> int:
        return sum(1 for finding in self.findings if finding.level == "error")


NONE = "none recorded"
UNRECORDED = "not recorded"


def compliance(issue_path: Path, config: Path | None = None) -> Compliance:
    workspace, loaded = load(issue_path, config)
    newsletter = loaded.newsletter
    slug, key = loaded.issue.newsletter, f"{loaded.issue.newsletter}/{loaded.slug}"
    languages = tuple(newsletter.languages)
    base = workspace.settings.base_url
    with Store.for_workspace(workspace) as store:
        timing = by_language(store.engine, key)
        with store.engine.connect() as connection:
            try:
                members = members_by_choice(store.engine,
                                            list_id(connection, newsletter.mailing_list))
            except UnknownListError:  # not in the store yet: nobody to count
                members = []
        archived = {language: store.archive.get(slug, loaded.slug, language) is not None
                    for language in languages}
    by_lang: Counter[str] = Counter()
    by_source: Counter[str] = Counter()
    for language, source, count in members:
        by_lang[language or NONE] += count
        if language is not None:
            by_source[source or UNRECORDED] += count
    multilingual = len(languages) > 1
    pages = []
    for language in languages:
        query = f"?lang={language}" if multilingual else ""
        pages += [Page("subscribe", language, links.subscribe_url(base, slug) + query, True),
                  Page("archive", language, f"{base.rstrip('/')}/archive/{slug}{query}", True),
                  Page("issue", language, links.archive_url(
                      base, slug, loaded.slug, language if multilingual else None),
                      archived[language]),
                  Page("preferences", language, "(each subscriber's own link)", True),
                  Page("unsubscribe", language, "(each subscriber's own link)", True)]
    return Compliance(key, languages, newsletter.delivery,
                      unknown_gets(languages, newsletter.unknown_language),
                      parity.check(loaded), timing, skew(timing), dict(by_lang),
                      dict(by_source), pages)
