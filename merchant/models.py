"""Aggregator only: every domain's models, so Alembic and tests see the whole metadata."""

from merchant.db.base import Base
from merchant.identity.models import ApiKey

__all__ = ["ApiKey", "Base"]
