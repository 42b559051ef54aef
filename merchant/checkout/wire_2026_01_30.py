"""ACP 2026-01-30 wire format, as its differences from 2026-04-17 (acp-spec.md §1.2, §1.3).

Requests: the 2026-04-17 models without what 2026-01-30 does not have (``order_notes``,
``marketing_consents``, ``Address.company``), which is refused as an unknown field. Responses:
the 2026-04-17 rendering with ``protocol.version``, without ``PaymentHandler.display_name`` /
``display_order`` and ``Address.company`` (its schemas are closed objects).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from pydantic import field_validator
from pydantic_core import PydanticCustomError

from merchant.checkout import wire_2026_04_17 as newer
from merchant.checkout.service import View
from merchant.merchant_config import MerchantConfig

VERSION = "2026-01-30"
Json = dict[str, Any]
_NEWER_HANDLER_FIELDS = ("display_name", "display_order")


def _not_in_this_version(value: Any) -> NoReturn:
    raise PydanticCustomError("extra_forbidden", f"Extra inputs are not permitted in API version {VERSION}")


# -- requests --------------------------------------------------------------------------------------


class AddressIn(newer.AddressIn):
    _no_company = field_validator("company", mode="before")(_not_in_this_version)


class FulfillmentDetailsIn(newer.FulfillmentDetailsIn):
    address: AddressIn | None = None


class CreateIn(newer.CreateIn):
    fulfillment_details: FulfillmentDetailsIn | None = None
    _no_order_notes = field_validator("order_notes", mode="before")(_not_in_this_version)


class UpdateIn(newer.UpdateIn):
    fulfillment_details: FulfillmentDetailsIn | None = None
    _no_order_notes = field_validator("order_notes", mode="before")(_not_in_this_version)


class PaymentDataIn(newer.PaymentDataIn):
    billing_address: AddressIn | None = None


class CompleteIn(newer.CompleteIn):
    payment_data: PaymentDataIn
    _no_newer_fields = field_validator("marketing_consents", "order_notes", mode="before")(
        _not_in_this_version
    )


# -- responses -------------------------------------------------------------------------------------


def _without_company(details: Json) -> Json:
    address = details.get("address")
    if not isinstance(address, dict) or "company" not in address:
        return details
    return {**details, "address": {k: v for k, v in address.items() if k != "company"}}


def render_capabilities(config: MerchantConfig, agent_interventions: list[str]) -> Json:
    capabilities = newer.render_capabilities(config, agent_interventions)
    for handler in capabilities["payment"]["handlers"]:
        for field in _NEWER_HANDLER_FIELDS:
            handler.pop(field, None)
    return capabilities


def render_session(
    view: View, *, links: list[Json], now: datetime, locale: str = "en", capabilities: Json | None = None
) -> Json:
    """The 2026-01-30 ``CheckoutSession`` object for ``view`` (also one created under 2026-04-17)."""
    body = newer.render_session(view, links=links, now=now, locale=locale, capabilities=capabilities)
    if "fulfillment_details" in body:
        body["fulfillment_details"] = _without_company(body["fulfillment_details"])
    body["protocol"] = {"version": VERSION}
    return body
