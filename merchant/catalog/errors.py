"""Catalog domain errors (mapped to HTTP by ``merchant.http.errors`` through their bases)."""

from __future__ import annotations

from merchant.errors import NotFound, PayloadTooLarge


class ProductNotFound(NotFound):
    code = "product_not_found"


class FileTooLarge(PayloadTooLarge):
    code = "file_too_large"
