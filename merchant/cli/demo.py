"""``merchant demo``: load the demo catalog, create an agent key, buy something, ship it.

By default the demo runs the service itself (embedded PostgreSQL, in-process Stripe emulator) on
a free local port; ``--url`` points it at a ``merchant serve`` already running on this machine
in development (it finds that server's Stripe emulator through the data directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import typer
import uvicorn
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog import ingest
from merchant.catalog.records import FeedMode
from merchant.cli._common import database, ensure_schema, fail, load_settings
from merchant.config import Settings, get_settings
from merchant.db import create_engine, create_sessionmaker
from merchant.db.transaction import transaction
from merchant.demo.script import Agent, DemoResult, run_purchase
from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from merchant.jobs.worker import run_worker
from merchant.kit.clock import utc_now
from merchant.orders import operations
from merchant.payments.models import Payment
from merchant.payments.operations import Payments
from merchant.payments.setup import EMULATOR_API_KEY, EMULATOR_URL_FILE, build_gateway, start_emulator
from merchant.payments.stripe_gateway import SPT_STRIPE_VERSION, stripe_client
from merchant.platforms import service as platforms
from merchant.webhooks.receiver import WebhookReceiver

# soft_wrap: a URL or JSON line is printed whole, never folded at the console width (a folded
# permalink cannot be copied, and tests read the lines).
console = Console(soft_wrap=True)
DEMO_PLATFORM = "Demo agent platform"
DEMO_SECRET = "whsec_demo_platform"  # shared with the demo receiver; a demo, not a secret


def demo(
    url: str | None = typer.Option(None, help="A running `merchant serve` (default: run one here)"),
) -> None:
    """Run a scripted ACP purchase end to end and print every protocol step and the order."""
    settings = load_settings()
    if settings.is_production:
        raise fail("the demo runs in development only (it uses the Stripe emulator)")
    db_url, embedded = database(settings)
    ensure_schema(db_url, migrate=embedded or settings.auto_migrate)
    os.environ["MERCHANT_DATABASE_URL"] = db_url
    if url:
        _use_running_emulator(settings)
    elif not settings.stripe_api_key:
        emulator = start_emulator()
        os.environ["MERCHANT_STRIPE_API_KEY"], os.environ["MERCHANT_STRIPE_API_BASE"] = (
            EMULATOR_API_KEY,
            emulator.url,
        )
    get_settings.cache_clear()
    settings = get_settings()
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(WebhookReceiver(DEMO_SECRET))  # the agent platform's receiver
        token = asyncio.run(_prepare(settings, db_url, receiver.url))
        base = url or stack.enter_context(_serving(settings))
        with httpx.Client(base_url=base, timeout=30) as client:
            result = run_purchase(
                Agent(client, token, console), lambda total, cur: _mint(settings, total, cur)
            )
        asyncio.run(_ship(settings, db_url, result))
        asyncio.run(_deliver_events(settings, db_url, receiver))


def _use_running_emulator(settings: Settings) -> None:
    if settings.stripe_api_key:
        return
    path = settings.data_dir / EMULATOR_URL_FILE
    if not path.exists():
        raise fail(f"no Stripe emulator announced in {path}: is `merchant serve` running in development?")
    os.environ["MERCHANT_STRIPE_API_KEY"], os.environ["MERCHANT_STRIPE_API_BASE"] = (
        EMULATOR_API_KEY,
        path.read_text().strip(),
    )


async def _prepare(settings: Settings, db_url: str, webhook_url: str) -> str:
    """Load the demo catalog, point the demo platform at the receiver, create an agent key."""
    engine = create_engine(db_url, settings)
    try:
        sessions = create_sessionmaker(engine)
        with resources.as_file(resources.files("merchant.demo") / "catalog.csv") as path:
            run = await _import(sessions, path)
        console.print(f"Demo catalog: {run.rows_accepted} items loaded ({run.status})")
        async with transaction(sessions) as session:
            platform = await platforms.by_name(session, DEMO_PLATFORM)
            if platform is None:
                added = await platforms.add(
                    session,
                    name=DEMO_PLATFORM,
                    webhook_url=webhook_url,
                    signing_secret=DEMO_SECRET,
                    policy=platforms.WebhookPolicy(require_https=False, allow_private=True),  # local
                    now=utc_now(),
                )
                platform = added.platform
            platform.webhook_url, platform.signing_secret = webhook_url, DEMO_SECRET
            created = await identity_service.create_key(
                session, role=Role.agent, name="Demo agent", platform_id=platform.id
            )
        console.print(
            f"Agent key {created.key.id} created for {DEMO_PLATFORM}; its events go to {webhook_url}"
        )
        return created.token
    finally:
        await engine.dispose()


async def _import(sessions: async_sessionmaker[AsyncSession], path: Path) -> Any:
    async with transaction(sessions) as session:
        run = await ingest.create_run(
            session,
            source_kind="file",
            source="merchant demo catalog",
            mode=FeedMode.UPSERT,
            fmt=None,
            requested_by="demo",
            size_bytes=None,
        )
    return await ingest.run_ingest(sessions, run.id, ingest.FeedInput.from_path(path))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """The API in a thread of this process, on a free port."""
    from merchant.app import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="demo-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise fail("the demo API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _mint(settings: Settings, total: int, currency: str) -> str:
    """A shared payment token from Stripe's test helper (the emulator implements it too)."""

    async def mint() -> str:
        client = stripe_client(settings.stripe_api_key or "", api_base=settings.stripe_api_base, timeout=10)
        expires = int((utc_now() + timedelta(hours=1)).timestamp())
        response = await client.raw_request_async(
            "post",
            "/v1/test_helpers/shared_payment/granted_tokens",
            payment_method="pm_card_visa",
            usage_limits={"currency": currency, "max_amount": total, "expires_at": expires},
            stripe_version=SPT_STRIPE_VERSION,
        )
        return str(client.deserialize(response, api_mode="V1")["id"])

    return asyncio.run(mint())


async def _deliver_events(settings: Settings, db_url: str, receiver: WebhookReceiver) -> None:
    """Run the webhook jobs once, as `merchant worker` would, and show what the platform got."""
    console.rule("7. Order events reach the agent platform (signed, Merchant-Signature)")
    loopback = settings.model_copy(update={"outbound_allow_private": True})  # the receiver is local
    await run_worker(db_url, loopback, concurrency=1, queues=["webhooks"], wait=False)
    for event in receiver.wait_for(2, timeout=20):
        console.print(
            f"  {event.event_id} {event.type}: order {event.order_id} {event.status} (signature verified)"
        )
        console.print(f"    {json.dumps(event.body)[:400]}", style="dim", highlight=False, markup=False)


async def _ship(settings: Settings, db_url: str, result: DemoResult) -> None:
    """Staff ship the order: the authorization is captured."""
    console.rule("6. Staff ship the order (the payment is captured at fulfilment)")
    engine = create_engine(db_url, settings)
    gateway, emulator = build_gateway(settings)
    try:
        payments = Payments(create_sessionmaker(engine), gateway)
        shipment = operations.Shipment(carrier="UPS", tracking_number="1Z999AA10123456784")
        view = await operations.fulfil(payments, result.order["id"], shipment, now=utc_now())
        async with transaction(payments.sessions) as session:
            payment = await session.get(Payment, view.order.payment_id or "")
        captured = f"{payment.amount_captured} of {payment.amount} captured" if payment else "no payment"
        console.print(f"  order {view.number}: {view.order.status}, payment {captured}")
    finally:
        await engine.dispose()
        if emulator is not None:
            emulator.stop()
