"""The outbound guard: only http(s) to public addresses, unless private ones are allowed."""

from __future__ import annotations

import pytest

from merchant.kit.outbound import ForbiddenDestination, check_destination


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/feed.csv",
        "http://localhost:8080/feed.csv",
        "http://10.1.2.3/feed.csv",
        "http://172.16.0.9/feed.csv",
        "http://192.168.1.1/feed.csv",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://100.64.0.1/feed.csv",  # shared address space
        "http://0.0.0.0/feed.csv",
        "http://[::1]/feed.csv",
        "http://[fe80::1]/feed.csv",
        "http://[fd00::1]/feed.csv",
        "http://[::ffff:127.0.0.1]/feed.csv",  # IPv4-mapped loopback
        "http://224.0.0.1/feed.csv",
    ],
)
async def test_private_and_reserved_destinations_are_refused(url: str) -> None:
    with pytest.raises(ForbiddenDestination, match="private or reserved"):
        await check_destination(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["http://8.8.8.8/feed.csv", "https://1.1.1.1:8443/x", "http://[2606:4700::1111]/"]
)
async def test_public_addresses_pass(url: str) -> None:
    await check_destination(url, allow_private=False)


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/feed.csv", "file:///etc/passwd", "gopher://8.8.8.8/"])
async def test_only_http_and_https(url: str) -> None:
    with pytest.raises(ForbiddenDestination, match="only http and https"):
        await check_destination(url, allow_private=True)


async def test_allowing_private_lets_loopback_through() -> None:
    await check_destination("http://127.0.0.1:9/feed.csv", allow_private=True)


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(ForbiddenDestination, match="does not resolve"):
        await check_destination("http://no-such-host.invalid/feed.csv", allow_private=False)


# --------------------------------------------------------------------------- spellings of private addresses


@pytest.mark.parametrize(
    "url",
    [
        "http://0x7f000001/",  # hex
        "http://2130706433/",  # one decimal number
        "http://0177.0.0.1/",  # octal (httpx itself refuses to parse it)
        "http://127.1/",  # short form
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::127.0.0.1]/",  # IPv4-compatible (deprecated)
        "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
        "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
        "http://localhost/",
        "http://localhost./",  # trailing dot
        "http://LocalHost:8080/",
        "http://api.localhost/",  # RFC 6761: every *.localhost is loopback
    ],
)
async def test_every_spelling_of_a_private_address_is_refused(url: str) -> None:
    with pytest.raises(ForbiddenDestination, match=r"private or reserved|not a valid URL"):
        await check_destination(url, allow_private=False)


async def test_nat64_of_a_public_address_passes() -> None:
    await check_destination("http://[64:ff9b::808:808]/", allow_private=False)  # 8.8.8.8
