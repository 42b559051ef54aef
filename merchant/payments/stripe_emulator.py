"""A stateful Stripe emulator on 127.0.0.1: the fake Stripe of the tests and of keyless development.

The real ``stripe`` library talks to it over HTTP (``StripeClient(base_addresses={"api": emu.url})``), so
form encoding, error-to-exception mapping, SDK retries and Idempotency-Key reuse are all exercised
(shared/docs/payments-stripe.md §4.4, "What the fake must emulate", rows 1-11). Stdlib server, one lock
around all state; objects are plain Stripe-shaped dicts.

What is emulated, and what is assumed:

* Shared payment tokens (§1.2-1.4): test-helper create / revoke, retrieve; a PaymentIntent created and
  confirmed with ``payment_method_data[shared_payment_granted_token]``. The token surface answers only
  to a ``Stripe-Version`` ending in ``.preview`` (assumed gate, §4.4 row 7). **Every token error shape
  is assumed** (§1.4, §6.1): unknown → 400 ``resource_missing``; revoked / expired / already used →
  400 ``shared_payment_granted_token_deactivated``; over ``max_amount`` → 400 ``param=amount``; other
  currency → 400 ``param=currency``. A successful confirmation consumes the token; a decline does not.
* Scenarios are keyed by the Stripe test PaymentMethod the token was minted from (``SCENARIOS``); card
  declines answer 402 ``card_error`` with ``decline_code`` and the PaymentIntent nested in the error.
* Idempotency follows Stripe v1 (§5.1): POST + key → fingerprint of method, path and decoded params;
  the first answer of an executed handler (2xx, 402) is saved and replayed with
  ``Idempotent-Replayed: true``; other params → 400 ``idempotency_error``; validation errors (400/404)
  and injected pre-execution faults are not saved; a key still running → 409 ``idempotency_key_in_use``.
* Faults (``inject_fault``): ``500`` / ``500_no_retry`` / ``429`` / ``409`` answer before anything
  runs (with ``Retry-After`` when ``retry_after`` is given). ``timeout`` waits ``delay`` seconds, then
  runs and saves like a slow Stripe (the client has usually given up by then). ``drop`` runs (or
  replays) and closes the socket without an answer.
  ``500_after_execution`` runs the handler (the PI exists, the token is consumed) then answers 500 with
  ``Stripe-Should-Retry: false`` and saves nothing: a retry with the same key executes again and, with
  a single-use token, is refused as deactivated, so the client must look the payment up first.
  ``500_after_execution_saved`` is what Stripe documents for its own 500s: the 500 is saved and replayed.
* Events: every state change appends an ``event`` (``data.object`` is a snapshot); ``deliver_events``
  signs them with ``stripe.WebhookSignature`` and POSTs them to the app.
* ``latency``: every request waits that long before it is answered (load tests of a slow Stripe).
* Not emulated: search's eventual consistency, multicapture, authorization expiry, 3DS completion.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlsplit

import stripe

Json = dict[str, Any]
FaultKind = Literal[
    "500", "500_no_retry", "429", "409", "timeout", "drop", "500_after_execution", "500_after_execution_saved"
]
TOKEN_PARAM = "payment_method_data[shared_payment_granted_token]"
DEFAULT_API_VERSION = "2026-04-22.preview"  # events created outside a request (helpers, triggers)
AUTHORIZATION_WINDOW = 7 * 24 * 3600  # capture_before for customer-initiated card payments (§2.2)


@dataclass(frozen=True, slots=True)
class Scenario:
    """How a card minted from one Stripe test PaymentMethod behaves."""

    last4: str
    brand: str = "visa"
    decline: tuple[str, str, str] | None = None  # (code, decline_code, message)
    param: str | None = None  # the card field a decline names
    advice_code: str | None = None
    outcome: str = "authorized"  # Charge.outcome.type: authorized | manual_review | issuer_declined | blocked
    risk_level: str = "normal"
    risk_score: int = 12
    reason: str | None = None
    authentication: bool = False  # 3DS required
    dispute: bool = False  # disputed once captured
    early_fraud_warning: bool = False  # warned once authorized


_DECLINED = "Your card was declined."


def _declined(
    last4: str, decline_code: str, message: str = _DECLINED, code: str = "card_declined", **more: Any
) -> Scenario:
    return Scenario(last4, decline=(code, decline_code, message), **{"outcome": "issuer_declined", **more})


SCENARIOS: dict[str, Scenario] = {
    "pm_card_visa": Scenario("4242"),
    "pm_card_mastercard": Scenario("4444", brand="mastercard"),
    "pm_card_chargeDeclined": _declined("0002", "generic_decline"),
    "pm_card_chargeDeclinedInsufficientFunds": _declined(
        "9995", "insufficient_funds", "Your card has insufficient funds.", advice_code="try_again_later"
    ),
    "pm_card_chargeDeclinedFraudulent": _declined(
        "0019", "fraudulent", advice_code="do_not_try_again", risk_level="elevated", risk_score=70
    ),
    "pm_card_chargeDeclinedLostCard": _declined("9987", "lost_card"),
    "pm_card_chargeDeclinedStolenCard": _declined("9979", "stolen_card"),
    "pm_card_chargeDeclinedExpiredCard": _declined(
        "0069", "expired_card", "Your card has expired.", "expired_card", param="exp_month"
    ),
    "pm_card_chargeDeclinedIncorrectCvc": _declined(
        "0127", "incorrect_cvc", "Your card's security code is incorrect.", "incorrect_cvc", param="cvc"
    ),
    "pm_card_chargeDeclinedProcessingError": _declined(
        "0119",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
        "processing_error",
        advice_code="try_again_later",
    ),
    "pm_card_authenticationRequired": Scenario("3184", authentication=True),
    "pm_card_riskLevelElevated": Scenario(
        "9235", outcome="manual_review", risk_level="elevated", risk_score=65, reason="elevated_risk_level"
    ),
    # Radar blocks read as a fraudulent decline to the buyer; outcome.type tells them apart.
    "pm_card_riskLevelHighest": _declined(
        "4954",
        "fraudulent",
        outcome="blocked",
        risk_level="highest",
        risk_score=85,
        reason="highest_risk_level",
    ),
    "pm_card_radarBlock": _declined(
        "0019", "fraudulent", outcome="blocked", risk_level="highest", risk_score=95, reason="rule"
    ),
    "pm_card_createDispute": Scenario("0259", dispute=True),
    "pm_card_createIssuerFraudRecord": Scenario("5423", early_fraud_warning=True),
}
# Other spellings: Stripe's docs also name the decline cards pm_card_visa_chargeDeclined...; the
# early-fraud-warning card is pm_card_createIssuerFraudRecord (createEarlyFraudWarning is our alias).
SCENARIOS |= {
    f"pm_card_visa_{name.removeprefix('pm_card_')}": scenario
    for name, scenario in SCENARIOS.items()
    if name.startswith("pm_card_chargeDeclined")
}
SCENARIOS["pm_card_createEarlyFraudWarning"] = SCENARIOS["pm_card_createIssuerFraudRecord"]

_SELLER_MESSAGES = {
    "authorized": "Payment complete.",
    "manual_review": "Stripe evaluated this payment as having elevated risk, and placed it in your manual "
    "review queue.",
    "issuer_declined": "The bank did not return any further details with this decline.",
    "blocked": "Stripe blocked this payment as too risky.",
}
_NETWORK_STATUS = {
    "authorized": "approved_by_network",
    "manual_review": "approved_by_network",
    "issuer_declined": "declined_by_network",
    "blocked": "not_sent_to_network",
}


@dataclass(slots=True)
class JournalEntry:
    method: str
    path: str
    params: Json
    idempotency_key: str | None
    stripe_version: str | None
    authorization: str | None
    status: int | None = None  # None: no answer was sent (a dropped connection)
    replayed: bool = False
    fault: str | None = None
    received_at: float = field(default_factory=time.monotonic)  # when the request arrived


class ApiError(Exception):
    """A Stripe error answer: ``{"error": error}`` with ``status``."""

    def __init__(self, status: int, error: Json, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error.get("message"))
        self.status, self.error, self.headers = status, error, dict(headers or {})


def _invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> ApiError:
    error: Json = {"type": "invalid_request_error", "message": message}
    if param:
        error["param"] = param
    if code:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    return ApiError(status, error)


def _missing(kind: str, object_id: str, param: str = "id") -> ApiError:
    return _invalid(f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=404)


@dataclass(slots=True)
class _Fault:
    path_prefix: str
    kind: str
    times: int
    delay: float
    method: str | None
    retry_after: float | None = None


@dataclass(slots=True)
class _Saved:
    fingerprint: str
    status: int | None = None  # None while the first request runs
    body: bytes = b""
    request_id: str = ""


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    params: Json
    stripe_version: str | None
    idempotency_key: str | None
    request_id: str = field(default_factory=lambda: _new_id("req"))

    @property
    def expand(self) -> set[str]:
        value = self.params.get("expand") or []
        return {str(item) for item in (value if isinstance(value, list) else [value])}


@dataclass(slots=True)
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    saveable: bool = False  # the answer of a handler that ran: kept under the idempotency key
    drop: bool = False


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _now() -> int:
    return int(time.time())


# -- form decoding (row 1) -------------------------------------------------------------------------

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode_form(raw: str) -> Json:
    """``a[b][c]=v&l[0]=x&l[]=y`` → ``{"a": {"b": {"c": "v"}}, "l": ["x", "y"]}`` (values stay strings)."""
    root: Json = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY.match(key)
        if not match:
            raise _invalid(f"Invalid parameter name: {key}")
        *parents, last = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))]
        node = root
        for part in parents:
            child = node.setdefault(part or str(len(node)), {})
            if not isinstance(child, dict):
                raise _invalid(f"Invalid parameter: {key} is given both as a value and as a hash")
            node = child
        node[last or str(len(node))] = value
    return cast(Json, _listify(root))


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    items = {key: _listify(item) for key, item in value.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _int(params: Json, name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value is None:
        if default is None:
            raise _invalid(f"Missing required param: {name}.", param=name, code="parameter_missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid integer: {value}", param=name) from None


def _bool(params: Json, name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise _invalid(f"Invalid boolean: {value}", param=name)
    return bool(value == "true")


def _choice(params: Json, name: str, choices: tuple[str, ...], default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is not None and value not in choices:
        raise _invalid(f"Invalid {name}: must be one of {', '.join(choices)}", param=name)
    return cast(str | None, value)


def _insights(scenario: Scenario) -> Json:
    level = {"normal": (8, "continue"), "elevated": (65, "review"), "highest": (95, "block")}
    score, action = level.get(scenario.risk_level, (8, "continue"))
    names = ("bot", "card_issuer_decline", "card_testing", "fraudulent_dispute", "stolen_card")
    insights = {name: {"score": 3, "recommended_action": "continue"} for name in names}
    insights["stolen_card"] = {"score": score, "recommended_action": action}
    if scenario.decline:
        insights["card_issuer_decline"] = {"score": 80, "recommended_action": "review"}
    if scenario.dispute:
        insights["fraudulent_dispute"] = {"score": 60, "recommended_action": "review"}
    return insights


def _card(name: str, scenario: Scenario) -> Json:
    return {
        "brand": scenario.brand,
        "display_brand": scenario.brand,
        "last4": scenario.last4,
        "exp_month": 12,
        "exp_year": time.gmtime().tm_year + 3,
        "funding": "credit",
        "country": "US",
        "fingerprint": hashlib.sha256(name.encode()).hexdigest()[:16],
        "checks": {
            "cvc_check": "fail" if scenario.param == "cvc" else "pass",
            "address_line1_check": None,
            "address_postal_code_check": "pass",
        },
        "networks": {"available": [scenario.brand], "preferred": None},
        "wallet": None,
    }


def _outcome(scenario: Scenario, declined: bool) -> Json:
    kind = (
        scenario.outcome if declined or scenario.outcome in ("authorized", "manual_review") else "authorized"
    )
    decline_code = scenario.decline[1] if declined and scenario.decline else None
    return {
        "type": kind,
        "network_status": _NETWORK_STATUS[kind],
        "risk_level": scenario.risk_level,
        "risk_score": scenario.risk_score,
        "reason": scenario.reason or (decline_code if kind == "issuer_declined" else None),
        "rule": "rule_emulator_block" if scenario.reason == "rule" else None,
        "seller_message": _SELLER_MESSAGES[kind],
        "advice_code": scenario.advice_code if declined else None,
        "network_advice_code": None,
        "network_decline_code": None,
    }


Handler = Callable[[_Request, str], Json]


class StripeEmulator:
    def __init__(self, *, webhook_secret: str = "whsec_emulator", api_key: str | None = None) -> None:
        self.webhook_secret = webhook_secret
        self.api_key = api_key  # None: any "Bearer sk_..." is accepted
        self.journal: list[JournalEntry] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None
        self._faults: list[_Fault] = []
        self.latency = 0.0  # seconds every request waits before it is answered (a slow Stripe)
        self._saved: dict[tuple[str, str], _Saved] = {}
        self._tokens: dict[str, Json] = {}
        self._token_pm: dict[str, str] = {}
        self._intents: dict[str, Json] = {}
        self._intent_pm: dict[str, str] = {}  # the scenario a PI is charged with
        self._intent_token: dict[str, str] = {}
        self._objects: dict[str, Json] = {}  # charges, refunds, payment methods, disputes, ... by id
        self._events: list[Json] = []
        self._delivered: set[str] = set()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            (method, re.compile(f"^{pattern}$"), handler)
            for method, pattern, handler in (
                ("POST", "/v1/test_helpers/shared_payment/granted_tokens", self._post_token),
                ("POST", "/v1/test_helpers/shared_payment/granted_tokens/([^/]+)/revoke", self._post_revoke),
                ("GET", "/v1/shared_payment/granted_tokens/([^/]+)", self._get_token),
                ("POST", "/v1/payment_intents", self._create_intent),
                ("GET", "/v1/payment_intents/search", self._search_intents),
                ("GET", "/v1/payment_intents/([^/]+)", self._get_intent),
                ("POST", "/v1/payment_intents/([^/]+)/confirm", self._confirm_intent),
                ("POST", "/v1/payment_intents/([^/]+)/capture", self._capture_intent),
                ("POST", "/v1/payment_intents/([^/]+)/cancel", self._cancel_intent),
                ("POST", "/v1/refunds", self._create_refund),
                ("GET", "/v1/refunds/([^/]+)", self._get_object("refund")),
                ("GET", "/v1/charges/([^/]+)", self._get_object("charge")),
                ("GET", "/v1/payment_methods/([^/]+)", self._get_object("payment_method")),
            )
        ]

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._server is not None:
            raise RuntimeError("the Stripe emulator is already running")
        self._stopping.clear()
        server = _Server((host, port), _RequestHandler)
        server.emulator = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-emulator", daemon=True
        )
        self._thread.start()
        self._url = f"http://{host}:{server.server_address[1]}"
        return self._url

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        self._stopping.set()  # wakes requests held by a "timeout" fault
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Stripe emulator is not started")
        return self._url

    def __enter__(self) -> StripeEmulator:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- direct helpers (no HTTP) -----------------------------------------------------------------

    def create_granted_token(
        self,
        *,
        payment_method: str = "pm_card_visa",
        currency: str = "usd",
        max_amount: int = 100000,
        expires_at: int | None = None,
        risk_details: Json | None = None,
    ) -> str:
        """Mint an ``spt_...`` as the agent would. ``risk_details`` is the whole object or just insights."""
        if payment_method not in SCENARIOS:
            raise ValueError(f"unknown test payment method {payment_method!r} (see SCENARIOS)")
        with self._lock:
            token = self._mint(payment_method, currency.lower(), max_amount, expires_at, {})
            if risk_details is not None:
                insights = risk_details.get("insights", risk_details)
                token["risk_details"] = {"insights": {**token["risk_details"]["insights"], **insights}}
            return str(token["id"])

    def revoke_granted_token(self, token_id: str) -> None:
        with self._lock:
            self._deactivate(self._token(token_id), "revoked", None)

    def inject_fault(
        self,
        *,
        path_prefix: str,
        kind: FaultKind,
        times: int = 1,
        delay: float = 2.0,
        method: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``times`` requests under ``path_prefix`` fail as ``kind``; ``times=0`` clears them.

        ``retry_after``: the early faults' answers carry ``Retry-After`` with these seconds.
        """
        with self._lock:
            if times <= 0:
                self._faults = [f for f in self._faults if (f.path_prefix, f.kind) != (path_prefix, kind)]
            else:
                self._faults.append(_Fault(path_prefix, kind, times, delay, method, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def payment_intent(self, pi_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._intent(pi_id))

    def payment_intents(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(list(self._intents.values()))

    def granted_token(self, token_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._token(token_id))

    def object(self, object_id: str) -> Json:
        """A charge, refund, payment method, dispute, review or early fraud warning by id."""
        with self._lock:
            return copy.deepcopy(self._objects[object_id])

    def events(self) -> list[Json]:
        with self._lock:
            return copy.deepcopy(self._events)

    def trigger_dispute(self, pi_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._dispute(self._charge_of(self._intent(pi_id)), None))

    def trigger_early_fraud_warning(self, pi_id: str) -> Json:
        with self._lock:
            return copy.deepcopy(self._early_fraud_warning(self._charge_of(self._intent(pi_id)), None))

    def fail_refund(self, refund_id: str, reason: str = "declined") -> Json:
        """A refund that later fails (``refund.failed``): the money is back on the charge."""
        with self._lock:
            refund = self._objects[refund_id]
            charge = self._objects[refund["charge"]]
            refund.update(status="failed", failure_reason=reason)
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self._emit("refund.updated", refund, None)
            return copy.deepcopy(self._emit("refund.failed", refund, None))

    # -- webhooks (row 10) -------------------------------------------------------------------------

    def signed_event(
        self, event: Json, *, secret: str | None = None, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        payload = json.dumps(event).encode()
        header = stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret or self.webhook_secret, timestamp=timestamp
        )
        return payload, str(header)

    def deliver(
        self, event: Json, url: str, *, secret: str | None = None, timestamp: int | None = None
    ) -> int:
        """POST one signed event (again, out of order, stale, wrongly signed...) and return the status."""
        payload, header = self.signed_event(event, secret=secret, timestamp=timestamp)
        request = urllib.request.Request(
            url,
            data=payload,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header},
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxies
        try:
            with opener.open(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def deliver_events(self, url: str, *, secret: str | None = None) -> list[int]:
        """POST every event not yet answered with 2xx, in order; a failed one is sent again next time."""
        with self._lock:
            pending = [copy.deepcopy(e) for e in self._events if e["id"] not in self._delivered]
        statuses = []
        for event in pending:
            status = self.deliver(event, url, secret=secret)
            statuses.append(status)
            if 200 <= status < 300:
                with self._lock:
                    self._delivered.add(event["id"])
        return statuses

    # -- the HTTP pipeline: auth, faults, idempotency, handler --------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str | None], body: bytes) -> _Reply:
        split = urlsplit(target)
        entry = JournalEntry(
            method,
            split.path,
            {},
            headers.get("idempotency-key"),
            headers.get("stripe-version"),
            headers.get("authorization"),
        )
        with self._lock:
            self.journal.append(entry)
        if self.latency:  # outside the lock: slow requests overlap, as at Stripe
            self._stopping.wait(self.latency)
        reply = self._answer(entry, split.query if method == "GET" else body.decode("utf-8", "replace"))
        entry.status = None if reply.drop else reply.status
        return reply

    def _answer(self, entry: JournalEntry, raw: str) -> _Reply:
        try:
            entry.params = decode_form(raw)
            account = self._authenticate(entry.authorization)
        except ApiError as exc:
            return self._error_reply(exc)
        request = _Request(
            entry.method, entry.path, entry.params, entry.stripe_version, entry.idempotency_key
        )
        fault = self._take_fault(entry.method, entry.path)
        entry.fault = fault.kind if fault else None
        if fault and fault.kind in _EARLY_FAULTS:
            reply = self._error_reply(_EARLY_FAULTS[fault.kind](), request)
            if fault.retry_after is not None:
                reply.headers["Retry-After"] = f"{fault.retry_after:g}"
            return reply
        key = (
            (account, request.idempotency_key) if entry.method == "POST" and request.idempotency_key else None
        )
        fingerprint = hashlib.sha256(
            json.dumps([entry.method, entry.path, entry.params], sort_keys=True).encode()
        )
        saved = self._claim(key, fingerprint.hexdigest()) if key else None
        if fault and fault.kind == "timeout":
            self._stopping.wait(fault.delay)
        if saved is not None:  # answered from the key, nothing runs
            reply = self._replay(saved, fingerprint.hexdigest(), request)
            entry.replayed = reply.headers.get("Idempotent-Replayed") == "true"
        else:
            reply = self._execute(request)
            if fault and fault.kind.startswith("500_after_execution"):
                reply = self._error_reply(_server_error(retry=False), request)
                reply.saveable = fault.kind == "500_after_execution_saved"
            if key:
                self._settle(key, reply)
        reply.drop = bool(fault and fault.kind == "drop")
        return reply

    def _authenticate(self, authorization: str | None) -> str:
        scheme, _, key = (authorization or "").partition(" ")
        if scheme != "Bearer" or not key:
            raise _invalid(
                "You did not provide an API key. Provide it in the Authorization header (Bearer auth).",
                status=401,
            )
        if (self.api_key is None and not key.startswith("sk_")) or (self.api_key not in (None, key)):
            raise _invalid(f"Invalid API Key provided: {key[:8]}{'*' * 8}", status=401)
        return key

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path_prefix) and fault.method in (None, method):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _claim(self, key: tuple[str, str], fingerprint: str) -> _Saved | None:
        """The saved answer for the key, or None after claiming it for this request."""
        with self._lock:
            saved = self._saved.get(key)
            if saved is None:
                self._saved[key] = _Saved(fingerprint)
            return saved

    def _settle(self, key: tuple[str, str], reply: _Reply) -> None:
        """Keep the answer of a handler that ran (2xx, 402); validation errors free the key."""
        with self._lock:
            if reply.saveable:
                saved = self._saved[key]
                saved.status, saved.body = reply.status, reply.body
                saved.request_id = reply.headers.get("Request-Id", "")
            else:
                del self._saved[key]

    def _replay(self, saved: _Saved, fingerprint: str, request: _Request) -> _Reply:
        key = request.idempotency_key
        if saved.fingerprint != fingerprint:
            message = (
                "Keys for idempotent requests can only be used with the same parameters they were first "
                f"used with. Try using a key other than '{key}' if you meant to execute a different request."
            )
            return self._error_reply(
                ApiError(400, {"type": "idempotency_error", "message": message}), request
            )
        if saved.status is None:
            message = (
                f"There is currently another in-progress request using this idempotent key ('{key}'). "
                "Please try again later."
            )
            error = {"type": "idempotency_error", "code": "idempotency_key_in_use", "message": message}
            return self._error_reply(ApiError(409, error), request)
        reply = _Reply(saved.status, saved.body, self._headers(request))
        reply.headers |= {"Idempotent-Replayed": "true", "Original-Request": saved.request_id}
        if saved.status >= 500:
            reply.headers["Stripe-Should-Retry"] = "false"
        return reply

    def _execute(self, request: _Request) -> _Reply:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                try:
                    with self._lock:
                        body = handler(request, match.group(1) if pattern.groups else "")
                except ApiError as exc:
                    reply = self._error_reply(exc, request)
                    reply.saveable = exc.status == 402  # a decline happened; a 400 was validation
                    return reply
                except Exception as exc:  # an emulator bug: say so, never keep it under the key
                    error = _server_error(retry=False)
                    error.error["message"] = f"Stripe emulator error: {exc!r}"
                    return self._error_reply(error, request)
                return _Reply(200, json.dumps(body).encode(), self._headers(request), saveable=True)
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        return self._error_reply(_invalid(message, status=404), request)

    def _headers(self, request: _Request | None) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Request-Id": request.request_id if request else _new_id("req"),
        }
        if request and request.stripe_version:
            headers["Stripe-Version"] = request.stripe_version
        if request and request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        return headers

    def _error_reply(self, exc: ApiError, request: _Request | None = None) -> _Reply:
        body = json.dumps({"error": exc.error}).encode()
        return _Reply(exc.status, body, self._headers(request) | exc.headers)

    # -- state helpers (called with the lock held) ---------------------------------------------------

    def _emit(self, kind: str, obj: Json, request: _Request | None) -> Json:
        event: Json = {
            "id": _new_id("evt"),
            "object": "event",
            "type": kind,
            "api_version": (request.stripe_version if request else None) or DEFAULT_API_VERSION,
            "created": _now(),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {
                "id": request.request_id if request else None,
                "idempotency_key": request.idempotency_key if request else None,
            },
            "data": {"object": copy.deepcopy(obj)},
        }
        self._events.append(event)
        return event

    def _store(self, obj: Json) -> Json:
        self._objects[obj["id"]] = obj
        return obj

    def _base(self, prefix: str, kind: str) -> Json:
        return {"id": _new_id(prefix), "object": kind, "created": _now(), "livemode": False}

    def _token(self, token_id: str) -> Json:
        token = self._tokens.get(token_id)
        if token is None:
            raise _missing("shared_payment.granted_token", token_id)
        limits = token["usage_limits"]
        if token["deactivated_at"] is None and limits["expires_at"] and limits["expires_at"] <= _now():
            self._deactivate(token, "expired", None, at=limits["expires_at"])
        return token

    def _intent(self, pi_id: str) -> Json:
        intent = self._intents.get(pi_id)
        if intent is None:
            raise _missing("payment_intent", pi_id, param="intent")
        return intent

    def _charge_of(self, intent: Json) -> Json:
        if not intent["latest_charge"]:
            raise ValueError(f"PaymentIntent {intent['id']} has no charge")
        return self._objects[intent["latest_charge"]]

    def _mint(self, pm: str, currency: str, max_amount: int, expires_at: int | None, shared: Json) -> Json:
        scenario = SCENARIOS[pm]
        token = self._base("spt", "shared_payment.granted_token") | {
            "agent_details": {"network_business_profile": "profile_emulator_agent"},
            "deactivated_at": None,
            "deactivated_reason": None,
            "payment_method_details": {
                "type": "card",
                "card": _card(pm, scenario),
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            },
            "risk_details": {"insights": _insights(scenario)},
            "shared_metadata": shared,
            "usage_details": {"amount_captured": {"currency": currency, "value": 0}},
            "usage_limits": {
                "currency": currency,
                "max_amount": max_amount,
                "expires_at": expires_at if expires_at is not None else _now() + 3600,
            },
        }
        self._tokens[token["id"]] = token
        self._token_pm[token["id"]] = pm
        return token

    def _deactivate(self, token: Json, reason: str, request: _Request | None, at: int | None = None) -> None:
        if token["deactivated_at"] is None:
            token.update(deactivated_at=at or _now(), deactivated_reason=reason)
            self._emit("shared_payment.granted_token.deactivated", token, request)

    def _usable_token(self, token_id: str, amount: int, currency: str) -> Json:
        """The token if it may pay ``amount`` ``currency`` now. Error shapes ASSUMED (§1.4)."""
        token = self._tokens.get(token_id)
        if token is None:
            raise _invalid(
                f"No such shared_payment.granted_token: '{token_id}'",
                param=TOKEN_PARAM,
                code="resource_missing",
            )
        self._token(token_id)  # expires it if due
        if token["deactivated_at"] is not None:
            raise _invalid(
                f"The shared payment granted token {token_id} has been deactivated "
                f"({token['deactivated_reason']}) and can no longer be used to confirm a PaymentIntent.",
                param=TOKEN_PARAM,
                code="shared_payment_granted_token_deactivated",
            )
        limits = token["usage_limits"]
        if currency != limits["currency"]:
            raise _invalid(
                f"The currency {currency} does not match the currency {limits['currency']} of the usage "
                f"limits of shared payment granted token {token_id}.",
                param="currency",
                code="shared_payment_granted_token_currency_mismatch",
            )
        if amount > limits["max_amount"]:
            raise _invalid(
                f"The amount {amount} exceeds the max_amount {limits['max_amount']} of the usage limits of "
                f"shared payment granted token {token_id}.",
                param="amount",
                code="shared_payment_granted_token_usage_limit_exceeded",
            )
        return token

    def _render_intent(self, intent: Json, expand: set[str]) -> Json:
        rendered = copy.deepcopy(intent)
        if "latest_charge" in expand and intent["latest_charge"]:
            rendered["latest_charge"] = copy.deepcopy(self._objects[intent["latest_charge"]])
        return rendered

    # -- granted tokens (row 2) ----------------------------------------------------------------------

    def _require_preview(self, request: _Request) -> None:
        if not (request.stripe_version or "").endswith(".preview"):
            message = f"Unrecognized request URL ({request.method}: {request.path}) for this API version."
            raise _invalid(message, status=404)

    def _post_token(self, request: _Request, _: str) -> Json:
        self._require_preview(request)
        params = request.params
        pm = str(params.get("payment_method") or "")
        if pm not in SCENARIOS:
            raise _invalid(f"No such PaymentMethod: '{pm}'", param="payment_method", code="resource_missing")
        limits = params.get("usage_limits")
        if not isinstance(limits, dict) or "currency" not in limits:
            raise _invalid("Missing required param: usage_limits[currency].", param="usage_limits[currency]")
        expires = _int(limits, "expires_at") if "expires_at" in limits else None
        shared = params.get("shared_metadata") or {}
        token = self._mint(pm, str(limits["currency"]).lower(), _int(limits, "max_amount"), expires, shared)
        return copy.deepcopy(token)

    def _post_revoke(self, request: _Request, token_id: str) -> Json:
        self._require_preview(request)
        token = self._token(token_id)
        self._deactivate(token, "revoked", request)
        return copy.deepcopy(token)

    def _get_token(self, request: _Request, token_id: str) -> Json:
        self._require_preview(request)
        return copy.deepcopy(self._token(token_id))

    # -- payment intents (row 3) ---------------------------------------------------------------------

    def _create_intent(self, request: _Request, _: str) -> Json:
        params = request.params
        data = params.get("payment_method_data")
        token_id = data.get("shared_payment_granted_token") if isinstance(data, dict) else None
        if token_id is not None and not (request.stripe_version or "").endswith(".preview"):
            # Assumed gate (§4.4 row 7): the token parameter exists on preview versions only.
            raise _invalid(
                f"Received unknown parameter: {TOKEN_PARAM}", param=TOKEN_PARAM, code="parameter_unknown"
            )
        if isinstance(data, dict) and token_id is None:
            raise _invalid(
                "Missing required param: payment_method_data[type].", param="payment_method_data[type]"
            )
        amount = _int(params, "amount")
        if amount < 1:
            raise _invalid("This value must be greater than or equal to 1.", param="amount")
        currency = str(params.get("currency") or "").lower()
        if len(currency) != 3:
            raise _invalid("Missing required param: currency.", param="currency", code="parameter_missing")
        capture = _choice(params, "capture_method", ("automatic", "automatic_async", "manual"), "automatic")
        confirm = _bool(params, "confirm")
        error_on_requires_action = _bool(params, "error_on_requires_action")
        if error_on_requires_action and not confirm:
            raise _invalid(
                "error_on_requires_action can only be set when confirm=true.",
                param="error_on_requires_action",
            )
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise _invalid("Invalid object", param="metadata")
        pm = params.get("payment_method")
        if pm is not None and pm not in SCENARIOS:  # e.g. payment_method=spt_... (§1.2 "do not send")
            raise _invalid(f"No such PaymentMethod: '{pm}'", param="payment_method", code="resource_missing")
        if token_id is not None:
            self._usable_token(str(token_id), amount, currency)  # refused before any PI exists
        intent = self._base("pi", "payment_intent") | {
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture,
            "confirmation_method": "automatic",
            "currency": currency,
            "customer": None,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "metadata": metadata,
            "next_action": None,
            "payment_method": None,
            "payment_method_types": ["card"],
            "receipt_email": params.get("receipt_email"),
            "shipping": params.get("shipping"),
            "statement_descriptor_suffix": params.get("statement_descriptor_suffix"),
            "status": "requires_payment_method"
            if token_id is None and pm is None
            else "requires_confirmation",
        }
        intent["client_secret"] = f"{intent['id']}_secret_{secrets.token_hex(8)}"
        self._intents[intent["id"]] = intent
        if token_id is not None:
            self._intent_token[intent["id"]] = str(token_id)
            self._intent_pm[intent["id"]] = self._token_pm[str(token_id)]
        elif pm is not None:
            self._intent_pm[intent["id"]] = str(pm)
        self._emit("payment_intent.created", intent, request)
        if confirm:
            self._confirm(intent, request, error_on_requires_action)
        return self._render_intent(intent, request.expand)

    def _confirm_intent(self, request: _Request, pi_id: str) -> Json:
        intent = self._intent(pi_id)
        if intent["status"] != "requires_confirmation":
            raise self._unexpected_state(intent, "confirm", ("requires_confirmation",))
        self._confirm(intent, request, _bool(request.params, "error_on_requires_action"))
        return self._render_intent(intent, request.expand)

    def _confirm(self, intent: Json, request: _Request, error_on_requires_action: bool) -> None:
        """Authorize per the scenario; a decline raises the 402 after the state change is recorded."""
        name = self._intent_pm[intent["id"]]
        scenario, token_id = SCENARIOS[name], self._intent_token.get(intent["id"])
        token = self._usable_token(token_id, intent["amount"], intent["currency"]) if token_id else None
        pm = self._store(
            self._base("pm", "payment_method")
            | {
                "type": "card",
                "card": _card(name, scenario),
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "customer": None,
                "metadata": {},
                "shared_payment_granted_token": token_id,  # the clone points back at the token
            }
        )
        intent["payment_method"] = pm["id"]
        if scenario.authentication:
            if error_on_requires_action:
                message = "Your card was declined. This transaction requires authentication."
                self._decline(
                    intent, request, ("authentication_required", "authentication_required", message)
                )
            intent.update(
                status="requires_action",
                next_action={"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}},
            )
            self._emit("payment_intent.requires_action", intent, request)
            return
        charge = self._store(self._new_charge(intent, name, scenario, pm["id"]))
        intent["latest_charge"] = charge["id"]
        if scenario.decline:
            self._decline(intent, request, scenario.decline, charge)
        if token is not None:
            self._emit("shared_payment.granted_token.used", token, request)
            self._deactivate(token, "consumed", request)
        self._emit("charge.succeeded", charge, request)
        if scenario.outcome == "manual_review":
            review = self._store(
                self._base("prv", "review")
                | {"charge": charge["id"], "payment_intent": intent["id"], "open": True, "reason": "rule"}
                | {"opened_reason": "rule", "closed_reason": None}
            )
            charge["review"] = review["id"]
            self._emit("review.opened", review, request)
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            self._emit("payment_intent.amount_capturable_updated", intent, request)
        else:
            self._captured(intent, charge, intent["amount"], request)
        if scenario.early_fraud_warning:
            self._early_fraud_warning(charge, request)

    def _new_charge(self, intent: Json, name: str, scenario: Scenario, pm_id: str) -> Json:
        declined = scenario.decline is not None
        card = _card(name, scenario) | {"network": scenario.brand, "three_d_secure": None}
        if intent["capture_method"] == "manual" and not declined:
            card["capture_before"] = _now() + AUTHORIZATION_WINDOW
        return self._base("ch", "charge") | {
            "amount": intent["amount"],
            "amount_captured": 0,
            "amount_refunded": 0,
            "captured": False,
            "currency": intent["currency"],
            "description": intent["description"],
            "disputed": False,
            "failure_code": scenario.decline[0] if scenario.decline else None,
            "failure_message": scenario.decline[2] if scenario.decline else None,
            "fraud_details": {},
            "metadata": dict(intent["metadata"]),
            "outcome": _outcome(scenario, declined),
            "paid": not declined,
            "payment_intent": intent["id"],
            "payment_method": pm_id,
            "payment_method_details": {"type": "card", "card": card},
            "receipt_email": intent["receipt_email"],
            "refunded": False,
            "review": None,
            "shipping": intent["shipping"],
            "status": "failed" if declined else "succeeded",
        }

    def _decline(
        self, intent: Json, request: _Request, decline: tuple[str, str, str], charge: Json | None = None
    ) -> None:
        code, decline_code, message = decline
        scenario = SCENARIOS[self._intent_pm[intent["id"]]]
        error: Json = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "advice_code": scenario.advice_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "payment_method": copy.deepcopy(self._objects[intent["payment_method"]]),
        }
        if scenario.param and scenario.decline == decline:
            error["param"] = scenario.param
        if charge is not None:
            error["charge"] = charge["id"]
            self._emit("charge.failed", charge, request)
        intent.update(status="requires_payment_method", payment_method=None, last_payment_error=dict(error))
        self._emit("payment_intent.payment_failed", intent, request)
        error["payment_intent"] = self._render_intent(intent, request.expand)
        raise ApiError(402, error)

    def _captured(self, intent: Json, charge: Json, amount: int, request: _Request | None) -> None:
        charge.update(captured=True, amount_captured=amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        token_id = self._intent_token.get(intent["id"])
        if token_id:
            self._tokens[token_id]["usage_details"]["amount_captured"]["value"] += amount
        if intent["capture_method"] == "manual":
            self._emit("charge.captured", charge, request)
        self._emit("payment_intent.succeeded", intent, request)
        if SCENARIOS[self._intent_pm[intent["id"]]].dispute:
            self._dispute(charge, request)

    def _unexpected_state(self, intent: Json, action: str, allowed: tuple[str, ...]) -> ApiError:
        exc = _invalid(
            f"This PaymentIntent's {action} could not be performed because it has a status of "
            f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
            f"{action}d: {', '.join(allowed)}.",
            code="payment_intent_unexpected_state",
        )
        exc.error["payment_intent"] = copy.deepcopy(intent)
        return exc

    def _get_intent(self, request: _Request, pi_id: str) -> Json:
        return self._render_intent(self._intent(pi_id), request.expand)

    def _capture_intent(self, request: _Request, pi_id: str) -> Json:
        intent = self._intent(pi_id)
        if intent["status"] != "requires_capture":
            raise self._unexpected_state(intent, "capture", ("requires_capture",))
        amount = _int(request.params, "amount_to_capture", intent["amount_capturable"])
        if not 1 <= amount <= intent["amount_capturable"]:
            raise _invalid(
                f"The amount_to_capture ({amount}) must be between 1 and the amount capturable "
                f"({intent['amount_capturable']}).",
                param="amount_to_capture",
                code="amount_too_large",
            )
        self._captured(intent, self._charge_of(intent), amount, request)  # the remainder is released
        return self._render_intent(intent, request.expand)

    def _cancel_intent(self, request: _Request, pi_id: str) -> Json:
        intent = self._intent(pi_id)
        allowed = ("requires_payment_method", "requires_capture", "requires_confirmation", "requires_action")
        if intent["status"] not in allowed:
            raise self._unexpected_state(intent, "cancel", allowed)
        reasons = ("duplicate", "fraudulent", "requested_by_customer", "abandoned")
        intent.update(
            status="canceled",
            canceled_at=_now(),
            cancellation_reason=_choice(request.params, "cancellation_reason", reasons),
            amount_capturable=0,
            next_action=None,
        )
        self._emit("payment_intent.canceled", intent, request)
        return self._render_intent(intent, request.expand)

    def _search_intents(self, request: _Request, _: str) -> Json:
        """Enough of the search language for ``metadata['k']:'v'`` / ``status:'x'`` joined by AND."""
        query = str(request.params.get("query") or "")
        clauses = []
        for clause in re.split(r"\s+AND\s+", query.strip()):
            match = re.fullmatch(
                r"(?:metadata\[['\"]([^'\"]+)['\"]\]|(status|currency)):['\"]([^'\"]*)['\"]", clause
            )
            if not match:
                raise _invalid(f"Unsupported search query: {query!r}", param="query")
            clauses.append(match.groups())

        def matches(intent: Json) -> bool:
            return all(
                (intent["metadata"].get(key) if key else intent[field_name]) == value
                for key, field_name, value in clauses
            )

        found = [i for i in reversed(self._intents.values()) if matches(i)]
        limit = _int(request.params, "limit", 10)
        expand = {item.removeprefix("data.") for item in request.expand}
        return {
            "object": "search_result",
            "url": "/v1/payment_intents/search",
            "has_more": len(found) > limit,
            "next_page": None,
            "data": [self._render_intent(intent, expand) for intent in found[:limit]],
        }

    # -- refunds, charges, disputes, fraud warnings (rows 4-5) ----------------------------------------

    def _get_object(self, kind: str) -> Handler:
        def get(request: _Request, object_id: str) -> Json:
            obj = self._objects.get(object_id)
            if obj is None or obj["object"] != kind:
                raise _missing(kind, object_id)
            return copy.deepcopy(obj)

        return get

    def _create_refund(self, request: _Request, _: str) -> Json:
        params = request.params
        if params.get("payment_intent"):
            intent = self._intent(str(params["payment_intent"]))
            if intent["status"] != "succeeded":
                raise self._unexpected_state(intent, "refund", ("succeeded",))
            charge = self._charge_of(intent)
        elif params.get("charge"):
            charge = self._objects.get(str(params["charge"])) or {}
            if charge.get("object") != "charge":
                raise _missing("charge", str(params["charge"]), param="charge")
        else:
            raise _invalid(
                "One of the following params should be provided for this request: payment_intent or charge."
            )
        remaining = charge["amount_captured"] - charge["amount_refunded"]
        if not charge["captured"] or remaining <= 0:
            raise _invalid(
                f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
            )
        amount = _int(params, "amount", remaining)
        if not 1 <= amount <= remaining:
            raise _invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                param="amount",
                code="amount_too_large",
            )
        reason = _choice(params, "reason", ("duplicate", "fraudulent", "requested_by_customer"))
        refund = self._store(
            self._base("re", "refund")
            | {
                "amount": amount,
                "charge": charge["id"],
                "currency": charge["currency"],
                "failure_reason": None,
                "metadata": params.get("metadata") or {},
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "succeeded",
            }
        )
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount_captured"]
        self._emit("refund.created", refund, request)
        self._emit("charge.refunded", charge, request)
        return copy.deepcopy(refund)

    def _dispute(self, charge: Json, request: _Request | None) -> Json:
        dispute = self._store(
            self._base("dp", "dispute")
            | {
                "amount": charge["amount_captured"] or charge["amount"],
                "charge": charge["id"],
                "currency": charge["currency"],
                "payment_intent": charge["payment_intent"],
                "reason": "fraudulent",
                "status": "needs_response",
                "is_charge_refundable": False,
                "evidence_details": {
                    "due_by": _now() + 7 * 24 * 3600,
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "metadata": {},
            }
        )
        charge["disputed"] = True
        return self._emit("charge.dispute.created", dispute, request)

    def _early_fraud_warning(self, charge: Json, request: _Request | None) -> Json:
        warning = self._store(
            self._base("issfr", "radar.early_fraud_warning")
            | {
                "actionable": True,
                "charge": charge["id"],
                "fraud_type": "made_with_stolen_card",
                "payment_intent": charge["payment_intent"],
            }
        )
        return self._emit("radar.early_fraud_warning.created", warning, request)


def _server_error(*, retry: bool) -> ApiError:
    message = "Sorry, something went wrong. We've already been notified of the problem."
    return ApiError(
        500, {"type": "api_error", "message": message}, {"Stripe-Should-Retry": str(retry).lower()}
    )


_EARLY_FAULTS: dict[str, Callable[[], ApiError]] = {
    "500": lambda: _server_error(retry=True),
    "500_no_retry": lambda: _server_error(retry=False),
    "429": lambda: _invalid(
        "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
        code="rate_limit",
        status=429,
    ),
    "409": lambda: _invalid(
        "This object cannot be accessed right now because another API request or Stripe process is "
        "currently accessing it. If you see this error intermittently, retry the request.",
        code="lock_timeout",
        status=409,
    ),
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many completes at once must not meet SYN drops (listen backlog)
    emulator: StripeEmulator


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a dropped connection never poisons a client's pool.
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        names = ("authorization", "idempotency-key", "stripe-version")
        headers = {name: self.headers.get(name) for name in names}
        reply = self.server.emulator.handle(self.command, self.path, headers, body)
        if reply.drop:  # the handler ran; the client never hears about it
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (a timeout)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the journal is the log."""
