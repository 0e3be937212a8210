"""The subscriber database as the commands on it find it: the workspace's bulletin.toml (or
none, when BULLETIN_DATABASE_URL names the database), and its store with a list for every
newsletter. Shared by `bulletin subscribers ...`, `db ...` and `suppressions ...`; the store
(SQLAlchemy) is imported only when a command opens it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..environment import DATABASE_URL
from ..errors import SettingsError

if TYPE_CHECKING:
    from ..settings import Workspace
    from ..store import Store


def workspace(config: Path | None) -> Workspace | None:
    """The workspace, or None when the database is named in the environment and there is no
    bulletin.toml to be found."""
    from ..settings import find_config, load_workspace

    if config is not None:
        return load_workspace(config)
    try:
        path = find_config()
    except SettingsError:
        if os.environ.get(DATABASE_URL):
            return None
        raise
    return load_workspace(path)


def _title(workspace: Workspace, slug: str) -> str:
    newsletter = workspace.newsletter(slug)
    name = newsletter.name
    return name if isinstance(name, str) else name.get(newsletter.languages[0],
                                                       next(iter(name.values())))


@contextmanager
def open_store(config: Path | None) -> Iterator[Store]:
    """The workspace's store, with a list for every newsletter in bulletin.toml."""
    from ..store import Store
    from ..store.engine import resolve_url

    found = workspace(config)
    url = resolve_url(found.root if found else None,
                      found.settings.database_url if found else None)
    with Store.open(url) as store:
        if found is not None:
            known = set(store.list_names())
            for slug, newsletter in found.settings.newsletters.items():
                if newsletter.mailing_list not in known:
                    store.create_list(newsletter.mailing_list, newsletter=slug,
                                      title=_title(found, slug))
        yield store
