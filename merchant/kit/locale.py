"""Pick the locale of display texts from an ``Accept-Language`` header (RFC 9110 §12.5.4)."""

from __future__ import annotations

DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES: tuple[str, ...] = ("en",)  # add a locale here once its texts exist


def _ranges(header: str) -> list[tuple[float, int, str]]:
    """(quality, position, language range) of each item; malformed items are skipped."""
    ranges = []
    for position, item in enumerate(header.split(",")):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = -1.0
        if 0 < quality <= 1:
            ranges.append((quality, position, tag))
    return ranges


def negotiate(header: str | None, supported: tuple[str, ...] = SUPPORTED_LOCALES) -> str:
    """The best supported locale: exact tag, else its language (``en-US`` -> ``en``), else the default."""
    if not header:
        return DEFAULT_LOCALE
    available = {locale.lower(): locale for locale in supported}
    for _, _, tag in sorted(_ranges(header), key=lambda r: (-r[0], r[1])):
        if tag == "*":
            return DEFAULT_LOCALE
        for candidate in (tag, tag.split("-", 1)[0]):
            if candidate in available:
                return available[candidate]
    return DEFAULT_LOCALE
