"""Alembic, driven from code: upgrade, downgrade, current, revision, schema state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from merchant.config import libpq_url

_PACKAGE_DIR = Path(__file__).resolve().parent.parent
_VERSION_TABLE_EXISTS = "SELECT to_regclass('alembic_version') IS NOT NULL"
_VERSION = "SELECT version_num FROM alembic_version"


def migrations_dir() -> Path:
    """``migrations/`` of the checkout, or the copy packed into a wheel."""
    packed = _PACKAGE_DIR / "_migrations"
    return packed if packed.is_dir() else _PACKAGE_DIR.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option(
        "file_template", "%%(year)d-%%(month).2d-%%(day).2d-%%(hour).2d%%(minute).2d_%%(slug)s"
    )
    # Passed as an attribute, not an ini option, so '%' in passwords survives.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str, *, autogenerate: bool) -> None:
    command.revision(alembic_config(database_url), message=message, autogenerate=autogenerate)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    return _scripts().get_current_head()


def current_revision(database_url: str) -> str | None:
    with psycopg.connect(libpq_url(database_url)) as conn:
        exists = conn.execute(_VERSION_TABLE_EXISTS).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(_VERSION).fetchone()
        return row[0] if row else None


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str | None
    known: bool

    @property
    def is_current(self) -> bool:
        return self.current == self.head

    def describe(self) -> str:
        if self.is_current:
            return f"schema is current (revision {self.current})"
        if not self.known:
            return f"database revision {self.current} is unknown to this code (newer release?)"
        return f"schema is at {self.current or 'nothing'}, this code needs {self.head}"


def schema_state(database_url: str) -> SchemaState:
    current = current_revision(database_url)
    scripts = _scripts()  # parse the revision files once
    known = current is None or current in {rev.revision for rev in scripts.walk_revisions()}
    return SchemaState(current, scripts.get_current_head(), known)


async def database_revision(connection: AsyncConnection) -> str | None:
    """The revision stamped in the database, read on an open async connection."""
    exists = await connection.scalar(text(_VERSION_TABLE_EXISTS))
    if not exists:
        return None
    revision = await connection.scalar(text(_VERSION))
    return str(revision) if revision is not None else None
