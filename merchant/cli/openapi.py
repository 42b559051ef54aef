"""``merchant openapi``: our own OpenAPI documents, kept in openapi/."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from merchant.app import create_app
from merchant.cli._common import fail
from merchant.config import Settings
from merchant.http.openapi import build_openapi

app = typer.Typer(help="OpenAPI documents.", no_args_is_help=True)

DOCUMENT_NAME = "merchant.json"


def render() -> str:
    # Building the app touches no database: the lifespan is not run.
    document = build_openapi(create_app(Settings(database_url="postgresql://unused/unused")))
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


@app.command("export")
def export(
    directory: Path = typer.Option(Path("openapi"), "--dir", help="Where the documents live"),
    check: bool = typer.Option(False, "--check", help="Fail if the files differ from the code"),
) -> None:
    """Write the OpenAPI document(s), or with --check verify they are current."""
    target = directory / DOCUMENT_NAME
    text = render()
    if check:
        if not target.exists() or target.read_text() != text:
            raise fail(f"{target} is out of date: run `merchant openapi export`")
        typer.echo(f"{target} is current")
        return
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    typer.echo(f"wrote {target}")
