"""Dependencies shared by routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def get_session(request: Request) -> AsyncSession:  # async: no thread-pool hop
    session = getattr(request.state, "db_session", None)
    if session is None:
        raise RuntimeError("the route must use TransactionalRoute to get a database session")
    return session  # type: ignore[no-any-return]


SessionDep = Annotated[AsyncSession, Depends(get_session)]
