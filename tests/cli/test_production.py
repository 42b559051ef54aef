"""Commands under MERCHANT_ENV=production (real subprocesses, real database).

Before: ``merchant keys signing KEY --generate-secret`` left the key on ``verify_if_present`` in
production too (unsigned requests still passed), and ``merchant platforms add`` stored a clear-text
http or private-address webhook URL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from merchant.db import create_sessionmaker, transaction
from tests.cli.helpers import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("committed")]


@pytest.fixture
def production_env(subprocess_env: dict[str, str], database_url: str) -> dict[str, str]:
    # The test server trusts local connections: any non-placeholder password passes its check.
    url = make_url(database_url).set(password="s3cret-Prod-Test").render_as_string(hide_password=False)
    return {
        **subprocess_env,
        "MERCHANT_ENV": "production",
        "MERCHANT_DATABASE_URL": url,
        "MERCHANT_STRIPE_API_KEY": "sk_test_production0123456789",
        "MERCHANT_STRIPE_WEBHOOK_SECRET": "whsec_production0123456789",
        "MERCHANT_PUBLIC_URL": "https://shop.example",
    }


async def test_signing_material_turns_require_on(
    production_env: dict[str, str], committed: AsyncEngine
) -> None:
    created = run_cli("keys", "create", "--role", "agent", "--name", "Signer", env=production_env)
    assert created.returncode == 0, created.stderr
    key_id = created.stdout.strip().split(".")[0]
    done = run_cli("keys", "signing", key_id, "--generate-secret", env=production_env)
    assert done.returncode == 0, done.stderr
    assert "signature policy require" in done.stderr
    async with transaction(create_sessionmaker(committed)) as session:
        query = text("SELECT signature_policy FROM api_key WHERE id = :id")
        assert await session.scalar(query, {"id": key_id}) == "require"
    relaxed = run_cli("keys", "signing", key_id, "--policy", "verify_if_present", env=production_env)
    assert "signature policy verify_if_present" in relaxed.stderr  # an explicit choice stays possible


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://1.1.1.1/hooks", "must be https"),
        ("https://127.0.0.1/hooks", "Events are not sent to this webhook URL"),
    ],
)
def test_platform_webhook_urls_must_be_https_and_public(
    production_env: dict[str, str], url: str, message: str
) -> None:
    result = run_cli("platforms", "add", "--name", "Agent Co", "--webhook-url", url, env=production_env)
    assert result.returncode == 1, result.stdout
    assert message in result.stderr
    listed = run_cli("platforms", "list", "--json", env=production_env)
    assert listed.stdout == ""
    good = run_cli(
        "platforms", "add", "--name", "Agent Co", "--webhook-url", "https://1.1.1.1/h", env=production_env
    )
    assert good.returncode == 0, good.stderr
