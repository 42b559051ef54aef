"""Database: declarative base, engine and sessions, embedded server, migrations."""

from merchant.db.base import Base, TimestampMixin
from merchant.db.engine import create_engine, create_sessionmaker
from merchant.db.transaction import transaction

__all__ = ["Base", "TimestampMixin", "create_engine", "create_sessionmaker", "transaction"]
