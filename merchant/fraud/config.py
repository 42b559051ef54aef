"""The ``[fraud]`` section of ``merchant.toml``: decision thresholds, amounts, velocity rules, weights.

A rule that fires adds its weight to the assessment's score (capped at 100); the score decides
``approve`` (below ``review_score``), ``review`` (from ``review_score``) or ``block`` (from
``block_score``). Amounts are integer minor units of the shop currency.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

Score = Annotated[int, Field(ge=1, le=100)]
Weight = Annotated[int, Field(ge=0, le=100)]
Amount = Annotated[int, Field(ge=0)]
VelocityKey = Literal["email", "device", "ip", "card"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VelocityRule(_Strict):
    """More than ``max_attempts`` complete attempts with the same key within ``window_minutes``.

    The attempt being assessed counts: with ``max_attempts = 5`` the sixth attempt in the window
    fires the rule (five earlier ones found).
    """

    key: VelocityKey  # email | device (fingerprint) | ip (risk_signals.ip_address) | card (fingerprint)
    window_minutes: Annotated[int, Field(ge=1, le=30 * 24 * 60)]
    max_attempts: Annotated[int, Field(ge=1)]
    weight: Weight

    @property
    def id(self) -> str:
        """``email:60m``: names the rule's count in ``History.attempts`` and its signal."""
        return f"{self.key}:{self.window_minutes}m"


DEFAULT_VELOCITY = (
    VelocityRule(key="email", window_minutes=60, max_attempts=5, weight=30),
    VelocityRule(key="device", window_minutes=60, max_attempts=5, weight=30),
    VelocityRule(key="ip", window_minutes=60, max_attempts=10, weight=25),
    VelocityRule(key="card", window_minutes=24 * 60, max_attempts=5, weight=40),
)


class FraudWeights(_Strict):
    """What each rule other than velocity adds to the score when it fires."""

    amount_review: Weight = 25  # the amount is at or above ``amount_review`` (also forces review)
    first_time_high_amount: Weight = 20  # no earlier order for the email, amount >= first_time_high_amount
    country_mismatch: Weight = 15  # billing and shipping countries differ
    card_country_mismatch: Weight = 10  # the card's country is neither the billing nor the shipping one
    ip_mismatch: Weight = 5  # the Forwarded client IP differs from risk_signals.ip_address
    token_risk: Weight = 30  # per token risk insight recommending anything but "continue"
    radar_elevated: Weight = 30  # Radar risk_level "elevated"
    radar_highest: Weight = 60  # Radar risk_level "highest"
    early_fraud_warning: Weight = 60
    dispute: Weight = 40


class FraudConfig(_Strict):
    review_score: Score = 50
    block_score: Score = 80
    amount_review: Amount = 50_000  # at or above: review (and weights.amount_review)
    amount_block: Amount | None = None  # at or above: block; None = no amount blocks
    first_time_high_amount: Amount = 20_000
    velocity: tuple[VelocityRule, ...] = DEFAULT_VELOCITY
    weights: FraudWeights = FraudWeights()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.review_score >= self.block_score:
            raise ValueError("review_score must be lower than block_score")
        ids = [rule.id for rule in self.velocity]
        duplicates = sorted({rule_id for rule_id in ids if ids.count(rule_id) > 1})
        if duplicates:
            raise ValueError(f"velocity rules repeat a key and window: {', '.join(duplicates)}")
        return self
