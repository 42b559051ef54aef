"""Aggregator only: every domain's models, so Alembic and tests see the whole metadata."""

from merchant.catalog.models import FeedRowError, FeedRun, FeedUpload, Product, Variant
from merchant.checkout.models import CheckoutSession
from merchant.db.base import Base
from merchant.idempotency.models import IdempotencyRecord
from merchant.identity.models import ApiKey

__all__ = [
    "ApiKey",
    "Base",
    "CheckoutSession",
    "FeedRowError",
    "FeedRun",
    "FeedUpload",
    "IdempotencyRecord",
    "Product",
    "Variant",
]
