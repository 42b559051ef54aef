"""Inventory holds: units taken out of a variant's stock for a checkout being paid or an order.

Holding decrements ``catalog_variant.inventory_quantity`` with a conditional update (never below
zero, so concurrent completes cannot oversell); releasing adds the units back. A hold is
``held`` from complete until the payment is captured (``committed``: the units are sold) or the
payment fails, the order is canceled or the session expires (``released``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Index, Integer, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base


class InventoryHold(Base):
    __tablename__ = "inventory_hold"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("status IN ('held', 'committed', 'released')", name="status"),
        Index(
            "ix_inventory_hold_held_session", "checkout_session_id", postgresql_where=text("status = 'held'")
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    variant_id: Mapped[str] = mapped_column(ForeignKey("catalog_variant.id"), index=True)
    checkout_session_id: Mapped[str] = mapped_column(String(40), index=True)
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'held'"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
