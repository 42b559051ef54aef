"""API key table: the secret itself is never stored, only its SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base
from merchant.identity.roles import Role


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="api_key_role", native_enum=False, create_constraint=True, length=16)
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
