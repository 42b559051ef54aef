"""Fraud rules: pure functions from what is known about a complete attempt to signals and a decision.

Every input considered yields a :class:`Signal`, with weight 0 when benign, so staff see what was
checked. The score is the sum of the weights, capped at 100; the decision comes from the
thresholds of :class:`~merchant.fraud.config.FraudConfig` (``block`` from ``block_score``,
``review`` from ``review_score``, else ``approve``), raised further by hard rules:

* a token risk insight recommending ``block`` -> block;
* an amount at or above ``amount_block`` -> block;
* an amount at or above ``amount_review`` -> review;
* a Radar outcome of type ``manual_review`` -> review.

Later information only adds signals and never lowers a decision. The payment outcome can raise
it to ``review`` but not to ``block``: the money is authorized by then and staff decide. Early
fraud warnings and disputes arrive after the order; there the decision (``block`` included) is a
label for staff and for the buyer's history (blocked orders are not "prior orders").
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Literal

from merchant.fraud.config import FraudConfig, VelocityRule

EventKind = Literal["early_fraud_warning", "dispute"]
MAX_SCORE = 100


class Decision(StrEnum):
    approve = "approve"
    review = "review"
    block = "block"


_RANK = {Decision.approve: 0, Decision.review: 1, Decision.block: 2}


def worst(*decisions: Decision) -> Decision:
    """The strictest of ``decisions`` (block > review > approve)."""
    return max(decisions, key=_RANK.__getitem__)


@dataclass(frozen=True, slots=True)
class FraudInputs:
    checkout_session_id: str
    email: str | None
    ip_address: str | None  # risk_signals.ip_address of the complete request
    user_agent: str | None
    device_fingerprint: str | None
    buyer_session_id: str | None  # risk_signals.session_id
    forwarded: str | None  # the raw Forwarded (RFC 7239) or X-Forwarded-For value
    card_fingerprint: str | None
    card_country: str | None
    billing_country: str | None
    shipping_country: str | None
    amount: int  # minor units
    currency: str
    token_risk: (
        Mapping[str, Any] | None
    )  # granted token risk_details.insights: {name: {score, recommended_action}}


@dataclass(frozen=True, slots=True)
class History:
    attempts: Mapping[str, int]  # VelocityRule.id ("email:60m") -> earlier attempts within its window
    prior_orders_for_email: int


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    value: Any  # JSON-serialisable
    weight: int
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    signals: tuple[Signal, ...]
    score: int  # 0..100
    decision: Decision


# -- inputs ---------------------------------------------------------------------------------------


def normalize_ip(value: str | None) -> str | None:
    """The canonical text of an IP address (IPv4-mapped IPv6 as IPv4); other text stripped as is."""
    if value is None or not value.strip():
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return value.strip()
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def normalized(inputs: FraudInputs) -> FraudInputs:
    """Comparable inputs: email lower-cased, IP canonical, countries and currency upper-cased."""

    def clean(value: str | None, *, upper: bool = False) -> str | None:
        text = (value or "").strip()
        return (text.upper() if upper else text) or None

    return FraudInputs(
        checkout_session_id=inputs.checkout_session_id,
        email=clean(inputs.email.lower() if inputs.email else None),
        ip_address=normalize_ip(inputs.ip_address),
        user_agent=clean(inputs.user_agent),
        device_fingerprint=clean(inputs.device_fingerprint),
        buyer_session_id=clean(inputs.buyer_session_id),
        forwarded=clean(inputs.forwarded),
        card_fingerprint=clean(inputs.card_fingerprint),
        card_country=clean(inputs.card_country, upper=True),
        billing_country=clean(inputs.billing_country, upper=True),
        shipping_country=clean(inputs.shipping_country, upper=True),
        amount=inputs.amount,
        currency=inputs.currency.strip().upper(),
        token_risk=inputs.token_risk,
    )


def plain(value: Any) -> Any:
    """``value`` with mappings as dicts and sequences as lists (what a JSON column stores)."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def inputs_to_json(inputs: FraudInputs) -> dict[str, Any]:
    return {field.name: plain(getattr(inputs, field.name)) for field in fields(inputs)}


def inputs_from_json(data: Mapping[str, Any]) -> FraudInputs:
    values: dict[str, Any] = {field.name: data.get(field.name) for field in fields(FraudInputs)}
    return FraudInputs(**values)


# -- Forwarded ------------------------------------------------------------------------------------

_FORWARDED = re.compile(r"(?:^|[;,\s])for\s*=", re.IGNORECASE)


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current, quoted, escaped = "", False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return parts


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _node_address(node: str) -> str | None:
    """The IP of an RFC 7239 node (``192.0.2.1``, ``192.0.2.1:80``, ``[2001:db8::1]:443``)."""
    node = node.strip()
    if node.startswith("["):
        node = node[1 : node.find("]")] if "]" in node else ""
    elif node.count(":") == 1:  # IPv4 with a port
        node = node.split(":", 1)[0]
    try:
        return normalize_ip(str(ipaddress.ip_address(node)))
    except ValueError:  # "unknown", an obfuscated "_identifier", garbage
        return None


def client_ip(forwarded: str | None) -> str | None:
    """The client address in a ``Forwarded`` (RFC 7239) or ``X-Forwarded-For`` value.

    The first hop is the client; proxies append themselves. None when absent, ``unknown``,
    obfuscated or not an IP address.
    """
    if not forwarded or not forwarded.strip():
        return None
    first = _split_outside_quotes(forwarded, ",")[0]
    if not _FORWARDED.search(forwarded):
        return _node_address(first)  # X-Forwarded-For
    for pair in _split_outside_quotes(first, ";"):
        name, _, value = pair.partition("=")
        if name.strip().lower() == "for":
            return _node_address(_unquote(value))
    return None


# -- rules ----------------------------------------------------------------------------------------

_VELOCITY_INPUT = {
    "email": "email",
    "device": "device_fingerprint",
    "ip": "ip_address",
    "card": "card_fingerprint",
}
_KEY_NAME = {"email": "email", "device": "device", "ip": "IP address", "card": "card"}


def _velocity(rule: VelocityRule, inputs: FraudInputs, history: History) -> Signal:
    name = f"velocity.{rule.id}"
    if getattr(inputs, _VELOCITY_INPUT[rule.key]) is None:
        return Signal(name, None, 0, f"no {_KEY_NAME[rule.key]} known")
    attempts = history.attempts.get(rule.id, 0) + 1  # this attempt counts
    fires = attempts > rule.max_attempts
    value = {"attempts": attempts, "window_minutes": rule.window_minutes, "max_attempts": rule.max_attempts}
    detail = (
        f"{attempts} attempts with this {_KEY_NAME[rule.key]} in {rule.window_minutes} min"
        f" ({'more than' if fires else 'at most'} {rule.max_attempts})"
    )
    return Signal(name, value, rule.weight if fires else 0, detail)


def _amount(inputs: FraudInputs, config: FraudConfig) -> tuple[Signal, Decision]:
    floor = Decision.approve
    notes = []
    if config.amount_block is not None and inputs.amount >= config.amount_block:
        floor = Decision.block
        notes.append(f"at or above the block amount {config.amount_block}")
    if inputs.amount >= config.amount_review:
        floor = worst(floor, Decision.review)
        notes.append(f"at or above the review amount {config.amount_review}")
    weight = config.weights.amount_review if inputs.amount >= config.amount_review else 0
    detail = f"amount {inputs.amount} {inputs.currency}: " + ("; ".join(notes) or "below the thresholds")
    return Signal("amount", inputs.amount, weight, detail), floor


def _first_time_high_amount(inputs: FraudInputs, history: History, config: FraudConfig) -> Signal:
    """A buyer without an earlier (unblocked) order spending at least ``first_time_high_amount``.

    Without an email there is no history to show: the buyer counts as first-time.
    """
    prior = history.prior_orders_for_email if inputs.email is not None else 0
    fires = prior == 0 and inputs.amount >= config.first_time_high_amount
    value = {"prior_orders": prior, "amount": inputs.amount, "threshold": config.first_time_high_amount}
    if prior:
        detail = f"returning buyer ({prior} earlier orders)"
    else:
        size = "at or above" if fires else "below"
        detail = f"first order for this buyer, amount {size} {config.first_time_high_amount}"
    return Signal(
        "first_time_high_amount", value, config.weights.first_time_high_amount if fires else 0, detail
    )


def _country_mismatch(inputs: FraudInputs, config: FraudConfig) -> Signal:
    billing, shipping = inputs.billing_country, inputs.shipping_country
    value = {"billing": billing, "shipping": shipping}
    if billing is None or shipping is None:
        return Signal("country_mismatch", value, 0, "billing or shipping country not known")
    if billing == shipping:
        return Signal("country_mismatch", value, 0, f"billing and shipping both in {billing}")
    detail = f"billing country {billing}, shipping country {shipping}"
    return Signal("country_mismatch", value, config.weights.country_mismatch, detail)


def _forwarded_ip(inputs: FraudInputs, config: FraudConfig) -> Signal:
    """The client of the Forwarded header against the IP the agent reported (risk_signals)."""
    forwarded = client_ip(inputs.forwarded)
    stated = normalize_ip(inputs.ip_address)
    value = {"forwarded": forwarded, "risk_signals": stated}
    if forwarded is None or stated is None:
        return Signal("forwarded_ip", value, 0, "forwarded client or risk_signals IP not known")
    if forwarded == stated:
        return Signal("forwarded_ip", value, 0, "the forwarded client is the reported IP")
    detail = f"forwarded client {forwarded} differs from the reported IP {stated}"
    return Signal("forwarded_ip", value, config.weights.ip_mismatch, detail)


def _token_risk(inputs: FraudInputs, config: FraudConfig) -> tuple[list[Signal], Decision]:
    """One signal per insight of the token's ``risk_details``; ``continue`` is benign."""
    if not inputs.token_risk:
        return [Signal("token_risk", None, 0, "the payment provider gave no token risk")], Decision.approve
    signals, floor = [], Decision.approve
    for name, insight in sorted(inputs.token_risk.items()):
        facts = insight if isinstance(insight, Mapping) else {}
        action = facts.get("recommended_action")
        value = {"score": facts.get("score"), "recommended_action": action}
        weight = 0 if action in (None, "continue") else config.weights.token_risk
        if action == "block":
            floor = Decision.block
        detail = f"{name}: score {facts.get('score')}, recommended action {action or 'none'}"
        signals.append(Signal(f"token_risk.{name}", value, weight, detail))
    return signals, floor


def card_velocity(inputs: FraudInputs, history: History, config: FraudConfig) -> tuple[Signal, ...]:
    """The velocity rules on the card fingerprint: at assessment, and again after the charge when
    the fingerprint becomes known only then."""
    return tuple(_velocity(rule, inputs, history) for rule in config.velocity if rule.key == "card")


def card_country(inputs: FraudInputs, config: FraudConfig) -> Signal:
    """The card's country against the billing and shipping countries (also after the charge)."""
    card = inputs.card_country
    known = {c for c in (inputs.billing_country, inputs.shipping_country) if c is not None}
    value = {"card": card, "billing": inputs.billing_country, "shipping": inputs.shipping_country}
    if card is None:
        return Signal("card_country", value, 0, "card country not known yet")
    if not known or card in known:
        return Signal("card_country", value, 0, f"card issued in {card}")
    detail = f"card issued in {card}, neither the billing nor the shipping country"
    return Signal("card_country", value, config.weights.card_country_mismatch, detail)


def decide(score: int, config: FraudConfig) -> Decision:
    """The decision of a score alone."""
    if score >= config.block_score:
        return Decision.block
    if score >= config.review_score:
        return Decision.review
    return Decision.approve


def _score(signals: Iterable[Signal]) -> int:
    return min(MAX_SCORE, sum(signal.weight for signal in signals))


def assess(inputs: FraudInputs, history: History, config: FraudConfig) -> Outcome:
    """Every rule on a complete attempt, before the charge."""
    amount, amount_floor = _amount(inputs, config)
    token, token_floor = _token_risk(inputs, config)
    signals = (
        *(_velocity(rule, inputs, history) for rule in config.velocity if rule.key != "card"),
        *card_velocity(inputs, history, config),
        card_country(inputs, config),
        amount,
        _first_time_high_amount(inputs, history, config),
        _country_mismatch(inputs, config),
        _forwarded_ip(inputs, config),
        *token,
    )
    score = _score(signals)
    return Outcome(signals, score, worst(decide(score, config), amount_floor, token_floor))


def _radar(radar: Mapping[str, Any] | None, config: FraudConfig) -> tuple[Signal, Decision]:
    if not radar:
        return Signal("radar", None, 0, "no Radar outcome for this charge"), Decision.approve
    level, kind = radar.get("risk_level"), radar.get("type")
    rule = radar.get("rule")
    value = {
        "type": kind,
        "risk_level": level,
        "risk_score": radar.get("risk_score"),
        "reason": radar.get("reason"),
        "rule": rule.get("id") if isinstance(rule, Mapping) else rule,
        "network_status": radar.get("network_status"),
        "seller_message": radar.get("seller_message"),
    }
    weights = config.weights
    weight = {"elevated": weights.radar_elevated, "highest": weights.radar_highest}.get(str(level), 0)
    floor = Decision.review if kind == "manual_review" else Decision.approve
    return Signal("radar", value, weight, f"Radar risk level {level}, outcome {kind}"), floor


def with_payment_outcome(
    previous: Outcome,
    radar: Mapping[str, Any] | None,
    config: FraudConfig,
    *,
    card: Sequence[Signal] = (),
) -> Outcome:
    """``previous`` with the charge's Radar outcome and ``card`` (:func:`card_velocity`,
    :func:`card_country` when the charge revealed the card); the decision rises to ``review`` at
    most, since the money is authorized."""
    if previous.decision is Decision.block:
        raise ValueError("a blocked attempt is never charged")
    radar_signal, floor = _radar(radar, config)
    signals = (*previous.signals, *card, radar_signal)
    score = _score(signals)
    raised = worst(previous.decision, decide(score, config), floor)
    return Outcome(signals, score, Decision.review if raised is Decision.block else raised)


def with_event(previous: Outcome, kind: EventKind, detail: Mapping[str, Any], config: FraudConfig) -> Outcome:
    """``previous`` with an early fraud warning or a dispute on the order (it may reach ``block``)."""
    weights = config.weights
    weight = weights.early_fraud_warning if kind == "early_fraud_warning" else weights.dispute
    about = detail.get("fraud_type") if kind == "early_fraud_warning" else detail.get("reason")
    text = f"{kind.replace('_', ' ')}: {about or 'no reason given'}"
    signals = (*previous.signals, Signal(kind, plain(detail), weight, text))
    score = _score(signals)
    return Outcome(signals, score, worst(previous.decision, decide(score, config)))
