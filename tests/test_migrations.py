"""Migrations: a full round trip, and models and migrations never drift apart."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from merchant.db import migrations
from merchant.models import Base
from tests.fixtures.database import PROCRASTINATE_TABLES, recreate_database


def _include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def scratch_url(server_url: str, worker_id_suffix: str) -> str:
    return recreate_database(server_url, f"merchant_migrations_{worker_id_suffix}")


class TestRoundTrip:
    def test_upgrade_downgrade_upgrade(self, scratch_url: str) -> None:
        head = migrations.head_revision()
        expected = {t.name for t in Base.metadata.sorted_tables} | set(PROCRASTINATE_TABLES)

        migrations.upgrade(scratch_url)
        assert migrations.current_revision(scratch_url) == head
        assert expected <= _tables(scratch_url)

        migrations.downgrade(scratch_url, "base")
        assert migrations.current_revision(scratch_url) is None
        assert _tables(scratch_url) <= {"alembic_version"}

        migrations.upgrade(scratch_url)
        assert migrations.schema_state(scratch_url).is_current
        assert expected <= _tables(scratch_url)

    def test_schema_state_reports_pending_and_unknown(self, scratch_url: str) -> None:
        assert not migrations.schema_state(scratch_url).is_current
        migrations.upgrade(scratch_url, "a1f0c3d2e4b5")
        state = migrations.schema_state(scratch_url)
        assert (state.current, state.known, state.is_current) == ("a1f0c3d2e4b5", True, False)

    def test_schema_state_flags_a_revision_this_code_does_not_know(self, scratch_url: str) -> None:
        migrations.upgrade(scratch_url)
        engine = create_engine(scratch_url)
        try:
            with engine.begin() as connection:
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'deadbeef0000'")
        finally:
            engine.dispose()
        state = migrations.schema_state(scratch_url)
        assert (state.known, state.is_current) == (False, False)
        assert "unknown to this code" in state.describe()


class TestAutogenerate:
    def test_models_match_migrations(self, database_url: str) -> None:
        engine = create_engine(database_url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection,
                    opts={"include_name": _include_name, "compare_server_default": True},
                )
                diff = compare_metadata(context, Base.metadata)
        finally:
            engine.dispose()
        assert diff == []
