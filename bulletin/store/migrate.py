"""Schema migrations with Alembic, run from code: the scripts ship inside the package
(bulletin/store/migrations), so an installed bulletin can upgrade a database made by an older
one. There is no alembic.ini.

Alembic is imported only when the schema is not at HEAD: opening an up-to-date database reads
the revision with one query, and a process that sends or serves never holds Alembic (about
11 MiB) or Mako and Pygments, which it pulls in."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

from .engine import WRITE
from .errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

SCRIPTS = Path(str(files("bulletin.store.migrations")))
"""The migration scripts and Alembic's script.py.mako, package data like the code."""
HEAD = "0013"
"""The newest migration's revision, so that an up-to-date database is recognised without
reading the scripts. A test checks it against Alembic's head: update it with each migration."""
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def head() -> str:
    """The newest revision as the migration scripts say (HEAD, unless they changed)."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "no migration scripts are installed"
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision: None when it has no tables yet (or, like Alembic, when
    its version table holds more than one, which only Alembic's upgrade then sorts out)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return rows[0][0] if len(rows) == 1 else None


def upgrade(engine: Engine, target: str = "head") -> Upgrade:
    """Apply every migration up to `target`, in one transaction (SQLite and PostgreSQL both
    roll back DDL), so a failed upgrade leaves the database as it was."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    scripts = ScriptDirectory.from_config(_config())
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        before = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
        if before is not None and before not in {script.revision
                                                for script in scripts.walk_revisions()}:
            raise StoreError(f"the database is at schema revision {before}, which this version "
                             f"of bulletin does not know (it knows up to {head()}): it was "
                             f"upgraded by a newer bulletin; upgrade bulletin")
        config = _config()
        config.attributes["connection"] = connection
        try:
            with connection.begin():
                command.upgrade(config, target)
        except CommandError as exc:
            raise StoreError(f"cannot upgrade the database: {exc}") from None
        after = MigrationContext.configure(connection).get_current_revision()
        connection.rollback()
    assert after is not None
    return Upgrade(before, after)


def downgrade(engine: Engine, target: str) -> None:
    """For tests and emergencies: step the schema back to `target`."""
    from alembic import command

    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        config = _config()
        config.attributes["connection"] = connection
        with connection.begin():
            command.downgrade(config, target)
