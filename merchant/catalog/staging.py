"""Bulk load: COPY mapped rows into a temporary staging table, merge them chunk by chunk.

All of it runs on the caller's transaction (one psycopg connection): the live
catalog changes only if the whole file was read, and then all at once. Each chunk
is merged as soon as it is staged, so PostgreSQL merges chunk N while Python maps
chunk N+1 (the two cores work at the same time); what must span the whole file
(ids already seen, rejected ids) lives in temporary tables until commit.

Merge rules:
- duplicate item ids in one file: the first row wins, later ones become row errors;
- a product's fields come from its first row in the file;
- upsert only rows that changed (``IS DISTINCT FROM``), so a re-upload is cheap;
- an empty ``inventory_quantity`` keeps the stored count (feeds rarely carry stock;
  staff set it through the inventory endpoint);
- ``snapshot`` delists (never deletes) listed variants absent from the file, except
  those whose row was rejected: a typo in one row must not take an item off sale.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import orjson
import psycopg

from merchant.catalog.records import VARIANT_FIELDS, Media, RowError, VariantRecord

STAGE = "catalog_stage"
REJECTED = "catalog_stage_rejected"
SEEN = "catalog_stage_seen"  # item ids merged by this run, with their line
SEEN_PRODUCTS = "catalog_stage_seen_products"
PRODUCT_FIELDS = (
    "product_title",
    "product_description",
    "product_url",
    "product_media",
    "product_attributes",
)
STAGE_COLUMNS: tuple[str, ...] = ("line", *VARIANT_FIELDS, *PRODUCT_FIELDS)
# Compared to decide whether a stored variant changed (inventory handled apart).
_COMPARED = tuple(f for f in VARIANT_FIELDS if f not in ("id", "inventory_quantity"))


@dataclass(slots=True)
class MergeCounts:
    """Totals over the chunks of one run, with the time PostgreSQL spent on each step."""

    duplicates: int = 0
    created: int = 0
    updated: int = 0
    delisted: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.timings[name] = round(self.timings.get(name, 0.0) + now - started, 3)
        return now


def _media_json(media: tuple[Media, ...]) -> str:
    return orjson.dumps([m.to_dict() for m in media]).decode() if media else "[]"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode() if value else ("{}" if isinstance(value, dict) else "[]")


def _enum(value: Any) -> str | None:
    return value.value if value is not None else None


def _number(value: Any) -> str | None:
    return str(value) if value is not None else None


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _countries(value: tuple[str, ...]) -> str:
    return "{" + ",".join(value) + "}"  # ISO 3166 codes ([A-Z]{2}, checked by the mappers)


# Per-column conversions to COPY text; every other field is already ``str | None``.
_CONVERT: dict[str, Callable[[Any], str | None]] = {
    "media": _media_json,
    "variant_options": _json,
    "attributes": _json,
    "availability": _enum,
    "condition": _enum,
    "target_countries": _countries,
    "price_amount": _number,
    "sale_price_amount": _number,
    "inventory_quantity": _number,
    "max_quantity_per_order": _number,
    "weight": _number,
    "length": _number,
    "width": _number,
    "height": _number,
    "is_digital": _bool,
    "is_eligible_search": _bool,
    "is_eligible_checkout": _bool,
}
_VARIANT_VALUES = attrgetter(*VARIANT_FIELDS)  # one C call for every field, in column order
_CONVERSIONS = tuple((VARIANT_FIELDS.index(name), convert) for name, convert in _CONVERT.items())
_SEPARATOR, _NULL = "\x00", "\x01"  # stand-ins while escaping; refused inside values
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class UnstageableRow(ValueError):
    """A value PostgreSQL text cannot hold (U+0000) or that clashes with our COPY stand-ins."""


def stage_row(line: int, record: VariantRecord) -> str:
    """One line of ``COPY ... FROM STDIN`` text in ``STAGE_COLUMNS`` order.

    Hot path (once per accepted row): the fields are joined with stand-in characters,
    escaped in one pass per escape (text format: backslash, tab, newline, carriage
    return), and the stand-ins then become tabs and ``\\N``.
    """
    values: list[Any] = list(_VARIANT_VALUES(record))
    for index, convert in _CONVERSIONS:
        values[index] = convert(values[index])
    product = record.product
    values += [
        product.title,
        product.description,
        product.url,
        _media_json(product.media),
        _json(product.attributes),
    ]
    nulls = values.count(None)
    joined = _SEPARATOR.join([str(line), *[_NULL if value is None else value for value in values]])
    if joined.count(_SEPARATOR) != len(values) or joined.count(_NULL) != nulls:
        raise UnstageableRow("a text value contains a control character U+0000 or U+0001")
    if "\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined:
        joined = joined.translate(_ESCAPES)
    return joined.replace(_NULL, "\\N").replace(_SEPARATOR, "\t") + "\n"


async def create_stage(conn: psycopg.AsyncConnection[Any]) -> None:
    variant_columns = ", ".join(VARIANT_FIELDS)
    await conn.execute(
        f"CREATE TEMP TABLE {STAGE} ON COMMIT DROP AS "
        f"SELECT 0::integer AS line, {variant_columns} FROM catalog_variant WITH NO DATA"
    )
    await conn.execute(
        f"ALTER TABLE {STAGE} ADD COLUMN product_title text, ADD COLUMN product_description text, "
        "ADD COLUMN product_url text, ADD COLUMN product_media jsonb, ADD COLUMN product_attributes jsonb"
    )
    await conn.execute(f"CREATE TEMP TABLE {REJECTED} (id text) ON COMMIT DROP")
    await conn.execute(f"CREATE TEMP TABLE {SEEN} (id text PRIMARY KEY, line integer) ON COMMIT DROP")
    await conn.execute(f"CREATE TEMP TABLE {SEEN_PRODUCTS} (id text PRIMARY KEY) ON COMMIT DROP")


async def drop_stage(conn: psycopg.AsyncConnection[Any]) -> None:
    """Drop the staging tables now (they would go at commit; savepoint callers reuse the session)."""
    await conn.execute(f"DROP TABLE IF EXISTS {STAGE}, {REJECTED}, {SEEN}, {SEEN_PRODUCTS}")


async def copy_records(conn: psycopg.AsyncConnection[Any], data: bytes) -> None:
    """COPY lines made by ``stage_row`` (already encoded) into the stage."""
    if not data:
        return
    async with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy,
    ):
        await copy.write(data)


async def copy_rejected(conn: psycopg.AsyncConnection[Any], item_ids: Sequence[str]) -> None:
    if not item_ids:
        return
    async with conn.cursor() as cursor, cursor.copy(f"COPY {REJECTED} (id) FROM STDIN") as copy:
        for item_id in item_ids:
            await copy.write_row((item_id,))


async def copy_errors(
    conn: psycopg.AsyncConnection[Any], run_id: str, first_seq: int, errors: Sequence[RowError]
) -> None:
    if not errors:
        return
    async with (
        conn.cursor() as cursor,
        cursor.copy(
            "COPY catalog_feed_row_error (run_id, seq, line, item_id, field, code, message) FROM STDIN"
        ) as copy,
    ):
        for seq, error in enumerate(errors, start=first_seq):
            await copy.write_row(
                (run_id, seq, error.line, error.item_id, error.field, error.code, error.message)
            )


async def _scalar_int(conn: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]) -> int:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def merge_chunk(
    conn: psycopg.AsyncConnection[Any], counts: MergeCounts, *, run_id: str, next_seq: int, staged: int
) -> int:
    """Merge the staged chunk into the catalog and empty the stage; returns its duplicates."""
    clock = time.perf_counter()
    duplicates = await _drop_duplicates(conn, run_id, next_seq, staged)
    clock = counts.lap("dedupe_s", clock)
    await _upsert_products(conn)
    clock = counts.lap("products_s", clock)
    created, updated = await _upsert_variants(conn, run_id)
    clock = counts.lap("variants_s", clock)
    await conn.execute(f"TRUNCATE {STAGE}")
    counts.duplicates += duplicates
    counts.created += created
    counts.updated += updated
    return duplicates


async def finish(
    conn: psycopg.AsyncConnection[Any], counts: MergeCounts, *, run_id: str, snapshot: bool
) -> None:
    """After the last chunk: delist what a snapshot no longer lists, drop the stage."""
    clock = time.perf_counter()
    if snapshot:
        await conn.execute(f"ANALYZE {SEEN}")
        counts.delisted = await _delist_missing(conn, run_id)
    counts.lap("delist_s", clock)
    await drop_stage(conn)


async def _drop_duplicates(
    conn: psycopg.AsyncConnection[Any], run_id: str, next_seq: int, staged: int
) -> int:
    """Rows whose item id came earlier (in this chunk or a previous one) become row errors."""
    cursor = await conn.execute(
        f"INSERT INTO {SEEN} (id, line) SELECT id, line FROM {STAGE} ORDER BY line "
        "ON CONFLICT (id) DO NOTHING"
    )
    if cursor.rowcount == staged:  # the usual case: every id is new
        return 0
    return await _scalar_int(
        conn,
        f"""
        WITH dropped AS (
            DELETE FROM {STAGE} s USING {SEEN} p
            WHERE p.id = s.id AND p.line <> s.line
            RETURNING s.line, s.id, p.line AS first_line
        ), recorded AS (
            INSERT INTO catalog_feed_row_error (run_id, seq, line, item_id, field, code, message)
            SELECT %(run)s, %(seq)s + row_number() OVER (ORDER BY line, id) - 1, line, id, 'item_id',
                   'duplicate_item_id',
                   'item id ' || id || ' already appears on line ' || first_line || '; the first row wins'
            FROM dropped
            RETURNING 1
        )
        SELECT count(*) FROM recorded
        """,
        {"run": run_id, "seq": next_seq},
    )


async def _upsert_products(conn: psycopg.AsyncConnection[Any]) -> None:
    """Products first met in this chunk, from their first row (later chunks do not override)."""
    await conn.execute(
        f"""
        WITH firsts AS (
            SELECT DISTINCT ON (product_id) product_id, product_title, product_description, product_url,
                   product_media, product_attributes
            FROM {STAGE} ORDER BY product_id, line
        ), fresh AS (
            INSERT INTO {SEEN_PRODUCTS} (id) SELECT product_id FROM firsts
            ON CONFLICT (id) DO NOTHING
            RETURNING id
        )
        INSERT INTO catalog_product AS p (id, title, description, url, media, attributes)
        SELECT f.product_id, f.product_title, f.product_description, f.product_url, f.product_media,
               f.product_attributes
        FROM firsts f JOIN fresh n ON n.id = f.product_id
        ON CONFLICT (id) DO UPDATE SET
            title = excluded.title, description = excluded.description, url = excluded.url,
            media = excluded.media, attributes = excluded.attributes, updated_at = now()
        WHERE (p.title, p.description, p.url, p.media, p.attributes)
              IS DISTINCT FROM (excluded.title, excluded.description, excluded.url, excluded.media,
                                excluded.attributes)
        """
    )


async def _upsert_variants(conn: psycopg.AsyncConnection[Any], run_id: str) -> tuple[int, int]:
    columns = ", ".join(VARIANT_FIELDS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COMPARED)
    stored = ", ".join(f"v.{c}" for c in _COMPARED)
    incoming = ", ".join(f"excluded.{c}" for c in _COMPARED)
    cursor = await conn.execute(
        f"""
        WITH upserted AS (
            INSERT INTO catalog_variant AS v ({columns}, last_feed_run_id, delisted_at)
            SELECT {columns}, %(run)s, NULL FROM {STAGE}
            ON CONFLICT (id) DO UPDATE SET
                {updates},
                inventory_quantity = coalesce(excluded.inventory_quantity, v.inventory_quantity),
                last_feed_run_id = excluded.last_feed_run_id,
                delisted_at = NULL,
                updated_at = now()
            WHERE ({stored}, v.delisted_at) IS DISTINCT FROM ({incoming}, NULL)
               OR (excluded.inventory_quantity IS NOT NULL
                   AND excluded.inventory_quantity IS DISTINCT FROM v.inventory_quantity)
            RETURNING (xmax = 0) AS inserted
        )
        SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM upserted
        """,
        {"run": run_id},
    )
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


async def _delist_missing(conn: psycopg.AsyncConnection[Any], run_id: str) -> int:
    return await _scalar_int(
        conn,
        f"""
        WITH delisted AS (
            UPDATE catalog_variant v SET delisted_at = now(), updated_at = now(), last_feed_run_id = %(run)s
            WHERE v.delisted_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM {SEEN} s WHERE s.id = v.id)
              AND NOT EXISTS (SELECT 1 FROM {REJECTED} r WHERE r.id = v.id)
            RETURNING 1
        )
        SELECT count(*) FROM delisted
        """,
        {"run": run_id},
    )
