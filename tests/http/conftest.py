"""Callers for the edge tests: an agent key (with the demo catalog loaded) and an admin key."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.identity import service as identity_service
from merchant.identity.roles import Role
from tests.catalog.helpers import FEEDS, run_feed
from tests.checkout.test_routes import Keys, agent_key

Headers = dict[str, str]


@pytest.fixture
async def acp(session: AsyncSession, sessions: async_sessionmaker[AsyncSession]) -> Headers:
    """An agent platform's headers; the catalog has the demo feed's variants (``mug``...)."""
    await run_feed(sessions, FEEDS / "openai.csv")
    return await agent_key(session)


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
async def staff(session: AsyncSession) -> Headers:
    created = await identity_service.create_key(session, role=Role.admin, name="staff")
    await session.commit()
    return {"Authorization": f"Bearer {created.token}"}
