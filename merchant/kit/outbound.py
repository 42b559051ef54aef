"""Guard for requests we make to URLs that others gave us (feed URLs; later webhook receivers).

A URL must be http(s) and every address its host resolves to must be public: loopback,
private, link-local, shared, reserved and multicast ranges are refused (SSRF), unless the
deployment allows them (development and tests talk to 127.0.0.1). Redirects are followed
by the caller one hop at a time and each hop is checked again.

Known limit: the check resolves the name, then the client resolves it again to connect,
so a DNS answer that changes in between (rebinding) is not caught; pinning the checked
address into the connection belongs with the webhook sender.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class ForbiddenDestination(Exception):
    """The URL may not be requested; the message says why (safe to show to staff)."""


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def check_destination(url: httpx.URL | str, *, allow_private: bool) -> None:
    """Raise ``ForbiddenDestination`` unless ``url`` is http(s) to public addresses only."""
    target = httpx.URL(url)
    if target.scheme not in ("http", "https"):
        raise ForbiddenDestination(f"only http and https URLs are fetched, not {target.scheme or 'none'}")
    if not target.host:
        raise ForbiddenDestination("the URL has no host")
    if allow_private:
        return
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(target.host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ForbiddenDestination(f"{target.host} does not resolve ({exc.strerror})") from None
    for *_, sockaddr in infos:
        if _refused(str(sockaddr[0])):
            raise ForbiddenDestination(
                f"{target.host} resolves to {sockaddr[0]}, a private or reserved address"
            )
