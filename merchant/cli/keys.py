"""``merchant keys``: create, list and revoke API keys."""

from __future__ import annotations

import json

import typer

from merchant.cli._common import fail, load_settings, run_in_transaction
from merchant.errors import DomainError
from merchant.identity import service as identity_service
from merchant.identity.roles import Role

app = typer.Typer(help="API keys for agents and staff.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(..., help="agent (ACP caller), admin, operator or viewer"),
    name: str = typer.Option(..., help="Who or what holds the key"),
) -> None:
    """Create a key and print its secret: it is shown this once only."""
    created = run_in_transaction(
        load_settings(), lambda session: identity_service.create_key(session, role=role, name=name)
    )
    typer.secho(f"Created {created.key.role.value} key {created.key.id} ({created.key.name}).", err=True)
    typer.secho("Store the secret now; it cannot be shown again:", err=True)
    typer.echo(created.token)


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include revoked keys"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
) -> None:
    """List keys (never their secrets)."""
    keys = run_in_transaction(
        load_settings(), lambda session: identity_service.list_keys(session, include_revoked=all_)
    )
    rows = [
        {
            "id": k.id,
            "role": k.role.value,
            "name": k.name,
            "created_at": k.created_at.isoformat(),
            "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None,
        }
        for k in keys
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    typer.echo(f"{'ID':<21} {'ROLE':<9} {'CREATED':<26} {'REVOKED':<26} NAME")
    for row in rows:
        revoked = row["revoked_at"] or "-"
        typer.echo(f"{row['id']:<21} {row['role']:<9} {row['created_at']:<26} {revoked:<26} {row['name']}")


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key id (key_...)")) -> None:
    """Revoke a key: it stops authenticating at once."""
    try:
        key = run_in_transaction(
            load_settings(), lambda session: identity_service.revoke_key(session, key_id)
        )
    except DomainError as exc:
        raise fail(exc.message) from exc
    typer.echo(f"Revoked {key.id} ({key.name}).")
