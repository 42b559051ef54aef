"""One transaction per request: the route class owns the unit of work."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from merchant.db.transaction import transaction
from merchant.http.hygiene import refuse_unsafe_json


class TransactionalRoute(APIRoute):
    """Opens the session before the handler and commits once the response is built.

    An unsafe JSON body is refused before the session opens (``merchant.http.hygiene``).

    Commit happens before the response is sent, so a client never sees success for
    a change that did not commit; any exception rolls everything back.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run_in_transaction(request: Request) -> Response:
            refused = await refuse_unsafe_json(request)
            if refused is not None:
                return refused
            async with transaction(request.app.state.sessions) as session:
                request.state.db_session = session
                return await handler(request)

        return run_in_transaction
