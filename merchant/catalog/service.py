"""Staff catalog operations: start feed runs, read runs and variants, set inventory.

Plain functions on the caller's session (no HTTP here, no commit: the caller's
unit of work commits). Lists are keyset pages: they fetch ``limit + 1`` rows to
know whether there is more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto
from pathlib import PurePosixPath, PureWindowsPath
from typing import IO, Generic, Literal, TypeVar

from sqlalchemy import Select, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog import ingest, reader
from merchant.catalog.errors import FileTooLarge, ProductNotFound
from merchant.catalog.models import FeedRowError, FeedRun, Product, Variant
from merchant.catalog.records import Availability, FeedFormat, FeedMode
from merchant.catalog.sources import FeedFileError
from merchant.catalog.tasks import ingest_feed
from merchant.catalog.uploads import store_upload
from merchant.errors import InvalidRequest
from merchant.jobs.defer import defer

T = TypeVar("T")

UNNAMED_UPLOAD = "upload"
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool


def _page(rows: Sequence[T], limit: int) -> Page[T]:
    return Page(rows[:limit], len(rows) > limit)


# Starting runs


def upload_name(filename: str | None) -> str:
    """The client's file name without any directory part (it is only a label and a detection hint)."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name.strip()
    return name[:255] or UNNAMED_UPLOAD


def _check_format(fmt: FeedFormat | None) -> None:
    """A named format must be one the ingest can read, or the run would only fail later."""
    if fmt is None:
        return
    try:
        reader.mapper_for(fmt)
    except FeedFileError as exc:
        raise InvalidRequest(exc.message, code=exc.code, param="$.format") from None


async def start_upload_run(
    session: AsyncSession,
    *,
    filename: str | None,
    stream: IO[bytes],
    mode: FeedMode,
    fmt: FeedFormat | None,
    requested_by: str,
    max_bytes: int,
) -> FeedRun:
    """Queue a run for an uploaded file: the run, its stored chunks and its job, in one transaction."""
    _check_format(fmt)
    run = await ingest.create_run(
        session,
        source_kind="upload",
        source=upload_name(filename),
        mode=mode,
        fmt=fmt,
        requested_by=requested_by,
        size_bytes=None,
    )
    try:
        size = await store_upload(session, run.id, stream, max_bytes=max_bytes)
    except FeedFileError as exc:
        if exc.code == "file_too_large":
            raise FileTooLarge(exc.message, param="$.file") from None
        raise InvalidRequest(exc.message, code=exc.code, param="$.file") from None
    if size == 0:
        raise InvalidRequest("The uploaded file is empty.", code="invalid_value", param="$.file")
    run.size_bytes = size
    await session.flush()
    await defer(session, ingest_feed, run_id=run.id)
    return run


async def start_url_run(
    session: AsyncSession, *, url: str, mode: FeedMode, fmt: FeedFormat | None, requested_by: str
) -> FeedRun:
    """Queue a run that the worker will fetch from ``url``."""
    _check_format(fmt)
    run = await ingest.create_run(
        session,
        source_kind="url",
        source=url,
        mode=mode,
        fmt=fmt,
        requested_by=requested_by,
        size_bytes=None,
    )
    await defer(session, ingest_feed, run_id=run.id)
    return run


# Reading runs


async def list_runs(session: AsyncSession, *, limit: int, starting_after: str | None = None) -> Page[FeedRun]:
    """Newest first, keyset on (created_at, id)."""
    query = select(FeedRun).order_by(FeedRun.created_at.desc(), FeedRun.id.desc()).limit(limit + 1)
    if starting_after is not None:
        cursor = (
            await session.execute(select(FeedRun.created_at, FeedRun.id).where(FeedRun.id == starting_after))
        ).one_or_none()
        if cursor is None:
            raise InvalidRequest(
                f"No feed run {starting_after!r} to start after.",
                code="invalid_value",
                param="$.query.starting_after",
            )
        query = query.where(tuple_(FeedRun.created_at, FeedRun.id) < tuple_(cursor.created_at, cursor.id))
    return _page((await session.scalars(query)).all(), limit)


@dataclass(frozen=True, slots=True)
class RunWithErrors:
    run: FeedRun
    errors: Page[FeedRowError]


async def get_run(
    session: AsyncSession, run_id: str, *, errors_limit: int, errors_after: int | None = None
) -> RunWithErrors:
    """One run and a page of its row errors in ``seq`` (file) order."""
    run = await ingest.get_run(session, run_id)
    query = (
        select(FeedRowError)
        .where(FeedRowError.run_id == run_id)
        .order_by(FeedRowError.seq)
        .limit(errors_limit + 1)
    )
    if errors_after is not None:
        query = query.where(FeedRowError.seq > errors_after)
    return RunWithErrors(run, _page((await session.scalars(query)).all(), errors_limit))


# Variants


def escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character: backslash)."""
    return (
        text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2)
        .replace("%", _LIKE_ESCAPE + "%")
        .replace("_", _LIKE_ESCAPE + "_")
    )


def _search(query: Select[Variant], q: str) -> Select[Variant]:
    return query.where(
        or_(
            Variant.id == q,
            Variant.gtin == q,
            Variant.title.ilike(f"%{escape_like(q)}%", escape=_LIKE_ESCAPE),
        )
    )


async def list_variants(
    session: AsyncSession,
    *,
    limit: int,
    starting_after: str | None = None,
    q: str | None = None,
    availability: Availability | None = None,
    listed: bool = True,
) -> Page[Variant]:
    """Variants by id: ``q`` matches the id or GTIN exactly, or a title substring (any case)."""
    query = select(Variant).order_by(Variant.id).limit(limit + 1)
    query = query.where(Variant.delisted_at.is_(None) if listed else Variant.delisted_at.is_not(None))
    if starting_after is not None:
        query = query.where(Variant.id > starting_after)
    if availability is not None:
        query = query.where(Variant.availability == availability.value)
    if q is not None and q.strip():
        query = _search(query, q.strip())
    return _page((await session.scalars(query)).all(), limit)


async def get_variant(session: AsyncSession, variant_id: str) -> tuple[Variant, Product]:
    row = (
        await session.execute(
            select(Variant, Product)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id == variant_id)
        )
    ).one_or_none()
    if row is None:
        raise ProductNotFound(f"No product variant {variant_id!r}.", param="$.variant_id")
    variant, product = row
    return variant, product


class Unset(Enum):
    """Tells "not sent" from an explicit null."""

    UNSET = auto()


UNSET = Unset.UNSET


async def update_inventory(
    session: AsyncSession,
    variant_id: str,
    *,
    inventory_quantity: int | Literal[Unset.UNSET] | None = UNSET,
    availability: Availability | None = None,
) -> tuple[Variant, Product]:
    """Set the quantity (None: stop tracking) and/or availability in one atomic UPDATE."""
    values: dict[str, object] = {}
    if inventory_quantity is not UNSET:
        values["inventory_quantity"] = inventory_quantity
    if availability is not None:
        values["availability"] = availability.value
    if not values:
        raise InvalidRequest(
            "Send inventory_quantity, availability or both.", code="missing_required_field", param="$"
        )
    statement = (
        update(Variant)
        .where(Variant.id == variant_id)
        .values(**values, updated_at=func.now())
        .returning(Variant)
        .execution_options(populate_existing=True)
    )
    if (await session.scalars(statement)).one_or_none() is None:
        raise ProductNotFound(f"No product variant {variant_id!r}.", param="$.variant_id")
    return await get_variant(session, variant_id)
