"""``merchant db``: Alembic migrations."""

from __future__ import annotations

import typer

from merchant.cli._common import database, load_settings
from merchant.db import migrations

app = typer.Typer(help="Database migrations (Alembic).", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Apply migrations up to REVISION."""
    url, _ = database(load_settings())
    migrations.upgrade(url, revision)
    typer.echo(migrations.schema_state(url).describe())


@app.command("downgrade")
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base")) -> None:
    """Revert migrations down to REVISION."""
    url, _ = database(load_settings())
    migrations.downgrade(url, revision)
    typer.echo(f"database now at {migrations.current_revision(url) or 'base'}")


@app.command("current")
def current() -> None:
    """Show the database's revision and whether it is the code's head."""
    url, _ = database(load_settings())
    state = migrations.schema_state(url)
    typer.echo(state.current or "base")
    typer.echo(state.describe(), err=True)
    if not state.is_current:
        raise typer.Exit(1)


@app.command("revision")
def revision(
    message: str = typer.Option(..., "-m", "--message", help="What the revision does"),
    autogenerate: bool = typer.Option(True, help="Diff the models against the database"),
) -> None:
    """Create a new revision file in migrations/versions/."""
    url, _ = database(load_settings())
    migrations.revision(url, message, autogenerate=autogenerate)
