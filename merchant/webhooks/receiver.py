"""An agent platform's order-event webhook receiver, in a thread: for tests and ``merchant demo``.

It speaks the receiving side of ACP order events (``shared/docs/acp-spec.md`` §3.3, §6.1):
``POST /agentic_checkout/webhooks/order_events`` with ``{"type", "data"}``, signed in
``Merchant-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``, deduplicated
on ``Webhook-Id``. It answers 200 ``{"received": true, "request_id"?}``, 401 ``invalid_signature``
for a missing, malformed, stale or wrong signature, and 400 for a body it cannot read.

Tests make it misbehave on purpose (``fail_next``, ``fail_until_resumed``, ``hang_next``,
``drop_next``) and look at what arrived (``attempts``, ``accepted``, ``unique_events``, ``wait_for``).

Per request, decided when it arrives: a queued hang is served first (the receiver sleeps, then goes
on: like a slow platform, it still processes an event its client gave up on); then a queued drop
closes the connection unanswered; else an outage answers its status; else a queued ``fail_next``
answers its status; else the request is checked and, if sound, accepted.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast

from merchant.webhooks.signing import verify

PATH = "/agentic_checkout/webhooks/order_events"
SIGNATURE_HEADER = "Merchant-Signature"
STOP_JOIN_SECONDS = 2.0  # how long stop() waits for requests still being answered
POLL_SECONDS = 0.01  # how soon the server notices stop()


@dataclass(frozen=True)
class Received:
    """An event the receiver accepted (answered 2xx, valid signature)."""

    event_id: str  # Webhook-Id
    type: str  # order_create, order_update, ...
    order_id: str | None  # data.id
    status: str | None  # data.status
    body: dict[str, Any]  # the whole parsed request body
    request_id: str | None
    received_at: float  # time.time() on arrival


@dataclass(frozen=True)
class Attempt:
    """One request, whatever became of it."""

    event_id: str | None  # Webhook-Id, if sent
    status: int | None  # the status answered; None: dropped unanswered (or still being answered)
    signature_valid: bool
    received_at: float
    request_id: str | None = None


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: int | None


@dataclass(frozen=True)
class _Plan:
    hang: float | None = None
    drop: bool = False
    failure: _Failure | None = None


class WebhookReceiver:
    """A signed-webhook endpoint on ``127.0.0.1`` with scriptable failures; one lock guards its state."""

    def __init__(self, secret: str, *, tolerance: int = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._attempts: list[Attempt] = []
        self._accepted: list[tuple[int, Received]] = []  # (index in attempts, event): arrival order
        self._failures: deque[_Failure] = deque()
        self._outage: _Failure | None = None
        self._hangs: deque[float] = deque()
        self._drops = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._handlers: set[threading.Thread] = set()
        self._url: str | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen (``port=0``: any free port) and return the webhook URL."""
        if self._server is not None:
            raise RuntimeError("the webhook receiver is already started")
        self._stopping.clear()
        server = _Server((host, port), self)
        bound_port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()
        self._url = f"http://{host}:{bound_port}{PATH}"
        return self._url

    def stop(self) -> None:
        """Stop listening; requests hanging on ``hang_next`` are dropped. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join()
        with self._lock:
            handlers = list(self._handlers)
        deadline = time.monotonic() + STOP_JOIN_SECONDS
        for handler in handlers:
            handler.join(max(0.0, deadline - time.monotonic()))
        self._server = self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the webhook receiver is not started")
        return self._url

    # -- behaviour control ------------------------------------------------------------------------

    def fail_next(self, n: int, *, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` (>= 400), with ``Retry-After`` when given."""
        _check_count(n)
        if status < 400:
            raise ValueError(f"a failure status is >= 400, not {status}")
        with self._lock:
            self._failures.extend([_Failure(status, retry_after)] * n)

    def fail_until_resumed(self, *, status: int = 503) -> None:
        """An outage: answer every request with ``status`` until ``resume()``."""
        if status < 400:
            raise ValueError(f"a failure status is >= 400, not {status}")
        with self._lock:
            self._outage = _Failure(status, None)

    def resume(self) -> None:
        """End an outage (queued ``fail_next`` failures stay queued)."""
        with self._lock:
            self._outage = None

    def hang_next(self, n: int, seconds: float) -> None:
        """Sleep ``seconds`` before handling each of the next ``n`` requests (to make clients time out)."""
        _check_count(n)
        with self._lock:
            self._hangs.extend([seconds] * n)

    def drop_next(self, n: int) -> None:
        """Close the connection of the next ``n`` requests without answering."""
        _check_count(n)
        with self._lock:
            self._drops += n

    # -- what arrived -----------------------------------------------------------------------------

    @property
    def attempts(self) -> list[Attempt]:
        """Every request, in arrival order (a copy)."""
        with self._lock:
            return list(self._attempts)

    @property
    def accepted(self) -> list[Received]:
        """Requests answered 2xx with a valid signature, in arrival order, duplicates included (a copy)."""
        with self._lock:
            return [received for _, received in self._accepted]

    def unique_events(self) -> list[Received]:
        """``accepted``, keeping the first occurrence of each event id."""
        with self._lock:
            return self._unique()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` distinct events are accepted and return the first ``count`` of them.

        Raises ``AssertionError`` describing what did arrive when ``timeout`` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(unique := self._unique()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._describe(count, timeout, unique))
                self._changed.wait(remaining)
            return unique[:count]

    def _unique(self) -> list[Received]:
        seen: set[str] = set()
        unique: list[Received] = []
        for _, received in self._accepted:
            if received.event_id not in seen:
                seen.add(received.event_id)
                unique.append(received)
        return unique

    def _describe(self, count: int, timeout: float, unique: list[Received]) -> str:
        events = ", ".join(f"{r.event_id} {r.type} {r.order_id} {r.status}" for r in unique) or "none"
        attempts = (
            ", ".join(
                f"{a.event_id} -> {a.status if a.status is not None else 'dropped'}"
                f"{'' if a.signature_valid else ' (bad signature)'}"
                for a in self._attempts
            )
            or "none"
        )
        return (
            f"expected {count} distinct webhook event(s) within {timeout}s, got {len(unique)}: "
            f"accepted [{events}]; attempts [{attempts}]"
        )

    # -- used by the request handler --------------------------------------------------------------

    def _arrive(self, attempt: Attempt) -> tuple[int, _Plan]:
        """Record a request on arrival and take the misbehaviour queued for it."""
        with self._lock:
            self._attempts.append(attempt)
            index = len(self._attempts) - 1
            hang = self._hangs.popleft() if self._hangs else None
            if self._drops:
                self._drops -= 1
                return index, _Plan(hang=hang, drop=True)
            if self._outage is not None:
                return index, _Plan(hang=hang, failure=self._outage)
            failure = self._failures.popleft() if self._failures else None
            return index, _Plan(hang=hang, failure=failure)

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.append(attempt)

    def _answered(self, index: int, status: int, received: Received | None = None) -> None:
        with self._changed:
            self._attempts[index] = replace(self._attempts[index], status=status)
            if received is not None:
                bisect.insort(self._accepted, (index, received), key=lambda entry: entry[0])
            self._changed.notify_all()

    def _handler_started(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handlers.add(thread)

    def _handler_done(self, thread: threading.Thread) -> None:
        with self._lock:
            self._handlers.discard(thread)


def _check_count(n: int) -> None:
    if n < 0:
        raise ValueError(f"a request count is >= 0, not {n}")


def _error(type_: str, code: str, message: str) -> dict[str, Any]:
    return {"type": type_, "code": code, "message": message}


def _failure_body(status: int) -> dict[str, Any]:
    if status == 503:
        return _error("service_unavailable", "service_unavailable", "simulated outage")
    if status >= 500:
        return _error("processing_error", "processing_error", "simulated failure")
    return _error("invalid_request", "simulated_failure", "simulated failure")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: two workers with 8 deliveries each in flight overflow
    # it, and a dropped SYN costs the sender a 1 s retransmit (bench/RESULTS.md, "SYN drops").
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], receiver: WebhookReceiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        thread = threading.current_thread()
        self.receiver._handler_started(thread)
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.receiver._handler_done(thread)


class _Handler(BaseHTTPRequestHandler):
    timeout = 5.0  # an idle client does not hold a handler thread for long

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``attempts`` instead."""

    def do_POST(self) -> None:
        receiver = cast(_Server, self.server).receiver
        received_at = time.time()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self._send(400, _error("invalid_request", "invalid_content_length", "bad Content-Length"))
            return
        body = self.rfile.read(length)
        event_id = self.headers.get("Webhook-Id")
        request_id = self.headers.get("Request-Id")
        signature_valid = verify(
            receiver.secret,
            body,
            self.headers.get(SIGNATURE_HEADER),
            now=int(received_at),
            tolerance=receiver.tolerance,
        )
        attempt = Attempt(event_id, None, signature_valid, received_at, request_id)
        if self.path.split("?", 1)[0] != PATH:
            receiver._record(replace(attempt, status=404))
            self._send(404, _error("invalid_request", "not_found", f"no webhook endpoint at {self.path}"))
            return
        index, plan = receiver._arrive(attempt)
        if plan.hang is not None and receiver._stopping.wait(plan.hang):
            self.close_connection = True  # stopped while hanging: leave unanswered
            return
        if plan.drop:
            self.close_connection = True
            return
        if plan.failure is not None:
            status = plan.failure.status
            headers = (
                {} if plan.failure.retry_after is None else {"Retry-After": str(plan.failure.retry_after)}
            )
            receiver._answered(index, status)
            self._send(status, _failure_body(status), headers)
            return
        status, answer, received = self._check(body, signature_valid, event_id, request_id, received_at)
        receiver._answered(index, status, received)
        self._send(status, answer)

    def _check(
        self, body: bytes, signature_valid: bool, event_id: str | None, request_id: str | None, at: float
    ) -> tuple[int, dict[str, Any], Received | None]:
        if not signature_valid:
            message = f"{SIGNATURE_HEADER} is missing, malformed, stale or does not match"
            return 401, _error("invalid_request", "invalid_signature", message), None
        if self.headers.get_content_type() != "application/json":
            message = f"Content-Type must be application/json, not {self.headers.get('Content-Type')}"
            return 400, _error("invalid_request", "invalid_content_type", message), None
        try:
            event = json.loads(body)
        except ValueError:
            return 400, _error("invalid_request", "invalid_json", "the body is not JSON"), None
        if not (isinstance(event, dict) and isinstance(event.get("type"), str)):
            return 400, _error("invalid_request", "invalid_event", "expected {type, data}"), None
        data = event.get("data")
        if not isinstance(data, dict):
            return 400, _error("invalid_request", "invalid_event", "data must be the order object"), None
        if not event_id:
            return 400, _error("invalid_request", "missing_webhook_id", "Webhook-Id is required"), None
        order_id, order_status = data.get("id"), data.get("status")
        received = Received(
            event_id=event_id,
            type=event["type"],
            order_id=order_id if isinstance(order_id, str) else None,
            status=order_status if isinstance(order_status, str) else None,
            body=event,
            request_id=request_id,
            received_at=at,
        )
        answer: dict[str, Any] = {"received": True}
        if request_id is not None:
            answer["request_id"] = request_id
        return 200, answer, received

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.close_connection = True
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            if request_id := self.headers.get("Request-Id"):
                self.send_header("Request-Id", request_id)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client is gone (it timed out on a hang)
