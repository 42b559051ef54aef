"""Aggregator only: every domain's models, so Alembic and tests see the whole metadata."""

from merchant.audit.models import AuditEvent
from merchant.catalog.models import FeedRowError, FeedRun, FeedUpload, Product, Variant
from merchant.checkout.models import CheckoutSession
from merchant.db.base import Base
from merchant.fraud.models import FraudAssessment, FraudSignal
from merchant.idempotency.models import IdempotencyRecord
from merchant.identity.models import ApiKey, SeenSignature
from merchant.inventory.models import InventoryHold
from merchant.orders.models import Order, OrderAdjustment, OrderFulfillment, OrderLine, OrderNote
from merchant.payments.models import Payment, Refund, StripeEvent
from merchant.platforms.models import AgentPlatform
from merchant.webhooks.models import OrderEvent, WebhookAttempt

__all__ = [
    "AgentPlatform",
    "ApiKey",
    "AuditEvent",
    "Base",
    "CheckoutSession",
    "FeedRowError",
    "FeedRun",
    "FeedUpload",
    "FraudAssessment",
    "FraudSignal",
    "IdempotencyRecord",
    "InventoryHold",
    "Order",
    "OrderAdjustment",
    "OrderEvent",
    "OrderFulfillment",
    "OrderLine",
    "OrderNote",
    "Payment",
    "Product",
    "Refund",
    "SeenSignature",
    "StripeEvent",
    "Variant",
    "WebhookAttempt",
]
