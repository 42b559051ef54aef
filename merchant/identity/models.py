"""API key table: the secret itself is never stored, only its SHA-256."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from merchant.db.base import Base
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy


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
    # Request signing by the caller (ACP Signature + Timestamp headers): an HMAC-SHA256 shared
    # secret and/or an Ed25519 public key (base64url, 32 bytes), and how strictly to check.
    signing_secret: Mapped[str | None] = mapped_column(Text)
    # The agent platform an agent key belongs to (its checkout sessions and orders, its events).
    platform_id: Mapped[str | None] = mapped_column(ForeignKey("agent_platform.id"), index=True)
    signing_public_key: Mapped[str | None] = mapped_column(Text)
    signature_policy: Mapped[SignaturePolicy] = mapped_column(
        Enum(SignaturePolicy, name="signature_policy", native_enum=False, create_constraint=True, length=24),
        default=SignaturePolicy.off,
        server_default=SignaturePolicy.off.value,
    )

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class SeenSignature(Base):
    """A request signature already accepted, kept until its Timestamp leaves the skew window.

    The key is the SHA-256 of the signature bytes; a second request with the same signature is a
    replay (``merchant.identity.replays``). Expired rows are purged by a periodic job.
    """

    __tablename__ = "seen_signature"
    __table_args__ = (Index("ix_seen_signature_expires_at", "expires_at"),)

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    expires_at: Mapped[datetime]
