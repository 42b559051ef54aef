"""Orders as stored (ACP 2026-04-17 ``Order`` after the 2026-05-01 edit, acp-spec.md §6.2).

An order is created exactly once per checkout session (unique ``checkout_session_id``), in the
same transaction that records its successful payment. ``totals`` is the snapshot of what was
charged; ``total`` never changes afterwards (refunds go to ``amount_refunded`` and adjustments).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Sequence,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base, sql_in

ORDER_STATUSES = ("created", "manual_review", "confirmed", "processing", "shipped", "completed", "canceled")
ORDER_NUMBER = Sequence("order_number_seq", start=1001)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(sql_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint("total >= 0 AND amount_refunded >= 0 AND amount_refunded <= total", name="amounts"),
        Index("ix_orders_created_at", "created_at"),
        # Staff lists: each filter with the default sort, and the name prefix search.
        Index("ix_orders_status_created_at", "status", "created_at"),
        Index("ix_orders_fraud_created_at", "fraud_decision", "created_at"),
        Index("ix_orders_total", "total", "id"),
        # total as a key column: a total range is checked in the index, not on each heap row walked.
        Index("ix_orders_platform_created_at", "platform_id", "created_at", "total"),
        # Covering the page keys, so a name search picks its page from the index alone (deferred join).
        Index(
            "ix_orders_buyer_name",
            "buyer_name",
            postgresql_ops={"buyer_name": "text_pattern_ops"},
            postgresql_include=["created_at", "total", "id"],
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ord_<24 hex>
    number: Mapped[int] = mapped_column(
        BigInteger, ORDER_NUMBER, server_default=ORDER_NUMBER.next_value(), unique=True
    )
    checkout_session_id: Mapped[str] = mapped_column(String(40), unique=True)
    owner: Mapped[str] = mapped_column(String(64), index=True)  # the agent API key id
    platform_id: Mapped[str | None] = mapped_column(String(40))  # where its events go
    permalink_url: Mapped[str | None] = mapped_column(Text)  # the order-status page, as given to the agent
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    email: Mapped[str | None] = mapped_column(String(320), index=True)  # lower-cased
    buyer_name: Mapped[str | None] = mapped_column(String(300))  # lower-cased, for prefix search
    buyer_display_name: Mapped[str | None] = mapped_column(String(300))  # as the buyer typed it
    buyer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fulfillment_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fulfillment_option: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # id, type, title, amount
    totals: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the session totals at payment
    total: Mapped[int] = mapped_column(BigInteger)  # the original charge
    amount_refunded: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    order_notes: Mapped[str | None] = mapped_column(Text)
    permalink_token: Mapped[str] = mapped_column(String(64), unique=True)  # the order-status page
    payment_id: Mapped[str | None] = mapped_column(String(40))
    capture_method: Mapped[str] = mapped_column(String(16))
    fraud_decision: Mapped[str | None] = mapped_column(String(16))
    fraud_score: Mapped[int | None] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderLine(Base):
    __tablename__ = "order_line"
    __table_args__ = (
        CheckConstraint(
            "quantity_ordered >= 1 AND quantity_current BETWEEN 0 AND quantity_ordered"
            " AND quantity_fulfilled BETWEEN 0 AND quantity_ordered",  # > current after a return
            name="quantities",
        ),
    )

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(40), primary_key=True)  # li_<n>, as in the session
    position: Mapped[int] = mapped_column(SmallInteger)
    variant_id: Mapped[str] = mapped_column(String(200), index=True)
    title: Mapped[str] = mapped_column(Text)
    unit_amount: Mapped[int] = mapped_column(BigInteger)
    quantity_ordered: Mapped[int] = mapped_column(Integer)
    quantity_current: Mapped[int] = mapped_column(Integer)
    quantity_fulfilled: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    base_amount: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger)
    subtotal: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)


class OrderAdjustment(Base):
    """A post-order change: refund, cancellation, dispute, ... (ACP ``Adjustment``)."""

    __tablename__ = "order_adjustment"
    __table_args__ = (CheckConstraint(sql_in("status", ("pending", "completed", "failed")), name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # adj_<24 hex>
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    refund_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderFulfillment(Base):
    """A shipment (or digital delivery) of some of an order's lines (ACP ``Fulfillment``)."""

    __tablename__ = "order_fulfillment"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ful_<24 hex>
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(16))  # shipping | pickup | digital
    status: Mapped[str] = mapped_column(String(24))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{"id": line id, "quantity": n}]
    carrier: Mapped[str | None] = mapped_column(Text)
    tracking_number: Mapped[str | None] = mapped_column(Text)
    tracking_url: Mapped[str | None] = mapped_column(Text)
    events: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class OrderNote(Base):
    """A staff note on an order (append-only)."""

    __tablename__ = "order_note"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # note_<24 hex>
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    author_key_id: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
