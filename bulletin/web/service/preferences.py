"""The manage-preferences page: what a subscriber gets (the lists and topics of their
newsletters), in which language, a pause, leaving, and coming back.

A preferences token names only the subscriber, so the page shows every newsletter they have
ever been on (in the brand of the first one in bulletin.toml), and each newsletter's lists:
its main list and its topics (lists created with `--newsletter NAME`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from ...i18n import language_name
from ...settings import Workspace
from ...store import Store, SubscriberInfo, SuppressedError
from ...store.models import LEFT, Status
from .forms import Form, first
from .pages import Pages
from .views import Group, LanguageChoice, ListChoice, Subscription

PAUSE_MONTHS = ("1", "3", "6")
ACTIONS = ("save", "pause", "resume", "leave", "resubscribe")
_OWNERS_TTL = 30.0


class FormError(ValueError):
    """A form that this page never makes (an unknown action, a pause of 5 months)."""


def masked(address: str) -> str:
    """ann.smith@example.org -> a•••@example.org: enough to recognise, not to harvest."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}•••@{domain}"


class Preferences:
    def __init__(self, workspace: Workspace, store: Store, pages: Pages) -> None:
        self.workspace = workspace
        self.store = store
        self.pages = pages
        self._owners: tuple[float, dict[str, tuple[str | None, str | None]]] = (0.0, {})

    # -- which newsletters and lists ----------------------------------------------------------

    def owners(self) -> dict[str, tuple[str | None, str | None]]:
        """List name -> (its newsletter's slug in bulletin.toml or None, its title)."""
        at, cached = self._owners
        if time.monotonic() - at < _OWNERS_TTL:
            return cached
        newsletters = self.workspace.settings.newsletters
        main = {n.mailing_list: slug for slug, n in newsletters.items()}
        owners = {}
        for name, (newsletter, title) in self.store.list_owners().items():
            slug = newsletter if newsletter in newsletters else main.get(name)
            owners[name] = (slug, title)
        self._owners = (time.monotonic(), owners)
        return owners

    def newsletters_of(self, memberships: dict[str, str]) -> list[str]:
        """The newsletters the subscriber has been on, in bulletin.toml's order (at least
        one: the first newsletter)."""
        owners = self.owners()
        mine = {owners.get(name, (None, None))[0] for name in memberships}
        found = [slug for slug in self.workspace.settings.newsletters if slug in mine]
        return found or [self.pages.default]

    def home(self, subscriber_id: int) -> str:
        """The newsletter whose brand the subscriber's pages wear."""
        return self.newsletters_of(self.store.memberships(subscriber_id))[0]

    # -- the page -----------------------------------------------------------------------------

    def view(self, subscriber_id: int, wanted_language: str | None) -> Subscription:
        """What preferences.html.j2 shows (NotSubscribedError if there is no such
        subscriber)."""
        info = self.store.subscriber(subscriber_id)
        memberships = self.store.memberships(subscriber_id)
        paused_until = self.store.paused_until(subscriber_id)
        slugs = self.newsletters_of(memberships)
        language = self.pages.language(slugs[0], wanted_language, info.language)
        choices = list(dict.fromkeys(code for slug in slugs
                                     for code in self.workspace.newsletter(slug).languages))
        state = _state(info)
        return Subscription(
            slug=slugs[0],
            lang=language,
            state=state,
            masked=masked(info.email),
            paused_until=paused_until,
            groups=[] if paused_until or state != "active" else
            self._groups(slugs, memberships, language),
            language_choices=[LanguageChoice(code, language_name(code)) for code in choices],
            chosen_language=info.language if info.language in choices else language,
        )

    def _groups(self, slugs: list[str], memberships: dict[str, str],
                language: str) -> list[Group]:
        owners = self.owners()
        names = {slug: self.pages.text(self.workspace.newsletter(slug).name, slug, language)
                 for slug in slugs}
        groups = []
        for slug in slugs:
            newsletter = self.workspace.newsletter(slug)
            name = names[slug]
            if list(names.values()).count(name) > 1:  # two newsletters of one name: say which
                name = f"{name} ({newsletter.mailing_list})"
            group = Group(slug, name)
            lists = sorted((n for n, (owner, _) in owners.items() if owner == slug),
                           key=lambda n: (n != newsletter.mailing_list, n))
            for list_name in lists:
                title = name if list_name == newsletter.mailing_list else \
                    owners[list_name][1] or list_name
                group.lists.append(ListChoice(list_name, title,
                                              memberships.get(list_name) == "active"))
            if group.lists:
                groups.append(group)
        return groups

    # -- the changes --------------------------------------------------------------------------

    def apply(self, subscriber_id: int, action: str, form: Form) -> str:
        """Do what the form asks, with the audit source "page"; returns what happened (a key
        of `pages` messages). FormError for a form this page never makes."""
        if action not in ACTIONS:
            raise FormError(f"unknown action {action!r}")
        info = self.store.subscriber(subscriber_id)
        state = _state(info)
        if state == "blocked":
            return "blocked"
        if action == "resubscribe":
            if state != "left":
                return "nothing"
            home = self.workspace.newsletter(self.home(subscriber_id))
            try:
                self.store.subscribe(info.email, home.mailing_list, source="page",
                                     resubscribe=True)
            except SuppressedError:
                return "blocked"
            return "resubscribed"
        if action == "leave":
            self.store.resume(subscriber_id, source="page")
            self.store.unsubscribe(subscriber_id, None, source="page")
            return "left"
        if state != "active":
            return "nothing"
        if action == "pause":
            months = first(form, "months")
            if months not in PAUSE_MONTHS:
                raise FormError("pause for 1, 3 or 6 months")
            until = datetime.now(UTC) + timedelta(days=30 * int(months))
            paused = self.store.pause(subscriber_id, until, source="page")
            return "paused" if paused else "nothing"
        if action == "resume":
            return "resumed" if self.store.resume(subscriber_id, source="page") else "nothing"
        return self._save(info, form)

    def _save(self, info: SubscriberInfo, form: Form) -> str:
        view = self.view(info.id, None)
        wanted = set(form.get("list", []))
        status: Status = "pending" if info.status == "pending" else "active"
        try:
            for group in view.groups:
                for choice in group.lists:
                    if choice.name in wanted and not choice.checked:
                        self.store.subscribe(info.email, choice.name, source="page",
                                             resubscribe=True, status=status)
                    elif choice.checked and choice.name not in wanted:
                        self.store.unsubscribe(info.id, choice.name, source="page")
        except SuppressedError:
            return "blocked"
        language = first(form, "language")
        if language is not None:
            if language not in {c.code for c in view.language_choices}:
                raise FormError(f"no language {language!r} here")
            self.store.set_language(info.id, language, source="page")
        return "saved"


def _state(info: SubscriberInfo) -> str:
    if info.suppressed or info.status in ("bounced", "complained"):
        return "blocked"
    return "left" if info.status in LEFT else "active"

