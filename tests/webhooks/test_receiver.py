"""The test agent platform's webhook receiver: signatures, answers, scripted failures, what arrived."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from merchant.webhooks.receiver import PATH, WebhookReceiver
from merchant.webhooks.signing import sign, verify

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
BODY = b'{"type":"order_create","data":{"type":"order","id":"ord_1","status":"created"}}'


def event(order_id: str = "ord_1", *, type_: str = "order_create", status: str = "created") -> dict[str, Any]:
    return {
        "type": type_,
        "data": {
            "type": "order",
            "id": order_id,
            "checkout_session_id": "cs_1",
            "permalink_url": f"https://shop.example/orders/{order_id}",
            "status": status,
        },
    }


def deliver(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any] | bytes,
    *,
    event_id: str | None = "evt_1",
    request_id: str | None = "req_1",
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
    content_type: str = "application/json",
    timeout: float = 5.0,
) -> httpx.Response:
    """POST as the merchant does: the exact bytes signed, unless ``signature`` overrides the header."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Content-Type": content_type,
        "Merchant-Signature": signature or sign(secret, body, timestamp or int(time.time())),
    }
    if event_id is not None:
        headers["Webhook-Id"] = event_id
    if request_id is not None:
        headers["Request-Id"] = request_id
    return client.post(url, content=body, headers=headers, timeout=timeout)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as started:
        yield started


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """One for the module: building a client (its TLS context) costs ~50 ms."""
    with httpx.Client(trust_env=False) as opened:
        yield opened


class TestSign:
    def test_the_header_is_the_spec_format(self) -> None:
        assert re.fullmatch(r"t=1709123456,v1=[a-f0-9]{64}", sign(SECRET, BODY, 1709123456))

    def test_v1_is_hmac_sha256_of_timestamp_dot_raw_body(self) -> None:
        expected = hmac.new(SECRET.encode(), b"1709123456." + BODY, hashlib.sha256).hexdigest()
        assert sign(SECRET, BODY, 1709123456) == f"t=1709123456,v1={expected}"


class TestVerify:
    NOW = 1_800_000_000

    def test_round_trip(self) -> None:
        assert verify(SECRET, BODY, sign(SECRET, BODY, self.NOW), now=self.NOW)

    def test_uppercase_hex_and_spaces_after_commas_are_accepted(self) -> None:
        t, v1 = sign(SECRET, BODY, self.NOW).split(",")
        assert verify(SECRET, BODY, f"{t}, {v1.upper().replace('V1=', 'v1=')}", now=self.NOW)

    def test_tampered_body(self) -> None:
        header = sign(SECRET, BODY, self.NOW)
        assert not verify(SECRET, BODY.replace(b"created", b"canceled"), header, now=self.NOW)

    def test_tampered_timestamp(self) -> None:
        signed = sign(SECRET, BODY, self.NOW)
        assert not verify(SECRET, BODY, signed.replace(f"t={self.NOW}", f"t={self.NOW + 1}"), now=self.NOW)

    def test_wrong_secret(self) -> None:
        assert not verify(SECRET, BODY, sign("whsec_other", BODY, self.NOW), now=self.NOW)

    @pytest.mark.parametrize(("age", "valid"), [(300, True), (301, False), (-300, True), (-301, False)])
    def test_timestamps_outside_the_tolerance_are_refused(self, age: int, valid: bool) -> None:
        assert verify(SECRET, BODY, sign(SECRET, BODY, self.NOW - age), now=self.NOW) is valid

    def test_the_tolerance_is_configurable(self) -> None:
        header = sign(SECRET, BODY, self.NOW - 30)
        assert verify(SECRET, BODY, header, now=self.NOW, tolerance=30)
        assert not verify(SECRET, BODY, header, now=self.NOW, tolerance=29)

    def test_rotation_any_of_several_v1_entries_may_match(self) -> None:
        old = sign(OLD_SECRET, BODY, self.NOW).split(",")[1]
        new = sign(SECRET, BODY, self.NOW).split(",")[1]
        header = f"t={self.NOW},{old},{new}"
        assert verify(SECRET, BODY, header, now=self.NOW)
        assert verify(OLD_SECRET, BODY, header, now=self.NOW)
        assert not verify("whsec_third", BODY, header, now=self.NOW)

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            "v1=" + "0" * 64,  # no timestamp
            f"t={NOW}",  # no signature
            f"t={NOW},v1=",
            f"t=abc,v1={'0' * 64}",
            f"t=-{NOW},v1={'0' * 64}",
            f"t={'9' * 5000},v1={'0' * 64}",  # longer than int() may parse
            f"t={NOW},t={NOW},v1={'0' * 64}",
            f"t={NOW};v1={'0' * 64}",
            f"t={NOW},v1=é{'0' * 63}",
        ],
    )
    def test_malformed_headers_are_refused(self, header: str | None) -> None:
        assert not verify(SECRET, BODY, header, now=self.NOW)

    def test_unknown_schemes_beside_a_valid_v1_are_ignored(self) -> None:
        assert verify(SECRET, BODY, sign(SECRET, BODY, self.NOW) + ",v0=abc", now=self.NOW)


class TestReceiving:
    def test_the_url_is_the_acp_webhook_path(self, receiver: WebhookReceiver) -> None:
        assert re.fullmatch(rf"http://127\.0\.0\.1:\d+{re.escape(PATH)}", receiver.url)
        assert PATH == "/agentic_checkout/webhooks/order_events"

    def test_a_signed_event_is_accepted(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url, event("ord_7", status="confirmed"), event_id="evt_a")

        assert (response.status_code, response.json()) == (200, {"received": True, "request_id": "req_1"})
        assert response.headers["Request-Id"] == "req_1"
        [received] = receiver.accepted
        assert (
            received.event_id,
            received.type,
            received.order_id,
            received.status,
            received.request_id,
        ) == (
            "evt_a",
            "order_create",
            "ord_7",
            "confirmed",
            "req_1",
        )
        assert received.body == event("ord_7", status="confirmed")
        assert abs(received.received_at - time.time()) < 5
        [attempt] = receiver.attempts
        assert (attempt.event_id, attempt.status, attempt.signature_valid) == ("evt_a", 200, True)

    def test_no_request_id_no_echo(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url, event(), request_id=None)
        assert response.json() == {"received": True}
        assert receiver.accepted[0].request_id is None

    @pytest.mark.parametrize(
        "signing",
        [
            {"signature": "missing"},
            {"secret": "whsec_other"},
            {"timestamp": int(time.time()) - 3600},
            {"signature": "t=1,v1=" + "0" * 64},
        ],
        ids=["missing", "wrong-secret", "stale", "forged"],
    )
    def test_a_bad_signature_is_401_and_not_accepted(
        self, receiver: WebhookReceiver, client: httpx.Client, signing: dict[str, Any]
    ) -> None:
        if signing.get("signature") == "missing":
            body = json.dumps(event()).encode()
            headers = {"Content-Type": "application/json", "Webhook-Id": "evt_1"}
            response = client.post(receiver.url, content=body, headers=headers)
        else:
            response = deliver(client, receiver.url, event(), **signing)

        assert response.status_code == 401
        assert response.json()["type"] == "invalid_request"
        assert response.json()["code"] == "invalid_signature"
        assert response.json()["message"]
        assert receiver.accepted == []
        [attempt] = receiver.attempts
        assert (attempt.event_id, attempt.status, attempt.signature_valid) == ("evt_1", 401, False)

    def test_a_tampered_body_is_401(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        body = json.dumps(event()).encode()
        signature = sign(SECRET, body, int(time.time()))
        response = deliver(client, receiver.url, body.replace(b"created", b"shipped"), signature=signature)
        assert response.status_code == 401
        assert receiver.accepted == []

    def test_a_rotating_sender_is_accepted(self, client: httpx.Client) -> None:
        body = json.dumps(event()).encode()
        now = int(time.time())
        header = f"{sign(OLD_SECRET, body, now)},{sign(SECRET, body, now).split(',')[1]}"
        for secret in (OLD_SECRET, SECRET):
            with WebhookReceiver(secret) as receiver:
                assert deliver(client, receiver.url, body, signature=header).status_code == 200
                assert len(receiver.accepted) == 1

    def test_the_tolerance_applies(self, client: httpx.Client) -> None:
        with WebhookReceiver(SECRET, tolerance=10) as receiver:
            response = deliver(client, receiver.url, event(), timestamp=int(time.time()) - 60)
        assert response.status_code == 401

    def test_non_json_is_400(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url, b"<order/>")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_json"
        assert receiver.accepted == []
        assert [(a.status, a.signature_valid) for a in receiver.attempts] == [(400, True)]

    @pytest.mark.parametrize(
        ("payload", "code"),
        [
            (b"[]", "invalid_event"),
            (b'{"type":"order_create"}', "invalid_event"),
            (b'{"data":{}}', "invalid_event"),
        ],
    )
    def test_a_body_that_is_not_an_event_is_400(
        self, receiver: WebhookReceiver, client: httpx.Client, payload: bytes, code: str
    ) -> None:
        response = deliver(client, receiver.url, payload)
        assert (response.status_code, response.json()["code"]) == (400, code)
        assert receiver.accepted == []

    def test_a_missing_webhook_id_is_400(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url, event(), event_id=None)
        assert (response.status_code, response.json()["code"]) == (400, "missing_webhook_id")
        assert receiver.accepted == []

    def test_another_content_type_is_400(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url, event(), content_type="text/plain")
        assert (response.status_code, response.json()["code"]) == (400, "invalid_content_type")

    def test_another_path_is_404(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        response = deliver(client, receiver.url.replace("order_events", "other"), event())
        assert response.status_code == 404
        assert [a.status for a in receiver.attempts] == [404]


class TestScriptedFailures:
    def test_fail_next_answers_the_status_with_retry_after(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        receiver.fail_next(2, status=429, retry_after=7)

        first, second, third = (deliver(client, receiver.url, event()) for _ in range(3))

        assert [r.status_code for r in (first, second, third)] == [429, 429, 200]
        assert first.headers["Retry-After"] == "7"
        assert "Retry-After" not in third.headers
        assert [a.status for a in receiver.attempts] == [429, 429, 200]
        assert len(receiver.accepted) == 1

    def test_fail_next_defaults_to_503_without_retry_after(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        receiver.fail_next(1)
        response = deliver(client, receiver.url, event())
        assert (response.status_code, response.json()["type"]) == (503, "service_unavailable")
        assert "Retry-After" not in response.headers

    def test_fail_next_refuses_a_success_status(self, receiver: WebhookReceiver) -> None:
        with pytest.raises(ValueError, match=">= 400"):
            receiver.fail_next(1, status=200)

    def test_an_outage_lasts_until_resumed(self, receiver: WebhookReceiver, client: httpx.Client) -> None:
        receiver.fail_until_resumed(status=500)
        during = [deliver(client, receiver.url, event()).status_code for _ in range(4)]
        receiver.resume()
        after = deliver(client, receiver.url, event()).status_code

        assert (during, after) == ([500] * 4, 200)
        assert len(receiver.accepted) == 1

    def test_a_hang_makes_the_client_time_out_but_the_event_still_lands(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        receiver.hang_next(1, 0.3)

        with pytest.raises(httpx.ReadTimeout):
            deliver(client, receiver.url, event(), timeout=0.05)

        [late] = receiver.wait_for(1, timeout=2)  # a slow platform processes what its client gave up on
        assert late.event_id == "evt_1"
        assert deliver(client, receiver.url, event(), timeout=0.5).status_code == 200  # one hang only

    def test_stop_ends_a_hang(self, client: httpx.Client) -> None:
        receiver = WebhookReceiver(SECRET)
        url = receiver.start()
        receiver.hang_next(1, 30)
        failure: list[BaseException] = []

        def post() -> None:
            try:
                deliver(client, url, event())
            except httpx.HTTPError as exc:
                failure.append(exc)

        poster = threading.Thread(target=post)
        poster.start()
        deadline = time.monotonic() + 2
        while not receiver.attempts and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        receiver.stop()
        poster.join(2)

        assert time.monotonic() - started < 1.5
        assert not poster.is_alive()
        assert len(failure) == 1
        assert receiver.accepted == []

    def test_a_drop_closes_the_connection_unanswered(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        receiver.drop_next(1)

        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            deliver(client, receiver.url, event())

        assert deliver(client, receiver.url, event()).status_code == 200
        assert [(a.status, a.signature_valid) for a in receiver.attempts] == [(None, True), (200, True)]
        assert len(receiver.accepted) == 1


class TestWhatArrived:
    def test_unique_events_keeps_the_first_of_each_event_id(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        deliver(client, receiver.url, event("ord_1"), event_id="evt_1", request_id="req_a")
        deliver(client, receiver.url, event("ord_1"), event_id="evt_1", request_id="req_b")
        deliver(
            client, receiver.url, event("ord_1", type_="order_update", status="shipped"), event_id="evt_2"
        )

        assert [r.event_id for r in receiver.accepted] == ["evt_1", "evt_1", "evt_2"]
        unique = receiver.unique_events()
        assert [(r.event_id, r.request_id, r.type) for r in unique] == [
            ("evt_1", "req_a", "order_create"),
            ("evt_2", "req_1", "order_update"),
        ]
        assert receiver.wait_for(2, timeout=0.1) == unique

    def test_wait_for_blocks_until_events_arrive(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        def later() -> None:
            time.sleep(0.1)
            deliver(client, receiver.url, event(), event_id="evt_late")

        sender = threading.Thread(target=later)
        sender.start()
        try:
            [received] = receiver.wait_for(1, timeout=3)
        finally:
            sender.join()
        assert received.event_id == "evt_late"

    def test_wait_for_times_out_describing_what_arrived(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        deliver(client, receiver.url, event("ord_9", status="confirmed"), event_id="evt_seen")
        deliver(client, receiver.url, event(), event_id="evt_forged", secret="whsec_other")
        deliver(client, receiver.url, event(), event_id="evt_seen")  # a duplicate does not count twice

        started = time.monotonic()
        with pytest.raises(AssertionError) as raised:
            receiver.wait_for(2, timeout=0.2)

        assert 0.2 <= time.monotonic() - started < 1.5
        message = str(raised.value)
        assert "expected 2 distinct webhook event(s) within 0.2s, got 1" in message
        assert "evt_seen order_create ord_9 confirmed" in message
        assert "evt_forged -> 401 (bad signature)" in message

    def test_attempts_and_accepted_are_snapshots(
        self, receiver: WebhookReceiver, client: httpx.Client
    ) -> None:
        deliver(client, receiver.url, event())
        receiver.accepted.clear()
        receiver.attempts.clear()
        assert (len(receiver.accepted), len(receiver.attempts)) == (1, 1)


class TestLifecycle:
    def test_url_before_start_is_an_error(self) -> None:
        with pytest.raises(RuntimeError, match="not started"):
            _ = WebhookReceiver(SECRET).url

    def test_stop_is_idempotent_and_frees_the_port(self, client: httpx.Client) -> None:
        receiver = WebhookReceiver(SECRET)
        url = receiver.start()
        receiver.stop()
        receiver.stop()
        with pytest.raises(httpx.ConnectError):
            deliver(client, url, event(), timeout=1)

    def test_start_twice_is_an_error(self, receiver: WebhookReceiver) -> None:
        with pytest.raises(RuntimeError, match="already started"):
            receiver.start()
