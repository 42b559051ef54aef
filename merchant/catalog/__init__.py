"""Catalog: products and variants, feed ingest, export and publication."""
