"""Export the live catalog as a feed file, streaming (constant memory at any size).

``acp`` writes a directory with ``metadata.json`` and ``products.jsonl`` (one ACP
Product per line); ``openai-jsonl`` and ``openai-csv`` write the flat-file fields.
Delisted variants are not exported: they are no longer in the catalog.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.catalog.mapping.acp import to_acp_metadata, to_acp_product
from merchant.catalog.mapping.openai import OPENAI_COLUMNS, to_openai_cells, to_openai_row
from merchant.catalog.models import Product, Variant
from merchant.catalog.records import (
    VARIANT_FIELDS,
    Availability,
    Condition,
    Media,
    ProductInfo,
    VariantRecord,
)

STREAM_BATCH = 2_000


class ExportFormat(StrEnum):
    ACP = "acp"
    OPENAI_JSONL = "openai-jsonl"
    OPENAI_CSV = "openai-csv"


def _media(items: Iterable[dict[str, Any]] | None) -> tuple[Media, ...]:
    return tuple(Media(**item) for item in items or ())


def record_from_row(row: Any) -> VariantRecord:
    """A stored variant row (joined with its product columns) back as the canonical record."""
    values = {name: getattr(row, name) for name in VARIANT_FIELDS}
    values["availability"] = Availability(values["availability"])
    values["condition"] = Condition(values["condition"]) if values["condition"] else None
    values["media"] = _media(values["media"])
    values["variant_options"] = tuple((name, value) for name, value in values["variant_options"])
    values["target_countries"] = tuple(values["target_countries"])
    values["product"] = ProductInfo(
        title=row.product_title,
        description=row.product_description,
        url=row.product_url,
        media=_media(row.product_media),
        attributes=row.product_attributes or {},
    )
    return VariantRecord(**values)


def record_query() -> Select[Any]:
    """Variants with their product's columns, as ``record_from_row`` reads them."""
    return select(
        *(getattr(Variant, name) for name in VARIANT_FIELDS),
        Product.title.label("product_title"),
        Product.description.label("product_description"),
        Product.url.label("product_url"),
        Product.media.label("product_media"),
        Product.attributes.label("product_attributes"),
    ).join(Product, Product.id == Variant.product_id)


async def stream_records(session: AsyncSession, query: Select[Any]) -> AsyncIterator[VariantRecord]:
    """Rows of a ``record_query`` as records, streamed with a server-side cursor."""
    result = await session.stream(query.execution_options(yield_per=STREAM_BATCH))
    async for row in result:
        yield record_from_row(row)


def iter_records(session: AsyncSession) -> AsyncIterator[VariantRecord]:
    """Listed variants ordered by product, then id."""
    query = record_query().where(Variant.delisted_at.is_(None)).order_by(Variant.product_id, Variant.id)
    return stream_records(session, query)


def _open_out(path: Path, gzipped: bool) -> gzip.GzipFile | io.BufferedWriter:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gzipped:
        return gzip.open(path, "wb", compresslevel=6)
    return path.open("wb")


def _json_line(obj: Any) -> bytes:
    return orjson.dumps(obj, default=str) + b"\n"


async def export_catalog(
    session: AsyncSession,
    fmt: ExportFormat,
    out: Path,
    *,
    gzipped: bool = False,
    feed_id: str = "catalog",
    target_country: str | None = None,
    updated_at: datetime | None = None,
) -> int:
    """Write the catalog to ``out``; returns the number of variants written."""
    if fmt is ExportFormat.ACP:
        return await _export_acp(session, out, gzipped, feed_id, target_country, updated_at)
    with _open_out(out, gzipped) as stream:
        if fmt is ExportFormat.OPENAI_JSONL:
            count = 0
            async for record in iter_records(session):
                stream.write(_json_line(to_openai_row(record)))
                count += 1
            return count
        return await _export_csv(session, stream)


async def _export_csv(session: AsyncSession, stream: gzip.GzipFile | io.BufferedWriter) -> int:
    text = io.TextIOWrapper(stream, encoding="utf-8", newline="")
    writer = csv.DictWriter(text, fieldnames=list(OPENAI_COLUMNS), extrasaction="raise")
    writer.writeheader()
    count = 0
    async for record in iter_records(session):
        writer.writerow(to_openai_cells(record))
        count += 1
    text.flush()
    text.detach()
    return count


def _write_metadata(out: Path, metadata: dict[str, Any]) -> None:
    # Export is a CLI/job path: plain blocking file writes are fine there.
    out.mkdir(parents=True, exist_ok=True)
    (out / "metadata.json").write_bytes(orjson.dumps(metadata, option=orjson.OPT_INDENT_2))


async def _export_acp(
    session: AsyncSession,
    out: Path,
    gzipped: bool,
    feed_id: str,
    target_country: str | None,
    updated_at: datetime | None,
) -> int:
    _write_metadata(out, to_acp_metadata(feed_id, target_country, updated_at))
    name = "products.jsonl.gz" if gzipped else "products.jsonl"
    count = 0
    with _open_out(out / name, gzipped) as stream:
        group: list[VariantRecord] = []
        async for record in iter_records(session):
            if group and record.product_id != group[0].product_id:
                stream.write(_json_line(to_acp_product(group)))
                group = []
            group.append(record)
            count += 1
        if group:
            stream.write(_json_line(to_acp_product(group)))
    return count
