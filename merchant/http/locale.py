"""The request's display locale, from ``Accept-Language``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from merchant.kit.locale import negotiate


async def display_locale(
    accept_language: Annotated[str | None, Header(alias="Accept-Language")] = None,
) -> str:
    return negotiate(accept_language)


DisplayLocale = Annotated[str, Depends(display_locale)]
