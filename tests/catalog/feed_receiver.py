"""A real agent-side ACP Feed API on 127.0.0.1 for tests, held to the official spec.

``FeedReceiver`` serves ``openapi.feed.yaml`` (2026-04-17) from a thread (``http.server``) under a
base path (``/acp``). Every request is recorded and checked; anything off is appended to
``violations`` (and answered 400) so a test only has to assert ``violations == []``:

* the operation exists in the OpenAPI document (path template and method);
* ``Authorization: Bearer <token>`` (a wrong token is answered 401 like an agent would; that is
  not a violation), ``API-Version: 2026-04-17``, ``Accept``, ``User-Agent``, ``Request-Id``,
  an RFC 3339 ``Timestamp``;
* a request with a body: ``Content-Type: application/json``, an ``Idempotency-Key`` of 1-255
  characters never reused for a different body, and the body valid against the
  ``schema.feed.json`` definition the OpenAPI ``requestBody`` names (``CreateFeedRequest``,
  ``UpsertProductsRequest`` -> ``Product`` -> ``Variant`` ...).

Its own answers are validated against the OpenAPI response schemas too, so the fake stays
faithful. ``fail_next(method, *faults)`` scripts the next requests of a method: an error status
(with ``Retry-After``), a slow answer (for client timeouts), a dropped connection.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import json
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ACP = Path(__file__).parents[2].parent / "shared" / "acp"
SPEC = ACP / "spec" / "2026-04-17"
SCHEMA_PATH = SPEC / "json-schema" / "schema.feed.json"
OPENAPI_PATH = SPEC / "openapi" / "openapi.feed.yaml"
API_VERSION = "2026-04-17"
BASE_PATH = "/acp"
OPENAPI_ID = "urn:acp:openapi.feed.yaml"

Json = dict[str, Any]


def spec_available() -> bool:
    return SCHEMA_PATH.exists() and OPENAPI_PATH.exists()


# --------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # OpenAPI path, e.g. /feeds/{id}/products
    pattern: re.Pattern[str]
    request_schema: str | None  # schema.feed.json $defs name from the requestBody $ref
    responses: dict[int, str]  # status -> components/schemas name


class FeedSpec:
    """The operations of ``openapi.feed.yaml`` and validators from both spec files."""

    def __init__(self) -> None:
        self.bundle: Json = json.loads(SCHEMA_PATH.read_text())
        self.openapi: Json = yaml.safe_load(OPENAPI_PATH.read_text())
        self.registry: Registry[Any] = Registry().with_resources(
            [
                (self.bundle["$id"], Resource.from_contents(self.bundle)),
                (OPENAPI_ID, DRAFT202012.create_resource(self.openapi)),
            ]
        )
        self.operations = [
            self._operation(method.upper(), template, operation)
            for template, item in self.openapi["paths"].items()
            for method, operation in item.items()
            if method in {"get", "post", "put", "patch", "delete"}
        ]

    @staticmethod
    def _ref_name(content: Json | None) -> str | None:
        if not content:
            return None
        ref: str = content["content"]["application/json"]["schema"]["$ref"]
        return ref.rsplit("/", 1)[-1]

    def _operation(self, method: str, template: str, operation: Json) -> Operation:
        regex = re.sub(r"\{[^}]+\}", "([^/]+)", template)
        responses = {int(status): self._ref_name(answer) for status, answer in operation["responses"].items()}
        return Operation(
            method=method,
            template=template,
            pattern=re.compile(regex + "$"),
            request_schema=self._ref_name(operation.get("requestBody")),
            responses={status: name for status, name in responses.items() if name},
        )

    def find(self, method: str, path: str) -> tuple[Operation | None, list[str]]:
        """The operation serving ``path`` (and its path parameters); None when there is none."""
        for operation in self.operations:
            match = operation.pattern.match(path)
            if match and operation.method == method:
                return operation, [unquote(group) for group in match.groups()]
        return None, []

    @functools.cache  # noqa: B019 - one FeedSpec per test session
    def _validator(self, ref: str) -> Any:
        return Draft202012Validator(
            {"$ref": ref}, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def schema_problems(self, instance: Any, definition: str) -> list[str]:
        """Problems of ``instance`` against ``schema.feed.json#/$defs/<definition>``."""
        if definition not in self.bundle["$defs"]:
            return [f"schema.feed.json has no definition {definition!r}"]
        validator = self._validator(f"{self.bundle['$id']}#/$defs/{definition}")
        return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(instance)]

    def response_problems(self, instance: Any, component: str) -> list[str]:
        """Problems of ``instance`` against ``openapi.feed.yaml#/components/schemas/<component>``."""
        validator = self._validator(f"{OPENAPI_ID}#/components/schemas/{component}")
        return [f"{error.json_path}: {error.message}" for error in validator.iter_errors(instance)]


@functools.cache
def feed_spec() -> FeedSpec:
    return FeedSpec()


# --------------------------------------------------------------------------- scripting


@dataclass(frozen=True)
class Fault:
    """What to do to one request instead of (or before) serving it."""

    status: int | None = None
    body: Json | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # sleep first (then answer normally when status is None)
    drop: bool = False  # close the connection without answering

    @classmethod
    def error(cls, status: int, code: str = "test_error", retry_after: str | None = None) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": retry_after}
        body = {"type": "invalid_request" if status < 500 else "processing_error", "code": code}
        body["message"] = f"scripted HTTP {status}"
        return cls(status=status, body=body, headers=headers)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def dropped(cls) -> Fault:
        return cls(drop=True)


@dataclass
class Recorded:
    """One request as received (``path`` without the base path) and how it was answered."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    raw: bytes
    status: int | None = None  # None: the connection was dropped

    @property
    def body(self) -> Any:
        return json.loads(self.raw) if self.raw else None

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


# --------------------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        self.server.receiver.serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: FeedReceiver

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closed its end before the slow answer: expected in tests.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FeedReceiver:
    """The agent's Feed API: feeds and products in memory, every request checked and kept."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.spec = feed_spec()
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.feeds: dict[str, Json] = {}
        self.products: dict[str, dict[str, Json]] = {}
        self._faults: dict[str, collections.deque[Fault]] = collections.defaultdict(collections.deque)
        self._keys: dict[tuple[str, str], bytes] = {}
        self._lock = threading.RLock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{BASE_PATH}"

    @classmethod
    @contextlib.contextmanager
    def running(cls, token: str) -> Iterator[FeedReceiver]:
        receiver = cls(token)
        receiver._thread.start()
        try:
            yield receiver
        finally:
            receiver._server.shutdown()
            receiver._server.server_close()
            receiver._thread.join(timeout=5)

    # ----------------------------------------------------------------- test API

    def add_feed(self, feed_id: str, target_country: str | None = None) -> None:
        with self._lock:
            self._create(feed_id, target_country)

    def fail_next(self, method: str, *faults: Fault) -> None:
        with self._lock:
            self._faults[method.upper()].extend(faults)

    def of(self, method: str, path_prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    # ----------------------------------------------------------------- serving

    def _create(self, feed_id: str, target_country: str | None) -> Json:
        metadata: Json = {"id": feed_id}
        if target_country is not None:
            metadata["target_country"] = target_country
        metadata["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        self.feeds[feed_id] = metadata
        self.products[feed_id] = {}
        return metadata

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        url = urlsplit(handler.path)
        path = url.path[len(BASE_PATH) :] if url.path.startswith(BASE_PATH + "/") else url.path
        headers = {name.lower(): value for name, value in handler.headers.items()}
        record = Recorded(handler.command, path, headers, raw)
        with self._lock:
            self.requests.append(record)
            queue = self._faults[handler.command]
            fault = queue.popleft() if queue else None
        with self._lock:
            status, body, extra = self._answer(record, url.path, fault)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop:
            handler.close_connection = True
            return
        record.status = status
        data = json.dumps(body).encode()
        handler.send_response(status)
        for name, value in extra.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        if "request-id" in headers:
            handler.send_header("Request-Id", headers["request-id"])
        handler.end_headers()
        handler.wfile.write(data)

    def _violation(self, record: Recorded, problems: list[str]) -> tuple[int, Json, dict[str, str]]:
        self.violations.extend(f"{record.method} {record.path}: {p}" for p in problems)
        message = "; ".join(problems)
        return 400, {"type": "invalid_request", "code": "spec_violation", "message": message}, {}

    def _answer(
        self, record: Recorded, full_path: str, fault: Fault | None
    ) -> tuple[int, Json, dict[str, str]]:
        if not full_path.startswith(BASE_PATH + "/"):
            return self._violation(record, [f"{full_path} is outside the base path {BASE_PATH}"])
        operation, params = self.spec.find(record.method, record.path)
        if operation is None:
            return self._violation(record, ["no such operation in openapi.feed.yaml"])
        if record.headers.get("authorization") != f"Bearer {self.token}":
            error = {"type": "invalid_request", "code": "unauthorized", "message": "invalid bearer token"}
            return 401, error, {}
        problems = self._check(record, operation)
        if problems:
            return self._violation(record, problems)
        if fault is not None and fault.status is not None:
            return fault.status, fault.body or {}, dict(fault.headers)
        status, body = self._route(operation, params, record.body)
        component = operation.responses.get(status)
        answer_problems = (
            self.spec.response_problems(body, component) if component else [f"undocumented status {status}"]
        )
        if answer_problems:
            return self._violation(record, [f"receiver answer: {p}" for p in answer_problems])
        return status, body, {}

    def _check(self, record: Recorded, operation: Operation) -> list[str]:
        headers = record.headers
        problems = []
        if headers.get("api-version") != API_VERSION:
            problems.append(f"API-Version is {headers.get('api-version')!r}, not {API_VERSION}")
        if "application/json" not in headers.get("accept", ""):
            problems.append("Accept does not include application/json")
        if not headers.get("user-agent", "").startswith("merchant/"):
            problems.append("no merchant User-Agent")
        if not headers.get("request-id"):
            problems.append("no Request-Id")
        try:
            stamp = datetime.fromisoformat(headers.get("timestamp", ""))
        except ValueError:
            problems.append(f"Timestamp {headers.get('timestamp')!r} is not RFC 3339")
        else:
            if stamp.tzinfo is None or abs((datetime.now(UTC) - stamp).total_seconds()) > 300:
                problems.append(f"Timestamp {headers['timestamp']} is not a current UTC time")
        if operation.request_schema is None:
            if record.raw:
                problems.append("a body where the operation takes none")
            return problems
        if headers.get("content-type") != "application/json":
            problems.append(f"Content-Type is {headers.get('content-type')!r}")
        key = record.key
        if not key or len(key) > 255:
            problems.append(f"Idempotency-Key {key!r} is not 1-255 characters")
        else:
            seen = self._keys.setdefault((record.path, key), record.raw)
            if seen != record.raw:
                problems.append(f"Idempotency-Key {key} reused for a different body")
        try:
            body = json.loads(record.raw)
        except ValueError:
            return [*problems, "the body is not JSON"]
        problems += self.spec.schema_problems(body, operation.request_schema)
        return problems

    def _route(self, operation: Operation, params: list[str], body: Any) -> tuple[int, Json]:
        not_found = {"type": "invalid_request", "code": "feed_not_found", "message": "Feed not found"}
        not_found["param"] = "id"
        if operation.template == "/feeds":
            feed_id = f"feed_{len(self.feeds) + 1}"
            return 201, self._create(feed_id, body.get("target_country"))
        feed_id = params[0]
        if feed_id not in self.feeds:
            return 404, not_found
        if operation.template == "/feeds/{id}":
            return 200, self.feeds[feed_id]
        if operation.method == "GET":
            return 200, {"products": list(self.products[feed_id].values())}
        for product in body["products"]:
            self.products[feed_id][product["id"]] = product
        return 200, {"id": feed_id, "accepted": True}
