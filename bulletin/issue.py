"""The issue file: loading, validation, and errors that name the file, line and key."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator

from .errors import IssueError, SettingsError
from .fields import ImageSource, Prose, Strict, Url, prose_fields
from .settings import Newsletter, Workspace
from .textchars import text_problems
from .validation import describe
from .yamlsource import Loc, Located, dotted, load_yaml


class Image(Strict):
    src: ImageSource
    alt: Prose | None = None
    width: int | None = Field(default=None, ge=16, le=600)
    href: Url | None = None


class Button(Strict):
    text: Prose
    url: Url


class Section(Strict):
    heading: Prose | None = None
    body: Prose | None = None
    image: Image | None = None
    button: Button | None = None
    style: Literal["default", "box"] = "default"
    divider: bool = False

    @model_validator(mode="after")
    def _not_empty(self) -> Section:
        if not (self.heading or self.body or self.image or self.button):
            raise ValueError("a section needs at least one of heading, body, image, button")
        return self


class Issue(Strict):
    newsletter: str
    number: int | None = Field(default=None, ge=0)
    date: dt.date
    subject: Prose
    preheader: Prose | None = None
    title: Prose | None = None
    sections: list[Section] = Field(min_length=1)


@dataclass(frozen=True)
class IssueFile:
    """A validated issue with where it came from, so later checks can name lines too."""

    source: Located
    issue: Issue
    newsletter: Newsletter
    workspace: Workspace | None = field(default=None, compare=False, repr=False)
    """Where the newsletter's settings came from, so findings about them name bulletin.toml."""

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def slug(self) -> str:
        return self.path.stem

    def where(self, loc: Loc) -> str:
        return f"{self.path}:{self.source.line_of(loc)}"


def load_issue(path: Path, workspace: Workspace) -> IssueFile:
    """Load and validate `path` against the contract and the workspace's newsletters."""
    source = load_yaml(path)
    if source.data is None:
        raise IssueError(f"{path}:1: the file is empty; expected keys newsletter, date, "
                         "subject and sections")
    if not isinstance(source.data, dict):
        raise IssueError(f"{path}:1: expected a mapping with keys newsletter, date, subject "
                         f"and sections, got {type(source.data).__name__}")
    unwritable = [f"{path}:{source.line_of(loc)}: {dotted(loc)}: {problem}"
                  for loc, problem in text_problems(source.data)]
    if unwritable:
        raise IssueError("\n".join(unwritable))
    try:
        issue = Issue.model_validate(source.data)
    except ValidationError as exc:
        messages = describe(exc, Issue, lambda loc: f"{path}:{source.line_of(loc)}")
        raise IssueError("\n".join(messages)) from None
    try:
        newsletter = workspace.newsletter(issue.newsletter)
    except SettingsError as exc:
        raise IssueError(f"{path}:{source.line_of(('newsletter',))}: newsletter: {exc}") from None
    loaded = IssueFile(source, issue, newsletter, workspace)
    _check_languages(loaded)
    return loaded


def _check_languages(loaded: IssueFile) -> None:
    wanted = loaded.newsletter.languages
    for loc, value in prose_fields(loaded.issue):
        for language in wanted:
            if language not in value:
                raise IssueError(
                    f"{loaded.where(loc)}: {dotted(loc)}: no '{language}' text; newsletter "
                    f"'{loaded.issue.newsletter}' is published in {', '.join(wanted)}")
        for language in value:
            if language not in wanted:
                raise IssueError(
                    f"{loaded.where((*loc, language))}: {dotted(loc)}: '{language}' is not "
                    f"one of the newsletter's languages ({', '.join(wanted)})")
