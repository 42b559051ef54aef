"""Guard for requests we make to URLs that others gave us (feed URLs, webhook receivers, Feed APIs).

A URL must be http(s) and every address its host resolves to must be public: loopback,
private, link-local, shared, reserved and multicast ranges are refused (SSRF), and so are
IPv6 forms that carry such an IPv4 address (mapped, compatible, 6to4, NAT64) and the
``localhost`` names, unless the deployment allows private addresses (development and tests
talk to 127.0.0.1). Numeric hosts are read as the C resolver reads them (``0x7f000001``,
``2130706433``, ``0177.0.0.1``), so no spelling of an address slips past the check.

The check is made where the connection is opened: ``GuardedTransport`` (an httpx transport)
resolves the name once, checks every address, then connects to a checked address itself (the
address is pinned; the HTTP client never resolves the name again), while the Host header, TLS
SNI and certificate verification still use the name. So a DNS answer that changes between the
check and the connection (rebinding) is never followed, and every redirect hop, being a new
connection, is checked again. ``check_destination`` is the same check without a connection
(validating a URL when it is registered).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable

import anyio
import httpcore
import httpx

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# The addresses a name resolves to, for connecting to ``port``; an empty list or OSError: no answer.
Resolver = Callable[[str, int], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # well-known NAT64 prefix, a.b.c.d in the low bits


class ForbiddenDestination(Exception):
    """The URL may not be requested; the message says why (safe to show to staff)."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (``getaddrinfo``), addresses in its order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _IPV4_COMPATIBLE or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_address(ip: IPAddress) -> bool:
    """True for any address that is not a public unicast one (or hides a non-public IPv4)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_COMPATIBLE:
            return True  # deprecated; ::1 and :: live here too
        embedded = _embedded_ipv4(ip)
        if embedded is not None and forbidden_address(embedded):
            return True
    return not ip.is_global or ip.is_multicast


def _literal(host: str) -> IPAddress | None:
    """``host`` as an address when it spells one, in any form ``inet_aton`` accepts."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id is dropped
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))  # 0x7f000001, 2130706433, 0177.0.0.1, 127.1
    except OSError:
        return None


def _refuse(host: str, address: object) -> ForbiddenDestination:
    shown = host if str(address) == host else f"{host} resolves to {address}, which"
    return ForbiddenDestination(f"{shown} is a private or reserved address")


async def checked_addresses(host: str, port: int, *, resolver: Resolver = system_resolver) -> list[str]:
    """The addresses to connect to for ``host``: all of them public, or ``ForbiddenDestination``."""
    name = host.strip("[]").rstrip(".").lower()
    if not name:
        raise ForbiddenDestination("the URL has no host")
    if name == "localhost" or name.endswith(".localhost"):  # RFC 6761: always loopback
        raise ForbiddenDestination(f"{host} is a loopback name, a private or reserved address")
    literal = _literal(name)
    if literal is not None:
        if forbidden_address(literal):
            raise _refuse(host, literal)
        return [str(literal)]
    try:
        answers = await resolver(name, port)
    except OSError as exc:
        raise ForbiddenDestination(f"{host} does not resolve ({exc.strerror or exc})") from None
    if not answers:
        raise ForbiddenDestination(f"{host} does not resolve")
    for answer in answers:
        address = _literal(answer)
        if address is None or forbidden_address(address):
            raise _refuse(host, answer)
    return answers


def check_url(url: httpx.URL | str) -> httpx.URL:
    """The parsed URL, if it is http(s) with a host; else ``ForbiddenDestination``. No DNS."""
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ForbiddenDestination(f"not a valid URL: {exc}") from None
    if target.scheme not in ("http", "https"):
        raise ForbiddenDestination(f"only http and https URLs are fetched, not {target.scheme or 'none'}")
    if not target.host:
        raise ForbiddenDestination("the URL has no host")
    return target


async def check_destination(
    url: httpx.URL | str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> None:
    """Raise ``ForbiddenDestination`` unless ``url`` is http(s) to public addresses only."""
    target = check_url(url)
    if allow_private:
        return
    port = target.port or (443 if target.scheme == "https" else 80)
    await checked_addresses(target.host, port, resolver=resolver)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to checked addresses, pinned.

    ``connect_tcp`` gets the URL's host: it resolves it once through ``resolver``, refuses it
    unless every address is public, then opens the connection to one of those addresses through
    ``backend``. TLS is started afterwards by httpcore with the original host name (SNI and
    certificate checks are for the name, not the address).
    """

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.backend = backend or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.allow_private:
            return await self.backend.connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            with anyio.fail_after(timeout):  # the name's resolution counts in the connect timeout
                addresses = await checked_addresses(host, port, resolver=self.resolver)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self.backend.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address of the same (checked) answer
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenDestination("outbound requests do not use unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.backend.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` whose connections go through ``GuardedBackend``; no proxies."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
    ) -> None:
        context = httpx.create_ssl_context(verify=verify, trust_env=False)
        super().__init__(verify=context, trust_env=False, limits=limits)
        # httpx takes no network backend: its pool is replaced by the same pool with ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver, backend=backend),
        )


def outbound_client(
    *,
    allow_private: bool,
    timeout: httpx.Timeout | float,
    resolver: Resolver = system_resolver,
    backend: httpcore.AsyncNetworkBackend | None = None,
    **options: typing.Any,
) -> httpx.AsyncClient:
    """An httpx client for URLs others gave us: guarded connections, no redirects, no env proxies."""
    transport = GuardedTransport(allow_private=allow_private, resolver=resolver, backend=backend)
    options.setdefault("follow_redirects", False)
    return httpx.AsyncClient(transport=transport, timeout=timeout, trust_env=False, **options)
