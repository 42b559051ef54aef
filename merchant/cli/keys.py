"""``merchant keys``: create, list and revoke API keys; configure request signing."""

from __future__ import annotations

import json
import secrets

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from merchant.cli._common import fail, load_settings, run_in_transaction
from merchant.errors import DomainError
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.identity.signatures import SignaturePolicy, default_policy
from merchant.platforms import service as platforms

app = typer.Typer(help="API keys for agents and staff.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(..., help="agent (ACP caller), admin, operator or viewer"),
    name: str = typer.Option(..., help="Who or what holds the key"),
    platform: str | None = typer.Option(
        None, help="Agent keys: the agent platform (name or id) whose orders' events it gets"
    ),
) -> None:
    """Create a key and print its secret: it is shown this once only."""

    async def work(session: AsyncSession) -> identity_service.CreatedKey:
        platform_id = (await platforms.find(session, platform)).id if platform else None
        return await identity_service.create_key(session, role=role, name=name, platform_id=platform_id)

    try:
        created = run_in_transaction(load_settings(), work)
    except DomainError as exc:
        raise fail(exc.message) from exc
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
            "platform_id": k.platform_id,
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


@app.command("signing")
def signing(
    key_id: str = typer.Argument(..., help="The key id (key_...)"),
    generate_secret: bool = typer.Option(
        False, "--generate-secret", help="Create an HMAC-SHA256 shared secret and print it once"
    ),
    public_key: str | None = typer.Option(
        None, "--public-key", help="The caller's Ed25519 public key (base64url, 32 bytes)"
    ),
    policy: SignaturePolicy | None = typer.Option(
        None,
        "--policy",
        help="off, verify_if_present or require (adding key material: require in production, "
        "verify_if_present elsewhere)",
    ),
    clear: bool = typer.Option(False, "--clear", help="Forget the stored secret and public key"),
) -> None:
    """Configure how the caller signs its requests (ACP Signature + Timestamp headers)."""
    secret = secrets.token_urlsafe(32) if generate_secret else None
    settings = load_settings()
    default = default_policy(production=settings.is_production)
    try:
        key = run_in_transaction(
            settings,
            lambda session: identity_service.configure_signing(
                session, key_id, policy=policy, secret=secret, public_key=public_key, clear=clear,
                default=default,
            ),
        )  # fmt: skip
    except DomainError as exc:
        raise fail(exc.message) from exc
    material = [
        name
        for name, value in (("HMAC secret", key.signing_secret), ("Ed25519 key", key.signing_public_key))
        if value
    ]
    described = ", ".join(material) or "no key material"
    typer.secho(f"{key.id}: signature policy {key.signature_policy.value}; {described}.", err=True)
    if secret is not None:
        typer.secho("Give this shared secret to the caller now; it is not shown again:", err=True)
        typer.echo(secret)
