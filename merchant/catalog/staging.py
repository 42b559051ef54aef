"""Bulk load: COPY mapped rows into a temporary staging table, then merge in SQL.

All of it runs on the caller's transaction (one psycopg connection): the live
catalog changes only if the whole file was read, and then all at once.

Merge rules:
- duplicate item ids in one file: the first row wins, later ones become row errors;
- upsert only rows that changed (``IS DISTINCT FROM``), so a re-upload is cheap;
- an empty ``inventory_quantity`` keeps the stored count (feeds rarely carry stock;
  staff set it through the inventory endpoint);
- ``snapshot`` delists (never deletes) listed variants absent from the file, except
  those whose row was rejected: a typo in one row must not take an item off sale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import orjson
import psycopg

from merchant.catalog.records import VARIANT_FIELDS, Media, RowError, VariantRecord

STAGE = "catalog_stage"
REJECTED = "catalog_stage_rejected"
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


@dataclass(frozen=True, slots=True)
class MergeCounts:
    duplicates: int
    created: int
    updated: int
    delisted: int


def _media_json(media: tuple[Media, ...]) -> str:
    if not media:
        return "[]"
    items = []
    for m in media:
        item: dict[str, Any] = {"type": m.type, "url": m.url}
        if m.alt_text is not None:
            item["alt_text"] = m.alt_text
        if m.width is not None:
            item["width"] = m.width
        if m.height is not None:
            item["height"] = m.height
        items.append(item)
    return orjson.dumps(items).decode()


def _json(value: Any) -> str:
    return orjson.dumps(value).decode() if value else ("{}" if isinstance(value, dict) else "[]")


def _enum(value: Any) -> Any:
    return value.value if value is not None else None


# Per-column conversions to COPY values; every other field is written as it is.
_CONVERT: dict[str, Callable[[Any], Any]] = {
    "media": _media_json,
    "variant_options": _json,
    "attributes": _json,
    "availability": _enum,
    "condition": _enum,
    "target_countries": list,
}
_VARIANT_VALUES = attrgetter(*VARIANT_FIELDS)  # one C call for every field, in column order
_CONVERSIONS = tuple((VARIANT_FIELDS.index(name), convert) for name, convert in _CONVERT.items())


def stage_row(line: int, record: VariantRecord) -> tuple[Any, ...]:
    """One COPY row in ``STAGE_COLUMNS`` order (hot path: runs once per accepted row)."""
    values = list(_VARIANT_VALUES(record))
    for index, convert in _CONVERSIONS:
        values[index] = convert(values[index])
    product = record.product
    return (
        line,
        *values,
        product.title,
        product.description,
        product.url,
        _media_json(product.media),
        _json(product.attributes),
    )


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


async def drop_stage(conn: psycopg.AsyncConnection[Any]) -> None:
    """Drop the staging tables now (they would go at commit; savepoint callers reuse the session)."""
    await conn.execute(f"DROP TABLE IF EXISTS {STAGE}, {REJECTED}")


async def copy_records(conn: psycopg.AsyncConnection[Any], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    async with (
        conn.cursor() as cursor,
        cursor.copy(f"COPY {STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            await copy.write_row(row)


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


async def merge(
    conn: psycopg.AsyncConnection[Any], *, run_id: str, next_seq: int, snapshot: bool
) -> MergeCounts:
    """Apply the staged rows to the live catalog (same transaction as the COPY)."""
    await conn.execute(f"ANALYZE {STAGE}")
    duplicates = await _drop_duplicates(conn, run_id, next_seq)
    await _upsert_products(conn)
    created, updated = await _upsert_variants(conn, run_id)
    delisted = await _delist_missing(conn, run_id) if snapshot else 0
    await drop_stage(conn)
    return MergeCounts(duplicates=duplicates, created=created, updated=updated, delisted=delisted)


async def _drop_duplicates(conn: psycopg.AsyncConnection[Any], run_id: str, next_seq: int) -> int:
    return await _scalar_int(
        conn,
        f"""
        WITH ranked AS (
            SELECT ctid AS row_ref, line, id,
                   first_value(line) OVER (PARTITION BY id ORDER BY line) AS first_line,
                   row_number() OVER (PARTITION BY id ORDER BY line) AS n
            FROM {STAGE}
        ), dropped AS (
            DELETE FROM {STAGE} s USING ranked r
            WHERE s.ctid = r.row_ref AND r.n > 1
            RETURNING s.line, s.id, r.first_line
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
    await conn.execute(
        f"""
        INSERT INTO catalog_product AS p (id, title, description, url, media, attributes)
        SELECT DISTINCT ON (product_id) product_id, product_title, product_description, product_url,
               product_media, product_attributes
        FROM {STAGE} ORDER BY product_id, line
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
              AND NOT EXISTS (SELECT 1 FROM {STAGE} s WHERE s.id = v.id)
              AND NOT EXISTS (SELECT 1 FROM {REJECTED} r WHERE r.id = v.id)
            RETURNING 1
        )
        SELECT count(*) FROM delisted
        """,
        {"run": run_id},
    )
