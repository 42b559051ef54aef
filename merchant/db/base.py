"""Declarative base with the metadata naming convention and UTC timestamps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # Every datetime column is timestamptz; sessions run with timezone=UTC.
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


def sql_in(column: str, values: tuple[str, ...]) -> str:
    """``column IN ('a', 'b')``: the SQL of a CHECK constraint or partial index on fixed values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
