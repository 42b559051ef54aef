"""Write a synthetic OpenAI flat-file product feed (CSV, 23 columns) of N rows.

    python bench/feed_generate.py 1000000 /tmp/feed-1m.csv [--seed 7] [--gzip]

Deterministic for a seed. Products come in groups of 1-4 variants (colour x size), every
GTIN has a valid check digit, prices mix USD, EUR, JPY (0 decimals) and KWD (3 decimals),
and about 1 row in 200 is deliberately bad (wrong check digit, price with too many decimals,
missing brand) so the benchmark also exercises the row-error path.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import random
from collections.abc import Iterator
from pathlib import Path

COLUMNS = (
    "item_id",
    "group_id",
    "listing_has_variations",
    "variant_dict",
    "title",
    "description",
    "url",
    "brand",
    "seller_name",
    "image_url",
    "additional_image_urls",
    "availability",
    "price",
    "sale_price",
    "gtin",
    "mpn",
    "condition",
    "product_category",
    "is_eligible_search",
    "is_eligible_checkout",
    "inventory_quantity",
    "weight",
    "item_weight_unit",
)
COLOURS = ("Red", "Blue", "Green", "Black")
SIZES = ("S", "M", "L", "XL")
BRANDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark")
CATEGORIES = ("Apparel > Tops", "Home > Kitchen", "Sports > Running", "Toys > Puzzles")
AVAILABILITY = ("in_stock", "in_stock", "in_stock", "out_of_stock", "pre_order", "backorder")
CURRENCIES = (("USD", 2), ("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3))
BAD_EVERY = 200


def gtin13(n: int) -> str:
    body = f"{n % 10**12:012d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def money(rng: random.Random, currency: str, exponent: int) -> str:
    minor = rng.randint(100, 50_000) * (100 if exponent == 0 else 1)
    if exponent == 0:
        return f"{minor} {currency}"
    return f"{minor // 10**exponent}.{minor % 10**exponent:0{exponent}d} {currency}"


def rows(count: int, seed: int) -> Iterator[list[str]]:
    rng = random.Random(seed)
    made = 0
    product = 0
    while made < count:
        product += 1
        colours = rng.sample(COLOURS, rng.randint(1, 2))
        sizes = rng.sample(SIZES, rng.randint(1, 2))
        brand = rng.choice(BRANDS)
        currency, exponent = rng.choice(CURRENCIES)
        price = money(rng, currency, exponent)
        category = rng.choice(CATEGORIES)
        group = f"p{product:08d}"
        variants = [(c, s) for c in colours for s in sizes]
        for colour, size in variants:
            if made >= count:
                return
            made += 1
            item = f"{group}-{colour}-{size}".lower()
            row = [
                item,
                group,
                "true" if len(variants) > 1 else "false",
                f'{{"color": "{colour}", "size": "{size}"}}',
                f"{brand} Item {product} - {colour} / {size}",
                f"Synthetic product {product} in {colour.lower()}, size {size}. Washable, 100% cotton.",
                f"https://shop.example/p/{group}?v={item}",
                brand,
                "Bench Store",
                f"https://cdn.example/{group}/{colour.lower()}.jpg",
                f"https://cdn.example/{group}/{colour.lower()}-2.jpg,https://cdn.example/{group}/back.jpg",
                rng.choice(AVAILABILITY),
                price,
                "",
                gtin13(made * 7919),
                f"MPN-{made:09d}",
                "new",
                category,
                "true",
                "true",
                str(rng.randint(0, 500)),
                f"{rng.randint(1, 50) / 10:.1f}",
                "kg",
            ]
            if made % BAD_EVERY == 0:
                _spoil(row, made // BAD_EVERY)
            yield row


def _spoil(row: list[str], n: int) -> None:
    which = n % 3
    if which == 0:
        row[14] = row[14][:-1] + str((int(row[14][-1]) + 1) % 10)  # wrong check digit
    elif which == 1:
        amount, currency = row[12].split()
        row[12] = f"{amount}{'.' if '.' not in amount else ''}0001 {currency}"  # too many decimals
    else:
        row[7] = ""  # missing brand


def write(path: Path, count: int, seed: int, gzipped: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if gzipped else open
    with opener(path, "wt", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(rows(count, seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--gzip", action="store_true")
    args = parser.parse_args()
    write(args.out, args.rows, args.seed, args.gzip)


if __name__ == "__main__":
    main()
