"""Fraud rules (pure): every rule, the thresholds, Forwarded parsing, hard rules, later information."""

from __future__ import annotations

import dataclasses
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from merchant.config import ConfigurationError
from merchant.fraud.config import DEFAULT_VELOCITY, FraudConfig, FraudWeights, VelocityRule
from merchant.fraud.rules import (
    Decision,
    FraudInputs,
    History,
    Outcome,
    Signal,
    assess,
    card_country,
    card_velocity,
    client_ip,
    decide,
    inputs_from_json,
    inputs_to_json,
    normalized,
    with_event,
    with_payment_outcome,
    worst,
)
from merchant.merchant_config import load_merchant_config, parse_merchant_config

CONFIG = FraudConfig()
RETURNING = History({}, prior_orders_for_email=1)
RANK = {Decision.approve: 0, Decision.review: 1, Decision.block: 2}
EXAMPLE_TOML = Path(__file__).resolve().parents[2] / "merchant.example.toml"


def inputs(**changes: Any) -> FraudInputs:
    """A benign attempt: known buyer data, same countries, small amount, no token risk."""
    base = FraudInputs(
        checkout_session_id="cs_1",
        email="ada@example.com",
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0",
        device_fingerprint="dev_1",
        buyer_session_id="bs_1",
        forwarded=None,
        card_fingerprint="fp_card_1",
        card_country="US",
        billing_country="US",
        shipping_country="US",
        amount=5000,
        currency="USD",
        token_risk=None,
    )
    return dataclasses.replace(base, **changes)


def signal(outcome: Outcome, name: str) -> Signal:
    (found,) = [s for s in outcome.signals if s.name == name]
    return found


def weights(outcome: Outcome) -> dict[str, int]:
    return {s.name: s.weight for s in outcome.signals if s.weight}


class TestConfig:
    def test_defaults(self) -> None:
        assert (CONFIG.review_score, CONFIG.block_score) == (50, 80)
        assert (CONFIG.amount_review, CONFIG.amount_block, CONFIG.first_time_high_amount) == (
            50000,
            None,
            20000,
        )
        assert [(r.id, r.max_attempts, r.weight) for r in CONFIG.velocity] == [
            ("email:60m", 5, 30),
            ("device:60m", 5, 30),
            ("ip:60m", 10, 25),
            ("card:1440m", 5, 40),
        ]

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("[fraud]\nreview_score = 80\nblock_score = 80", "review_score must be lower than block_score"),
            ("[fraud]\nreview_score = 90", "review_score must be lower than block_score"),
            ("[fraud]\nblock_score = 101", "fraud.block_score"),
            ("[fraud]\nsurprise = 1", "fraud.surprise: Extra inputs are not permitted"),
            ("[fraud.weights]\ndispute = -1", "fraud.weights.dispute"),
            (
                '[[fraud.velocity]]\nkey = "phone"\nwindow_minutes = 5\nmax_attempts = 1\nweight = 1',
                "fraud.velocity[0].key",
            ),
            (
                '[[fraud.velocity]]\nkey = "ip"\nwindow_minutes = 5\nmax_attempts = 1\nweight = 1\n'
                '[[fraud.velocity]]\nkey = "ip"\nwindow_minutes = 5\nmax_attempts = 3\nweight = 9',
                "repeat a key and window: ip:5m",
            ),
        ],
    )
    def test_invalid_sections_say_where(self, text: str, needle: str) -> None:
        with pytest.raises(ConfigurationError) as failure:
            parse_merchant_config(tomllib.loads(text, parse_float=Decimal))
        assert needle in str(failure.value)

    def test_a_section_replaces_defaults_it_names(self) -> None:
        text = '[fraud]\namount_block = 100000\n[[fraud.velocity]]\nkey = "card"\nwindow_minutes = 10\n'
        text += "max_attempts = 2\nweight = 50\n"
        config = parse_merchant_config(tomllib.loads(text, parse_float=Decimal)).fraud
        assert config.amount_block == 100000
        assert config.velocity == (VelocityRule(key="card", window_minutes=10, max_attempts=2, weight=50),)
        assert config.review_score == 50

    def test_the_example_file_documents_every_key_with_its_default(self) -> None:
        assert load_merchant_config(EXAMPLE_TOML).fraud == FraudConfig()
        section = EXAMPLE_TOML.read_text().split("\n[fraud]\n", 1)[1]
        keys = {*FraudConfig.model_fields, *FraudWeights.model_fields, *VelocityRule.model_fields}
        lines = [f"{key} =" for key in keys - {"velocity", "weights"}] + [
            "[fraud.weights]",
            "[[fraud.velocity]]",
        ]
        assert [line for line in lines if line not in section] == []


class TestBenign:
    def test_every_rule_is_recorded_and_nothing_fires(self) -> None:
        outcome = assess(inputs(), RETURNING, CONFIG)
        assert (outcome.score, outcome.decision) == (0, Decision.approve)
        assert [s.name for s in outcome.signals] == [
            "velocity.email:60m",
            "velocity.device:60m",
            "velocity.ip:60m",
            "velocity.card:1440m",
            "card_country",
            "amount",
            "first_time_high_amount",
            "country_mismatch",
            "forwarded_ip",
            "token_risk",
        ]
        assert signal(outcome, "velocity.email:60m").value == {
            "attempts": 1,
            "window_minutes": 60,
            "max_attempts": 5,
        }

    def test_unknown_inputs_are_recorded_as_unknown(self) -> None:
        bare = inputs(
            email=None,
            ip_address=None,
            device_fingerprint=None,
            card_fingerprint=None,
            card_country=None,
            billing_country=None,
        )
        attempts = {rule.id: 50 for rule in DEFAULT_VELOCITY}
        outcome = assess(bare, History(attempts, 0), CONFIG)
        assert outcome.score == 0
        assert signal(outcome, "velocity.email:60m") == Signal(
            "velocity.email:60m", None, 0, "no email known"
        )
        assert signal(outcome, "card_country").detail == "card country not known yet"
        assert signal(outcome, "country_mismatch").detail == "billing or shipping country not known"


class TestVelocity:
    @pytest.mark.parametrize("rule", DEFAULT_VELOCITY, ids=lambda rule: rule.id)
    def test_fires_on_the_attempt_after_max_attempts(self, rule: VelocityRule) -> None:
        at_limit = assess(inputs(), History({rule.id: rule.max_attempts - 1}, 1), CONFIG)
        assert signal(at_limit, f"velocity.{rule.id}").weight == 0
        over = assess(inputs(), History({rule.id: rule.max_attempts}, 1), CONFIG)
        fired = signal(over, f"velocity.{rule.id}")
        assert (fired.weight, fired.value["attempts"]) == (rule.weight, rule.max_attempts + 1)
        assert over.score == rule.weight
        assert f"more than {rule.max_attempts}" in fired.detail

    def test_rules_add_up_and_decide(self) -> None:
        two = History({"email:60m": 9, "device:60m": 9}, 1)
        assert (assess(inputs(), two, CONFIG).score, assess(inputs(), two, CONFIG).decision) == (
            60,
            Decision.review,
        )
        everything = History({rule.id: 99 for rule in DEFAULT_VELOCITY}, 1)
        outcome = assess(inputs(), everything, CONFIG)
        assert (outcome.score, outcome.decision) == (100, Decision.block)  # 125 capped

    def test_two_windows_on_one_key(self) -> None:
        config = FraudConfig(
            velocity=(
                VelocityRule(key="card", window_minutes=10, max_attempts=2, weight=20),
                VelocityRule(key="card", window_minutes=1440, max_attempts=10, weight=40),
            )
        )
        outcome = assess(inputs(), History({"card:10m": 2, "card:1440m": 2}, 1), config)
        assert weights(outcome) == {"velocity.card:10m": 20}


class TestAmount:
    def test_below_the_review_amount(self) -> None:
        outcome = assess(inputs(amount=49999), RETURNING, CONFIG)
        assert signal(outcome, "amount").weight == 0
        assert outcome.decision is Decision.approve

    def test_from_the_review_amount_on_review_whatever_the_score(self) -> None:
        outcome = assess(inputs(amount=50000), RETURNING, CONFIG)
        assert (outcome.score, outcome.decision) == (25, Decision.review)
        assert signal(outcome, "amount").value == 50000

    def test_block_amount_off_by_default(self) -> None:
        assert assess(inputs(amount=10**9), RETURNING, CONFIG).decision is Decision.review

    def test_from_the_block_amount_on_block(self) -> None:
        config = FraudConfig(amount_block=100000)
        assert assess(inputs(amount=99999), RETURNING, config).decision is Decision.review
        outcome = assess(inputs(amount=100000), RETURNING, config)
        assert (outcome.score, outcome.decision) == (25, Decision.block)
        assert "block amount 100000" in signal(outcome, "amount").detail


class TestFirstTimeHighAmount:
    @pytest.mark.parametrize(
        ("prior", "amount", "weight"),
        [(0, 20000, 20), (0, 19999, 0), (1, 20000, 0), (3, 40000, 0)],
    )
    def test_first_order_with_a_high_amount(self, prior: int, amount: int, weight: int) -> None:
        outcome = assess(inputs(amount=amount), History({}, prior), CONFIG)
        assert signal(outcome, "first_time_high_amount").weight == weight

    def test_without_email_the_buyer_is_first_time(self) -> None:
        outcome = assess(inputs(email=None, amount=30000), History({}, 4), CONFIG)
        assert signal(outcome, "first_time_high_amount").weight == 20


class TestCountries:
    def test_billing_and_shipping_differ(self) -> None:
        outcome = assess(inputs(billing_country="FR", card_country="FR"), RETURNING, CONFIG)
        assert weights(outcome) == {"country_mismatch": 15}

    def test_compared_after_normalisation(self) -> None:
        outcome = assess(normalized(inputs(billing_country="us ", shipping_country="US")), RETURNING, CONFIG)
        assert signal(outcome, "country_mismatch").weight == 0

    def test_card_from_neither_country(self) -> None:
        assert card_country(inputs(card_country="NG"), CONFIG).weight == 10
        assert card_country(inputs(card_country="FR", billing_country="FR"), CONFIG).weight == 0
        assert (
            card_country(
                inputs(card_country="NG", billing_country=None, shipping_country=None), CONFIG
            ).weight
            == 0
        )

    def test_card_velocity_alone(self) -> None:
        (fired,) = card_velocity(inputs(), History({"card:1440m": 5}, 0), CONFIG)
        assert (fired.name, fired.weight) == ("velocity.card:1440m", 40)


class TestForwarded:
    @pytest.mark.parametrize(
        ("header", "client"),
        [
            ("for=192.0.2.60;proto=http;by=203.0.113.43", "192.0.2.60"),
            ('For="[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
            ('for="[2001:DB8:0:0::17]"', "2001:db8::17"),
            ("for=192.0.2.43, for=198.51.100.17", "192.0.2.43"),
            ('for="192.0.2.43:47011";proto=https, for=10.0.0.1', "192.0.2.43"),
            ("proto=https;FOR=192.0.2.1", "192.0.2.1"),
            ('for=192.0.2.5;host="shop.example,evil", for=10.0.0.1', "192.0.2.5"),
            ('for="[::ffff:192.0.2.9]"', "192.0.2.9"),
            ("for=unknown, for=198.51.100.17", None),
            ('for="_hidden", for=198.51.100.17', None),
            ("proto=https;by=10.0.0.1, for=198.51.100.17", None),
            ("203.0.113.195, 70.41.3.18, 150.172.238.178", "203.0.113.195"),
            ("2001:db8::1, 10.0.0.1", "2001:db8::1"),
            ("203.0.113.195:8080", "203.0.113.195"),
            ("[2001:db8::1]:443, 10.0.0.1", "2001:db8::1"),
            ("::ffff:192.0.2.9", "192.0.2.9"),
            ("unknown", None),
            ("not an address", None),
            ("", None),
            (None, None),
        ],
    )
    def test_client_ip(self, header: str | None, client: str | None) -> None:
        assert client_ip(header) == client

    def test_a_different_client_is_a_signal(self) -> None:
        outcome = assess(inputs(forwarded='for="[2001:db8::9]", for=10.0.0.1'), RETURNING, CONFIG)
        fired = signal(outcome, "forwarded_ip")
        assert (fired.weight, fired.value) == (5, {"forwarded": "2001:db8::9", "risk_signals": "203.0.113.7"})

    def test_the_same_client_in_another_notation_is_not(self) -> None:
        same = inputs(ip_address="2001:0db8:0000::0009", forwarded='for="[2001:db8::9]:80"')
        assert signal(assess(same, RETURNING, CONFIG), "forwarded_ip").weight == 0
        assert (
            signal(
                assess(inputs(forwarded="10.0.0.1", ip_address=None), RETURNING, CONFIG), "forwarded_ip"
            ).weight
            == 0
        )


class TestTokenRisk:
    def test_one_signal_per_insight(self) -> None:
        risk = {
            "stolen_card": {"score": 12, "recommended_action": "continue"},
            "bot": {"score": 77, "recommended_action": "review"},
            "card_testing": "garbage",
        }
        outcome = assess(inputs(token_risk=risk), RETURNING, CONFIG)
        names = [s.name for s in outcome.signals if s.name.startswith("token_risk")]
        assert names == ["token_risk.bot", "token_risk.card_testing", "token_risk.stolen_card"]
        assert weights(outcome) == {"token_risk.bot": 30}
        assert signal(outcome, "token_risk.bot").value == {"score": 77, "recommended_action": "review"}
        assert outcome.decision is Decision.approve

    def test_block_recommendation_blocks(self) -> None:
        risk = {"card_testing": {"score": 99, "recommended_action": "block"}}
        outcome = assess(inputs(token_risk=risk), RETURNING, CONFIG)
        assert (outcome.score, outcome.decision) == (30, Decision.block)


class TestDecide:
    @pytest.mark.parametrize(
        ("score", "decision"),
        [
            (0, Decision.approve),
            (49, Decision.approve),
            (50, Decision.review),
            (79, Decision.review),
            (80, Decision.block),
            (100, Decision.block),
        ],
    )
    def test_thresholds(self, score: int, decision: Decision) -> None:
        assert decide(score, CONFIG) is decision

    def test_worst(self) -> None:
        assert worst(Decision.review, Decision.approve) is Decision.review
        assert worst(Decision.approve, Decision.block, Decision.review) is Decision.block


def _approved(score: int = 0) -> Outcome:
    return Outcome((Signal("amount", 1, score, "x"),), score, decide(score, CONFIG))


class TestPaymentOutcome:
    def test_no_radar_outcome_is_recorded(self) -> None:
        outcome = with_payment_outcome(_approved(), None, CONFIG)
        assert outcome.signals[-1] == Signal("radar", None, 0, "no Radar outcome for this charge")
        assert outcome.decision is Decision.approve

    def test_elevated_risk_adds_its_weight(self) -> None:
        radar = {"type": "authorized", "risk_level": "elevated", "risk_score": 64, "rule": {"id": "rule_1"}}
        outcome = with_payment_outcome(_approved(25), radar, CONFIG)
        assert (outcome.score, outcome.decision) == (55, Decision.review)
        assert outcome.signals[-1].value["rule"] == "rule_1"
        assert outcome.signals[-1].value["risk_score"] == 64

    def test_never_block_after_the_charge(self) -> None:
        outcome = with_payment_outcome(_approved(25), {"type": "authorized", "risk_level": "highest"}, CONFIG)
        assert (outcome.score, outcome.decision) == (85, Decision.review)

    def test_radar_manual_review_holds(self) -> None:
        outcome = with_payment_outcome(_approved(), {"type": "manual_review", "risk_level": "normal"}, CONFIG)
        assert (outcome.score, outcome.decision) == (0, Decision.review)

    def test_never_lowers_a_review(self) -> None:
        held = Outcome((), 0, Decision.review)
        assert with_payment_outcome(
            held, {"type": "authorized", "risk_level": "normal"}, CONFIG
        ).decision is (Decision.review)

    def test_card_signals_are_added(self) -> None:
        card = (Signal("card_country", {"card": "NG"}, 10, "x"),)
        outcome = with_payment_outcome(_approved(), None, CONFIG, card=card)
        assert [s.name for s in outcome.signals] == ["amount", "card_country", "radar"]
        assert outcome.score == 10

    def test_a_blocked_attempt_is_never_charged(self) -> None:
        with pytest.raises(ValueError, match="never charged"):
            with_payment_outcome(Outcome((), 90, Decision.block), None, CONFIG)


class TestEvents:
    def test_early_fraud_warning_raises_score_and_decision(self) -> None:
        detail = {"id": "issfr_1", "fraud_type": "made_with_stolen_card", "actionable": True}
        outcome = with_event(_approved(), "early_fraud_warning", detail, CONFIG)
        assert (outcome.score, outcome.decision) == (60, Decision.review)
        assert outcome.signals[-1] == Signal(
            "early_fraud_warning", detail, 60, "early fraud warning: made_with_stolen_card"
        )

    def test_dispute_on_top_blocks(self) -> None:
        warned = with_event(_approved(), "early_fraud_warning", {}, CONFIG)
        disputed = with_event(warned, "dispute", {"reason": "fraudulent"}, CONFIG)
        assert (disputed.score, disputed.decision) == (100, Decision.block)
        assert disputed.signals[-1].detail == "dispute: fraudulent"

    def test_never_lowers(self) -> None:
        held = Outcome((), 0, Decision.review)
        assert with_event(held, "dispute", {}, FraudConfig(weights=FraudWeights(dispute=0))).decision is (
            Decision.review
        )


class TestInputs:
    def test_normalized(self) -> None:
        clean = normalized(
            inputs(
                email=" Ada@Example.COM ", ip_address="::FFFF:192.0.2.1", card_country="fr", currency="usd"
            )
        )
        assert (clean.email, clean.ip_address, clean.card_country, clean.currency) == (
            "ada@example.com",
            "192.0.2.1",
            "FR",
            "USD",
        )
        assert normalized(inputs(device_fingerprint="  ", ip_address="not-an-ip")).device_fingerprint is None
        assert normalized(inputs(ip_address=" not-an-ip ")).ip_address == "not-an-ip"

    def test_json_round_trip(self) -> None:
        original = inputs(token_risk={"bot": {"score": 1, "recommended_action": "continue"}})
        data = inputs_to_json(original)
        assert data["token_risk"] == {"bot": {"score": 1, "recommended_action": "continue"}}
        assert inputs_from_json(data) == original


# -- properties -----------------------------------------------------------------------------------

_text = st.none() | st.sampled_from(["a", "b", "US", "FR", "192.0.2.1", "2001:db8::1"])
_actions = st.sampled_from([None, "continue", "review", "block"])
_risk = st.none() | st.dictionaries(
    st.sampled_from(["bot", "card_testing", "stolen_card"]),
    st.fixed_dictionaries({"score": st.integers(0, 100), "recommended_action": _actions}),
)
_inputs = st.builds(
    FraudInputs,
    checkout_session_id=st.just("cs_1"),
    email=_text,
    ip_address=_text,
    user_agent=_text,
    device_fingerprint=_text,
    buyer_session_id=_text,
    forwarded=st.none() | st.sampled_from(["for=192.0.2.1", "10.0.0.1", "for=unknown"]),
    card_fingerprint=_text,
    card_country=_text,
    billing_country=_text,
    shipping_country=_text,
    amount=st.integers(0, 10**7),
    currency=st.just("USD"),
    token_risk=_risk,
)
_history = st.builds(
    History,
    attempts=st.fixed_dictionaries({rule.id: st.integers(0, 30) for rule in DEFAULT_VELOCITY}),
    prior_orders_for_email=st.integers(0, 3),
)


@st.composite
def _configs(draw: st.DrawFn) -> FraudConfig:
    review = draw(st.integers(1, 99))
    block = draw(st.integers(review + 1, 100))
    amount_block = draw(st.none() | st.integers(0, 10**7))
    return FraudConfig(review_score=review, block_score=block, amount_block=amount_block)


def _hard_rule(inputs: FraudInputs, config: FraudConfig) -> bool:
    actions = [i.get("recommended_action") for i in (inputs.token_risk or {}).values()]
    blocked = config.amount_block is not None and inputs.amount >= config.amount_block
    return blocked or inputs.amount >= config.amount_review or "block" in actions


class TestProperties:
    @given(_inputs, _history, _configs())
    def test_score_in_range_and_decision_follows_it(
        self, attempt: FraudInputs, history: History, config: FraudConfig
    ) -> None:
        outcome = assess(attempt, history, config)
        assert 0 <= outcome.score <= 100
        assert outcome.score == min(100, sum(s.weight for s in outcome.signals))
        assert RANK[outcome.decision] >= RANK[decide(outcome.score, config)]
        if not _hard_rule(attempt, config):
            assert outcome.decision is decide(outcome.score, config)

    @given(st.integers(0, 100), st.integers(0, 100), _configs())
    def test_decision_is_monotonic_in_the_score(self, low: int, high: int, config: FraudConfig) -> None:
        low, high = sorted((low, high))
        assert RANK[decide(low, config)] <= RANK[decide(high, config)]

    @given(_inputs, _history, _history, _configs())
    def test_more_attempts_never_lower_the_decision(
        self, attempt: FraudInputs, fewer: History, extra: History, config: FraudConfig
    ) -> None:
        more = History(
            {k: v + extra.attempts[k] for k, v in fewer.attempts.items()}, fewer.prior_orders_for_email
        )
        before, after = assess(attempt, fewer, config), assess(attempt, more, config)
        assert after.score >= before.score
        assert RANK[after.decision] >= RANK[before.decision]

    @given(
        _inputs,
        _history,
        st.none()
        | st.fixed_dictionaries(
            {
                "type": st.sampled_from(["authorized", "manual_review"]),
                "risk_level": st.sampled_from(["normal", "elevated", "highest"]),
            }
        ),
        st.lists(st.sampled_from(["early_fraud_warning", "dispute"]), max_size=3),
    )
    def test_later_information_never_lowers_and_payment_never_blocks(
        self, attempt: FraudInputs, history: History, radar: dict[str, str] | None, events: list[Any]
    ) -> None:
        outcome = assess(attempt, history, CONFIG)
        if outcome.decision is Decision.block:
            return
        charged = with_payment_outcome(outcome, radar, CONFIG)
        assert charged.decision is not Decision.block
        assert RANK[charged.decision] >= RANK[outcome.decision]
        assert 0 <= charged.score <= 100
        for kind in events:
            later = with_event(charged, kind, {}, CONFIG)
            assert RANK[later.decision] >= RANK[charged.decision]
            assert charged.score <= later.score <= 100
            charged = later
