"""The wire format of each ACP version we serve, picked per request by its ``API-Version``.

Routes parse requests and render answers through ``wire_for(version)``; the core
(``checkout.service``, ``complete``, ``evaluate``) sees only the canonical model. FastAPI parses a
body with the 2026-04-17 models (a superset of every older request shape we serve); an older
version's ``Wire`` validates it again with its own, narrower, models.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from merchant.checkout import wire_2026_01_30 as v2026_01_30
from merchant.checkout import wire_2026_04_17 as v2026_04_17
from merchant.checkout.complete import CompleteRequest
from merchant.checkout.service import Changes, NewSession, View
from merchant.merchant_config import MerchantConfig
from merchant.orders import wire_2026_01_30 as orders_2026_01_30
from merchant.orders import wire_2026_04_17 as orders_2026_04_17
from merchant.orders.service import OrderView

Json = dict[str, Any]
M = TypeVar("M", bound=BaseModel)


class RenderSession(Protocol):
    def __call__(
        self,
        view: View,
        *,
        links: list[Json],
        now: datetime,
        locale: str = "en",
        capabilities: Json | None = None,
    ) -> Json: ...


@dataclass(frozen=True, slots=True)
class Wire:
    version: str
    create_in: type[v2026_04_17.CreateIn]
    update_in: type[v2026_04_17.UpdateIn]
    complete_in: type[v2026_04_17.CompleteIn]
    render_session: RenderSession
    render_capabilities: Callable[[MerchantConfig, list[str]], Json]
    render_order: Callable[[OrderView], Json]

    def new_session(self, body: v2026_04_17.CreateIn) -> NewSession:
        return _as(self.create_in, body).to_new_session()

    def changes(self, body: v2026_04_17.UpdateIn) -> Changes:
        return _as(self.update_in, body).to_changes()

    def complete_request(self, body: v2026_04_17.CompleteIn, forwarded: str | None) -> CompleteRequest:
        return _as(self.complete_in, body).to_request(forwarded)


def _as(model: type[M], body: BaseModel) -> M:
    """``body`` as ``model``: itself when it already is one, else validated again (what was sent)."""
    if type(body) is model:
        return body
    try:
        return model.model_validate(body.model_dump(exclude_unset=True))
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


WIRES = {
    wire.version: wire
    for wire in (
        Wire(
            v2026_04_17.VERSION,
            v2026_04_17.CreateIn,
            v2026_04_17.UpdateIn,
            v2026_04_17.CompleteIn,
            v2026_04_17.render_session,
            v2026_04_17.render_capabilities,
            orders_2026_04_17.render_order,
        ),
        Wire(
            v2026_01_30.VERSION,
            v2026_01_30.CreateIn,
            v2026_01_30.UpdateIn,
            v2026_01_30.CompleteIn,
            v2026_01_30.render_session,
            v2026_01_30.render_capabilities,
            orders_2026_01_30.render_order,
        ),
    )
}


def wire_for(version: str) -> Wire:
    """The wire of a version ``versioning.api_version`` accepted (every supported one has one)."""
    return WIRES[version]
