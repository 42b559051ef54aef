"""What a buyer is told when a payment does not go through (payments-stripe.md §2.5).

The PSP's own text and the precise reason stay in our records for staff; the buyer gets a
plain, safe sentence. Reasons that hint at fraud (stolen card, fraudulent, ...) are never
revealed: they read as a generic decline.
"""

from __future__ import annotations

from dataclasses import dataclass

from merchant.payments.gateway import Decline

GENERIC = "Your card was declined. Try another payment method."


@dataclass(frozen=True, slots=True)
class BuyerNotice:
    code: str  # ACP MessageError code: payment_declined | requires_3ds
    text: str


_BY_DECLINE_CODE = {
    "insufficient_funds": "Your card has insufficient funds. Try another payment method.",
    "expired_card": "Your card has expired. Try another payment method.",
    "incorrect_cvc": "The card's security code was not accepted. Try again or use another card.",
    "incorrect_zip": "The card's postal code was not accepted. Try again or use another card.",
    "incorrect_number": "The card number was not accepted. Try another payment method.",
    "processing_error": "The payment could not be processed just now. Please try again.",
}
_SECRET_REASONS = frozenset(
    {"fraudulent", "lost_card", "stolen_card", "pickup_card", "merchant_blacklist", "restricted_card"}
)


def buyer_notice(decline: Decline | None) -> BuyerNotice:
    if decline is None:
        return BuyerNotice("payment_declined", GENERIC)
    if decline.code == "authentication_required":
        return BuyerNotice("requires_3ds", "Your bank needs to confirm this payment. Authorize it again.")
    if decline.code == "credential_unusable":
        text = "The payment authorization has expired or was already used. Authorize the payment again."
        return BuyerNotice("payment_declined", text)
    if decline.code == "blocked":
        return BuyerNotice("payment_declined", "Your card was declined.")
    reason = decline.decline_code or decline.code
    if reason in _SECRET_REASONS:
        return BuyerNotice("payment_declined", "Your card was declined.")
    return BuyerNotice("payment_declined", _BY_DECLINE_CODE.get(reason, GENERIC))
