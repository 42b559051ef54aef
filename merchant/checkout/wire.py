"""The wire format of each ACP version we serve, picked per request by its ``API-Version``.

Routes parse requests and render answers through ``wire_for(version)``; the core
(``checkout.service``, ``complete``, ``evaluate``) sees only the canonical model. Routes take the raw
JSON body (documented as 2026-04-17's); each version's ``Wire`` reads it with its own models, as
older shapes (``items``, nested ``selected_fulfillment_options``, ``payment_data.token``) are not
2026-04-17's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar, cast

from fastapi import Body
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, WithJsonSchema

from merchant.checkout import wire_2026_01_16 as v2026_01_16
from merchant.checkout import wire_2026_01_30 as v2026_01_30
from merchant.checkout import wire_2026_04_17 as v2026_04_17
from merchant.checkout.complete import CompleteRequest
from merchant.checkout.service import Changes, NewSession, View
from merchant.merchant_config import MerchantConfig
from merchant.orders import wire_2026_01_16 as orders_2026_01_16
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


class _Create(Protocol):
    def to_new_session(self) -> NewSession: ...


class _Update(Protocol):
    def to_changes(self) -> Changes: ...


class _Complete(Protocol):
    def to_request(self, forwarded: str | None) -> CompleteRequest: ...


class _CompleteWithProvider(Protocol):  # before 2026-01-30: the token names no handler
    def to_request(self, forwarded: str | None, handler_id: str) -> CompleteRequest: ...


@dataclass(frozen=True, slots=True)
class Wire:
    version: str
    create_in: type[BaseModel]
    update_in: type[BaseModel]
    complete_in: type[BaseModel]
    render_session: RenderSession
    render_capabilities: Callable[[MerchantConfig, list[str]], Json]
    render_order: Callable[[OrderView], Json]

    def new_session(self, body: Any, config: MerchantConfig) -> NewSession:
        new = cast(_Create, _parse(self.create_in, body)).to_new_session()
        return new if new.currency else replace(new, currency=config.shop.currency)

    def changes(self, body: Any) -> Changes:
        return cast(_Update, _parse(self.update_in, body)).to_changes()

    def complete_request(self, body: Any, forwarded: str | None, config: MerchantConfig) -> CompleteRequest:
        parsed = _parse(self.complete_in, body)
        if isinstance(parsed, v2026_01_16.CompleteIn):
            return cast(_CompleteWithProvider, parsed).to_request(forwarded, config.payments.card.id)
        return cast(_Complete, parsed).to_request(forwarded)


def _parse(model: type[M], body: Any) -> M:
    """The raw JSON ``body`` read by this version's ``model``; errors located as FastAPI's."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None


def _wire(
    version: str,
    checkout: Any,
    orders: Any,
    render_session: RenderSession | None = None,
    render_capabilities: Callable[[MerchantConfig, list[str]], Json] | None = None,
) -> Wire:
    return Wire(
        version,
        checkout.CreateIn,
        checkout.UpdateIn,
        checkout.CompleteIn,
        render_session or checkout.render_session,
        render_capabilities or checkout.render_capabilities,
        orders.render_order,
    )


WIRES = {
    wire.version: wire
    for wire in (
        _wire(v2026_04_17.VERSION, v2026_04_17, orders_2026_04_17),
        _wire(v2026_01_30.VERSION, v2026_01_30, orders_2026_01_30),
        _wire(v2026_01_16.VERSION, v2026_01_16, orders_2026_01_16),
        _wire(
            v2026_01_16.VERSION_2025_12_12,
            v2026_01_16,
            orders_2026_01_16,
            v2026_01_16.render_session_2025_12_12,
            v2026_01_16.render_capabilities_2025_12_12,
        ),
    )
}


def _documented_as(model: type[BaseModel]) -> WithJsonSchema:
    """A raw body, documented as 2026-04-17's ``model`` (``http.openapi`` adds its schema)."""
    return WithJsonSchema({"$ref": f"#/components/schemas/{model.__name__}"})


DOCUMENTED_BODIES = (v2026_04_17.CreateIn, v2026_04_17.UpdateIn, v2026_04_17.CompleteIn)
CreateBody = Annotated[Any, Body(), _documented_as(v2026_04_17.CreateIn)]
UpdateBody = Annotated[Any, Body(), _documented_as(v2026_04_17.UpdateIn)]
CompleteBody = Annotated[Any, Body(), _documented_as(v2026_04_17.CompleteIn)]


def wire_for(version: str) -> Wire:
    """The wire of a version ``versioning.api_version`` accepted (every supported one has one)."""
    return WIRES[version]
