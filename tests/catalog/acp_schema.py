"""The official ACP JSON Schemas (feed, checkout) and examples, read from ``../shared/acp`` (never copied).

Tests that need them skip when the spec is not checked out next to the project.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry, Resource

ACP = Path(__file__).parents[2].parent / "shared" / "acp"
SCHEMA_PATH = ACP / "spec" / "2026-04-17" / "json-schema" / "schema.feed.json"
EXAMPLES_PATH = ACP / "examples" / "2026-04-17" / "examples.feed.json"


def checkout_schema_path(version: str) -> Path:
    """The official checkout JSON Schema bundle of an ACP version."""
    return ACP / "spec" / version / "json-schema" / "schema.agentic_checkout.json"


CHECKOUT_SCHEMA_PATH = checkout_schema_path("2026-04-17")

Json = dict[str, Any]


@functools.cache
def bundle(path: Path = SCHEMA_PATH) -> Json:
    if not path.exists():
        pytest.skip(f"the ACP spec is not checked out next to the project ({path})")
    loaded: Json = json.loads(path.read_text())
    return loaded


@functools.cache
def examples() -> Json:
    if not EXAMPLES_PATH.exists():
        pytest.skip(f"the ACP examples are not checked out next to the project ({EXAMPLES_PATH})")
    loaded: Json = json.loads(EXAMPLES_PATH.read_text())
    return loaded


@functools.cache
def validator(definition: str, path: Path = SCHEMA_PATH) -> Any:
    schema = bundle(path)
    registry: Registry[Any] = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    return Draft202012Validator({"$ref": f"{schema['$id']}#/$defs/{definition}"}, registry=registry)


def schema_problems(instance: Any, definition: str, path: Path = SCHEMA_PATH) -> list[str]:
    errors = validator(definition, path).iter_errors(instance)
    return [f"{error.json_path}: {error.message}" for error in errors]


def assert_schema_valid(instance: Any, definition: str = "Product") -> None:
    """Validate against the official schema; skips the test when the spec is not checked out."""
    assert schema_problems(instance, definition) == []


def check_schema(instance: Any, definition: str = "Product") -> None:
    """Like ``assert_schema_valid`` where the schema is a side check: a no-op without the spec."""
    if SCHEMA_PATH.exists():
        assert_schema_valid(instance, definition)


def schema_example(definition: str) -> Any:
    return copy.deepcopy(bundle()["$defs"][definition]["example"])
