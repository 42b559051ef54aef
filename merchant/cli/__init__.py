"""The ``merchant`` command line."""

from __future__ import annotations

import typer

from merchant.cli import catalog, db, demo, jobs, keys, openapi, platforms, serve

app = typer.Typer(
    name="merchant",
    help="Merchant backend for the Agentic Commerce Protocol.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve.serve)
app.command("worker")(jobs.worker)
app.command("demo")(demo.demo)
app.add_typer(db.app, name="db")
app.add_typer(keys.app, name="keys")
app.add_typer(platforms.app, name="platforms")
app.add_typer(catalog.app, name="catalog")
app.add_typer(jobs.app, name="jobs")
app.add_typer(openapi.app, name="openapi")


def main() -> None:
    app()
