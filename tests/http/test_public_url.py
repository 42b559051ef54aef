"""Links we hand out (discovery ``api_base_url``, order ``permalink_url``) never come from Host.

Before: without ``[shop] public_url`` both were built from ``request.base_url``, i.e. from the
request's Host header, so a forged Host put an attacker's origin into a buyer's order link.
Now: ``MERCHANT_PUBLIC_URL`` (or ``[shop] public_url``), required in production, else the bind
address.
"""

from __future__ import annotations

import httpx
import pytest

from merchant.config import Settings
from merchant.merchant_config import parse_merchant_config, public_base
from merchant.payments.stripe_emulator import StripeEmulator
from tests.checkout.purchase import Agent

FORGED = {"Host": "evil.example"}


async def test_discovery_ignores_a_forged_host(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/acp.json", headers=FORGED)
    assert response.status_code == 200, response.text
    assert response.json()["api_base_url"] == "http://merchant.test"  # the configured public URL


@pytest.mark.usefixtures("committed")
async def test_the_permalink_ignores_a_forged_host(agent: Agent, stripe: StripeEmulator) -> None:
    agent.headers = {**agent.headers, **FORGED}
    order = await agent.buy(stripe)
    assert order["permalink_url"].startswith("http://merchant.test/")
    assert "evil.example" not in order["permalink_url"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:8123"),
        ("shop.local", "http://shop.local:8123"),
        ("::1", "http://[::1]:8123"),
    ],
)
def test_without_a_public_url_the_bind_address(host: str, expected: str) -> None:
    config = parse_merchant_config({})
    assert public_base(Settings(host=host, port=8123), config) == expected


def test_the_variable_overrides_the_toml() -> None:
    config = parse_merchant_config({"shop": {"public_url": "https://toml.example/acp/"}})
    assert public_base(Settings(), config) == "https://toml.example/acp"
    assert public_base(Settings(public_url="https://env.example"), config) == "https://env.example"
