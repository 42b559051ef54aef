"""An agent platform (ChatGPT, another agent): its webhook receiver and the ACP version it reads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base


class AgentPlatform(Base):
    __tablename__ = "agent_platform"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # plat_<16 hex>
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Where order_create / order_update events are POSTed; None: the platform takes no events.
    webhook_url: Mapped[str | None] = mapped_column(Text)
    # The HMAC-SHA256 secret of Merchant-Signature (stored as given: it must sign).
    signing_secret: Mapped[str] = mapped_column(Text)
    acp_version: Mapped[str] = mapped_column(String(10))  # the payload shape its receiver reads
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    removed_at: Mapped[datetime | None]
