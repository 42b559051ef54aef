"""``merchant platforms``: the agent platforms that call us and receive our order events."""

from __future__ import annotations

import json

import typer

from merchant.cli._common import fail, load_settings, run_in_transaction
from merchant.errors import DomainError
from merchant.kit.clock import utc_now
from merchant.platforms import service as platforms
from merchant.platforms.service import EVENT_VERSIONS

app = typer.Typer(help="Agent platforms: webhook receivers for order events.", no_args_is_help=True)


@app.command("add")
def add(
    name: str = typer.Option(..., help="The platform's name (unique)"),
    webhook_url: str | None = typer.Option(
        None, help="Where order_create / order_update events go (https in production, public addresses)"
    ),
    secret: str | None = typer.Option(
        None, help="The Merchant-Signature secret agreed with the platform (default: generated, printed once)"
    ),
    acp_version: str = typer.Option(EVENT_VERSIONS[0], help=f"Payload shape: {', '.join(EVENT_VERSIONS)}"),
) -> None:
    """Add a platform; agent keys are then created with `merchant keys create --platform NAME`."""
    settings = load_settings()
    try:
        added = run_in_transaction(
            settings,
            lambda session: platforms.add(
                session, name=name, webhook_url=webhook_url, signing_secret=secret, acp_version=acp_version,
                policy=platforms.webhook_policy(settings), now=utc_now(),
            ),
        )  # fmt: skip
    except DomainError as exc:
        raise fail(exc.message) from exc
    platform = added.platform
    typer.secho(
        f"Added platform {platform.id} ({platform.name}), events: {platform.webhook_url or 'none'}.", err=True
    )
    if added.secret_generated:
        typer.secho("Give the platform this signing secret now; it is not shown again:", err=True)
        typer.echo(platform.signing_secret)


@app.command("list")
def list_(
    all_: bool = typer.Option(False, "--all", help="Include removed platforms"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table"),
) -> None:
    """List platforms (never their secrets)."""
    found = run_in_transaction(
        load_settings(), lambda session: platforms.list_platforms(session, include_removed=all_)
    )
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "webhook_url": p.webhook_url,
            "acp_version": p.acp_version,
            "created_at": p.created_at.isoformat(),
            "removed_at": p.removed_at.isoformat() if p.removed_at else None,
        }
        for p in found
    ]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    typer.echo(f"{'ID':<22} {'VERSION':<11} {'NAME':<30} WEBHOOK URL")
    for row in rows:
        typer.echo(f"{row['id']:<22} {row['acp_version']:<11} {row['name']:<30} {row['webhook_url'] or '-'}")


@app.command("remove")
def remove(platform: str = typer.Argument(..., help="Name or id")) -> None:
    """Stop sending a platform events (its past orders and events are kept)."""
    try:
        removed = run_in_transaction(
            load_settings(), lambda session: platforms.remove(session, platform, now=utc_now())
        )
    except DomainError as exc:
        raise fail(exc.message) from exc
    typer.echo(f"Removed {removed.id}.")
