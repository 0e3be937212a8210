"""Schema migrations with Alembic, run from code: the scripts ship inside the package
(bulletin/store/migrations), so an installed bulletin can upgrade a database made by an older
one. There is no alembic.ini."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine

from .engine import WRITE
from .errors import StoreError

SCRIPTS = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class Upgrade:
    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "no migration scripts are installed"
    return revision


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> Upgrade:
    """Apply every migration up to `target`, in one transaction (SQLite and PostgreSQL both
    roll back DDL), so a failed upgrade leaves the database as it was."""
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
    with engine.connect() as connection:
        connection.execution_options(**{WRITE: True})
        config = _config()
        config.attributes["connection"] = connection
        with connection.begin():
            command.downgrade(config, target)
