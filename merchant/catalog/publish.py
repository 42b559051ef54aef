"""Push the catalog to an agent-hosted ACP Feed API (spec 2026-04-17, ``openapi.feed.yaml``).

The agent platform hosts the Feed API; the merchant calls it: ``POST /feeds`` creates a feed
(``CreateFeedRequest`` -> 201 ``FeedMetadata``), ``GET /feeds/{id}`` reads its metadata,
``PATCH /feeds/{id}/products`` upserts products by ``Product.id`` (``UpsertProductsRequest`` ->
200 ``{id, accepted}``; products left out stay unchanged). ``FeedClient`` is that client;
``publish_catalog`` streams the live catalog into it in batches of ``batch_size`` products (a
product is never split: an upsert replaces the whole product).

Headers. The feed OpenAPI declares none, but the ACP RFC requires ``Authorization: Bearer`` and
``API-Version``, and OpenAI's Feed API lists ``Idempotency-Key``, ``Request-Id``, ``Timestamp``,
``Content-Type``, ``User-Agent`` (``docs/acp-spec.md`` §2.2, §3.1). So every request carries
``Authorization``, ``API-Version: 2026-04-17``, ``Accept``, ``User-Agent``, ``Request-Id`` (one per
call, kept across its retries) and ``Timestamp`` (RFC 3339, per attempt); requests with a body add
``Content-Type: application/json`` and an ``Idempotency-Key``. The body is serialised once, so
every retry sends identical bytes under the same key.

Idempotency keys are deterministic: ``sha256(kind, scope, feed id, RFC 8785 JCS of the body)``.
``scope`` is the publication (a fresh id per CLI run, the job id for the job, so a retried job
replays the batches the agent already has): without it, a product published as A, then B, then A
again within the agent's key retention (>= 24 h) would reuse A's key and be *replayed* instead of
applied, leaving B in the feed.

Retries: 429, 5xx, 409 ``idempotency_in_flight``, timeouts and connection failures are retried,
``max_attempts`` attempts in all; the wait is ``Retry-After`` (seconds or an HTTP date) when the
response has one, else capped exponential backoff with jitter
(``min(cap, base * 2**(attempt-1)) * uniform(0.5, 1)``). A ``Retry-After`` longer than
``max_retry_after`` fails at once rather than blocking a worker. Any other status fails at once
with ``FeedApiError`` carrying the agent's flat error object.

Removals: the Feed API has no delete, and an upsert replaces a product by id. So a variant that
left the catalog while its product still has listed variants disappears when the product is
sent again (complete, without it); a product *all* of whose variants are delisted is sent with
every variant marked ``availability {available: false, status: "discontinued"}`` (ACP §7:
"delete = full replacement or mark unavailable/discontinued"). There is no record of what was
published before, so these tombstones are sent on every publication (``discontinued=False``
skips them).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
import orjson
import rfc8785
import structlog
from sqlalchemy import exists
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from merchant import __version__
from merchant.catalog.export import iter_records, record_query, stream_records
from merchant.catalog.mapping.acp import to_acp_product
from merchant.catalog.models import Variant
from merchant.catalog.records import VariantRecord
from merchant.config import Settings
from merchant.kit.outbound import ForbiddenDestination, GuardedTransport
from merchant.kit.retry_after import parse_retry_after

log = structlog.get_logger(__name__)

API_VERSION = "2026-04-17"
USER_AGENT = f"merchant/{__version__} (ACP feed publisher)"
DISCONTINUED: Mapping[str, Any] = {"available": False, "status": "discontinued"}

_COUNTRY = re.compile(r"[A-Z]{2}")
_RETRY_EXCEPTIONS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

Sleep = Callable[[float], Awaitable[None]]
Json = dict[str, Any]


# --------------------------------------------------------------------------- errors


class FeedPublishError(Exception):
    """Publishing to the Feed API failed."""


class FeedConfigError(FeedPublishError, ValueError):
    """The Feed API cannot be called as configured (no URL, no token, bad value)."""


class FeedApiError(FeedPublishError):
    """The Feed API answered with an error (or could not be reached: ``status`` is None).

    ``error`` is the flat ACP error object ``{type, code, message, param?}`` as the agent sent
    it; a body that is not one is wrapped (``type: http_error``) with the raw text as message.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        error: Json,
        attempts: int,
        request_id: str,
        idempotency_key: str | None = None,
        note: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.error = error
        self.attempts = attempts
        self.request_id = request_id
        self.idempotency_key = idempotency_key
        self.note = note
        super().__init__(self._describe())

    @property
    def code(self) -> str:
        return str(self.error.get("code", ""))

    def _describe(self) -> str:
        what = "could not be reached" if self.status is None else f"answered HTTP {self.status}"
        text = f"{self.method} {self.path} {what} after {self.attempts} attempt"
        text += "" if self.attempts == 1 else "s"
        text += f": {self.error.get('type', 'error')}/{self.code}: {self.error.get('message', '')}"
        if self.error.get("param"):
            text += f" (param {self.error['param']})"
        if self.status in (401, 403):
            text += " - check the Feed API token (MERCHANT_FEED_PUBLISH_TOKEN / --token)"
        if self.note:
            text += f" - {self.note}"
        return text


def _error_body(response: httpx.Response) -> Json:
    """The flat ACP error of a response, or a wrapper around whatever it sent."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        return body
    text = response.text.strip()[:500] or response.reason_phrase
    return {"type": "http_error", "code": f"http_{response.status_code}", "message": text}


def _is_retryable(status: int, error: Mapping[str, Any]) -> bool:
    if status == 429 or status >= 500:
        return True
    return status == 409 and error.get("code") == "idempotency_in_flight"


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class FeedMetadata:
    """``FeedMetadata``: server-managed; ``updated_at`` is the agent's RFC 3339 string."""

    id: str
    target_country: str | None = None
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """``UpsertProductsResponse``; ``feed_update_id`` only from agents that send it."""

    feed_id: str
    feed_update_id: str | None = None


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What one publication sent. ``products``/``variants`` count everything sent, including
    the ``discontinued_*`` tombstones of fully delisted products."""

    feed_id: str
    feed_created: bool
    products: int
    variants: int
    discontinued_products: int
    discontinued_variants: int
    batches: int
    elapsed_seconds: float


@dataclass
class _Counts:
    products: int = 0
    variants: int = 0
    discontinued_products: int = 0
    discontinued_variants: int = 0
    batches: int = 0


# --------------------------------------------------------------------------- helpers


def derive_idempotency_key(kind: str, feed_id: str, body: Any, scope: str = "") -> str:
    """Deterministic key of one logical request: same inputs, same key (71 characters)."""
    digest = hashlib.sha256()
    for part in (kind.encode(), scope.encode(), feed_id.encode(), rfc8785.dumps(body)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return f"{kind}_{digest.hexdigest()}"


def _timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _feed_path(feed_id: str, suffix: str = "") -> str:
    if not feed_id:
        raise FeedConfigError("the feed id must not be empty")
    return f"feeds/{quote(feed_id, safe='')}{suffix}"


def check_country(target_country: str | None) -> str | None:
    if target_country is not None and not _COUNTRY.fullmatch(target_country):
        raise FeedConfigError(f"target_country must be ISO 3166-1 alpha-2 (e.g. US), not {target_country!r}")
    return target_country


# --------------------------------------------------------------------------- client


class FeedClient:
    """Async client of an agent-hosted ACP Feed API; use as ``async with FeedClient(...)``.

    ``base_url`` is what onboarding gave (``https://agent.example/acp``); paths are appended to
    it. ``max_attempts`` counts the first try; delays are ``backoff_base`` doubling up to
    ``backoff_cap`` seconds, or the server's ``Retry-After`` up to ``max_retry_after``.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        allow_private: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise FeedConfigError(f"the Feed API URL must be http(s), not {base_url!r}")
        if not token:
            raise FeedConfigError("a Feed API token is required")
        if max_attempts < 1:
            raise FeedConfigError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/") + "/"
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._random = random.Random()
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            # Only to checked, public addresses (outbound guard) unless private ones are allowed.
            transport=transport or GuardedTransport(allow_private=allow_private),
            trust_env=False,
            headers={
                "Authorization": f"Bearer {token}",
                "API-Version": API_VERSION,
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, url: str | None = None, token: str | None = None
    ) -> FeedClient:
        """A client for the configured Feed API; ``url``/``token`` override the settings."""
        url = url or settings.feed_publish_url
        if not url:
            raise FeedConfigError("no Feed API URL: set MERCHANT_FEED_PUBLISH_URL or pass --url")
        token = token or settings.feed_publish_token
        if not token:
            raise FeedConfigError("no Feed API token: set MERCHANT_FEED_PUBLISH_TOKEN or pass --token")
        return cls(
            url,
            token,
            timeout=settings.feed_publish_timeout,
            max_attempts=settings.feed_publish_max_attempts,
            backoff_base=settings.feed_publish_backoff,
            allow_private=settings.outbound_allow_private,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ----------------------------------------------------------------- operations

    async def create_feed(
        self, target_country: str | None = None, *, idempotency_key: str | None = None
    ) -> FeedMetadata:
        """``POST /feeds``; the key defaults to a random one (reused by this call's retries)."""
        body: Json = {}
        if check_country(target_country) is not None:
            body["target_country"] = target_country
        key = idempotency_key or f"create_{uuid.uuid4().hex}"
        return self._metadata(await self._request("POST", "feeds", body=body, idempotency_key=key))

    async def get_feed(self, feed_id: str) -> FeedMetadata:
        """``GET /feeds/{id}``."""
        return self._metadata(await self._request("GET", _feed_path(feed_id)))

    async def upsert_products(
        self, feed_id: str, products: Sequence[Json], *, idempotency_key: str | None = None
    ) -> UpsertResult:
        """``PATCH /feeds/{id}/products`` with ``{"products": [...]}``.

        The key defaults to ``derive_idempotency_key("upsert", feed_id, body)``. A response with
        ``accepted: false`` raises ``FeedApiError`` too.
        """
        if not products:
            raise ValueError("an upsert needs at least one product")
        path = _feed_path(feed_id, "/products")
        body: Json = {"products": list(products)}
        key = idempotency_key or derive_idempotency_key("upsert", feed_id, body)
        response = await self._request("PATCH", path, body=body, idempotency_key=key)
        answer = self._json(response)
        accepted = answer.get("accepted")
        if accepted is not True:
            problem = "accepted: false" if accepted is False else "the response has no boolean accepted"
            raise self._invalid(response, problem, code="not_accepted" if accepted is False else None)
        update_id = answer.get("feed_update_id")
        return UpsertResult(
            feed_id=str(answer.get("id") or feed_id),
            feed_update_id=update_id if isinstance(update_id, str) else None,
        )

    # ----------------------------------------------------------------- transport

    def backoff(self, attempt: int) -> float:
        """Delay after failed attempt ``attempt`` (1-based) when the server gave no Retry-After."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling * self._random.uniform(0.5, 1.0)

    async def _request(
        self, method: str, path: str, *, body: Json | None = None, idempotency_key: str | None = None
    ) -> httpx.Response:
        content = None if body is None else orjson.dumps(body)
        request_id = f"req_{uuid.uuid4().hex}"
        headers = {"Request-Id": request_id}
        if content is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key

        def failure(status: int | None, error: Json, attempts: int, note: str | None = None) -> FeedApiError:
            return FeedApiError(
                method=method,
                path=f"/{path}",
                status=status,
                error=error,
                attempts=attempts,
                request_id=request_id,
                idempotency_key=idempotency_key,
                note=note,
            )

        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.request(
                    method, path, content=content, headers={**headers, "Timestamp": _timestamp()}
                )
            except ForbiddenDestination as exc:  # not an address we send to: never retried
                error = {"type": "forbidden_destination", "code": "forbidden_url", "message": str(exc)}
                raise failure(None, error, attempt) from exc
            except httpx.HTTPError as exc:
                error = {
                    "type": "transport_error",
                    "code": type(exc).__name__,
                    "message": str(exc) or repr(exc),
                }
                # Not transient (a bad URL, a protocol violation on our side) or out of attempts.
                if not isinstance(exc, _RETRY_EXCEPTIONS) or attempt >= self.max_attempts:
                    raise failure(None, error, attempt) from exc
                delay = self.backoff(attempt)
                log.warning(
                    "feed_api.retry",
                    method=method,
                    path=path,
                    attempt=attempt,
                    error=error["code"],
                    delay=delay,
                )
                await self._sleep(delay)
                continue
            if response.is_success:
                return response
            error = _error_body(response)
            if not _is_retryable(response.status_code, error):
                raise failure(response.status_code, error, attempt)
            if attempt >= self.max_attempts:
                raise failure(response.status_code, error, attempt, "retries exhausted")
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.max_retry_after:
                raise failure(response.status_code, error, attempt, f"Retry-After {wait:.0f} s is too long")
            delay = self.backoff(attempt) if wait is None else wait
            log.warning(
                "feed_api.retry",
                method=method,
                path=path,
                attempt=attempt,
                status=response.status_code,
                delay=delay,
            )
            await self._sleep(delay)

    def _invalid(self, response: httpx.Response, message: str, *, code: str | None = None) -> FeedApiError:
        request = response.request
        return FeedApiError(
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            error={"type": "invalid_response", "code": code or "invalid_response", "message": message},
            attempts=1,
            request_id=request.headers.get("Request-Id", ""),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )

    def _json(self, response: httpx.Response) -> Json:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._invalid(response, "the response body is not a JSON object")
        return body

    def _metadata(self, response: httpx.Response) -> FeedMetadata:
        body = self._json(response)
        feed_id = body.get("id")
        if not isinstance(feed_id, str) or not feed_id:
            raise self._invalid(response, "the FeedMetadata has no id")
        country, updated = body.get("target_country"), body.get("updated_at")
        return FeedMetadata(
            id=feed_id,
            target_country=country if isinstance(country, str) else None,
            updated_at=updated if isinstance(updated, str) else None,
        )


# --------------------------------------------------------------------------- publication


async def _grouped(records: AsyncIterator[VariantRecord]) -> AsyncIterator[list[VariantRecord]]:
    """Consecutive records of one product (the stream is ordered by product)."""
    group: list[VariantRecord] = []
    async for record in records:
        if group and record.product_id != group[0].product_id:
            yield group
            group = []
        group.append(record)
    if group:
        yield group


def iter_fully_delisted(session: AsyncSession) -> AsyncIterator[VariantRecord]:
    """Delisted variants of products with no listed variant left, ordered like ``iter_records``."""
    listed = aliased(Variant)
    query = (
        record_query()
        .where(
            Variant.delisted_at.is_not(None),
            ~exists().where(listed.product_id == Variant.product_id, listed.delisted_at.is_(None)),
        )
        .order_by(Variant.product_id, Variant.id)
    )
    return stream_records(session, query)


def discontinued_product(records: Sequence[VariantRecord]) -> Json:
    """The ACP Product of a fully delisted product: every variant marked discontinued."""
    product = to_acp_product(records)
    for variant in product["variants"]:
        variant["availability"] = dict(DISCONTINUED)
    return product


async def publish_catalog(
    session: AsyncSession,
    client: FeedClient,
    *,
    feed_id: str | None,
    target_country: str | None = None,
    batch_size: int = 500,
    run_id: str | None = None,
    discontinued: bool = True,
    on_feed_created: Callable[[FeedMetadata], None] | None = None,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> PublishResult:
    """Upsert every listed product (then the tombstones) into the feed, ``batch_size`` per PATCH.

    With ``feed_id`` the feed is read first (``GET /feeds/{id}``: a wrong id or token fails
    before anything is sent, even for an empty catalog); without it a feed is created
    (``on_feed_created`` hears of it at once, so its id is not lost if a batch then fails).
    ``run_id`` scopes the idempotency keys (default: a fresh id). ``on_batch(batches,
    products, variants)`` reports progress after each batch. Reads ``session`` with a
    server-side cursor: memory stays constant at any catalog size.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    started = time.perf_counter()
    scope = run_id or uuid.uuid4().hex
    if feed_id is None:
        body = {} if check_country(target_country) is None else {"target_country": target_country}
        metadata = await client.create_feed(
            target_country, idempotency_key=derive_idempotency_key("create", "", body, scope)
        )
        log.info("feed_publish.feed_created", feed_id=metadata.id, target_country=target_country)
        if on_feed_created is not None:
            on_feed_created(metadata)
        feed = metadata.id
    else:
        await client.get_feed(feed_id)
        feed = feed_id
    sent = _Counts()
    batch: list[Json] = []

    async def flush() -> None:
        if not batch:
            return
        key = derive_idempotency_key("upsert", feed, {"products": batch}, scope)
        await client.upsert_products(feed, batch, idempotency_key=key)
        sent.batches += 1
        sent.products += len(batch)
        sent.variants += sum(len(item["variants"]) for item in batch)
        log.info("feed_publish.batch", feed_id=feed, batch=sent.batches, products=len(batch))
        if on_batch is not None:
            on_batch(sent.batches, sent.products, sent.variants)
        batch.clear()

    async def add(product: Json) -> None:
        batch.append(product)
        if len(batch) >= batch_size:
            await flush()

    async for group in _grouped(iter_records(session)):
        await add(to_acp_product(group))
    if discontinued:
        async for group in _grouped(iter_fully_delisted(session)):
            sent.discontinued_products += 1
            sent.discontinued_variants += len(group)
            await add(discontinued_product(group))
    await flush()

    result = PublishResult(
        feed_id=feed,
        feed_created=feed_id is None,
        products=sent.products,
        variants=sent.variants,
        discontinued_products=sent.discontinued_products,
        discontinued_variants=sent.discontinued_variants,
        batches=sent.batches,
        elapsed_seconds=round(time.perf_counter() - started, 3),
    )
    log.info("feed_publish.done", **asdict(result))
    return result
