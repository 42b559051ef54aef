"""The outbound guard where the connection is opened: names resolved once, every address checked,
the connection pinned to a checked address, every redirect hop checked, on real HTTP servers.

Before: ``check_destination`` resolved the name, then httpx resolved it again to connect, so a DNS
answer that changed in between (rebinding) reached any address; the Feed API client (publication)
was not guarded at all and connected to 127.0.0.1 with private addresses not allowed; an octal
host (``0177.0.0.1``) raised httpx's ``InvalidURL`` instead of a refusal. Over TLS the pinned
connection still sends the name as SNI and verifies the certificate for the name.

No internet here: names are answered by a fake resolver (the hook the guard resolves through), and
a public address is "routed" to the local test server by a network backend that records which
addresses the guard asked it to connect to.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpcore
import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from merchant.catalog.publish import FeedApiError, FeedClient
from merchant.catalog.sources import FeedFileError
from merchant.catalog.uploads import fetch_url
from merchant.kit.outbound import ForbiddenDestination, GuardedTransport, check_destination, outbound_client

PUBLIC = "8.8.8.8"  # what the fake DNS answers for the public names; routed to 127.0.0.1 below


class Server:
    """A real HTTP server on 127.0.0.1 recording (path, Host header) of each request."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[tuple[str, str]] = []
        seen, outer = self.seen, self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Host", "")))
                port = outer.port
                redirect = {
                    "/to-loopback": f"http://127.0.0.1:{port}/secret",
                    "/to-private-name": f"http://intranet.example:{port}/secret",
                    "/to-public": "/feed.csv",
                }.get(self.path)
                if redirect:
                    self.send_response(302)
                    self.send_header("Location", redirect)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"item_id,title\nx,X\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = int(self.httpd.server_address[1])

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]


@contextlib.contextmanager
def serving(running: Server) -> Iterator[Server]:
    thread = threading.Thread(target=running.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield running
    finally:
        running.httpd.shutdown()
        running.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with serving(Server()) as running:
        yield running


class FakeDns:
    """Answers from a table; a list of answers is used one per lookup (rebinding)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        answers = self.table.get(host)
        if not answers:
            raise OSError("no such name")
        return answers.pop(0) if len(answers) > 1 else answers[0]


class Router(httpcore.AsyncNetworkBackend):
    """Connects ``PUBLIC`` to the local server; records every host the guard asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.asked.append(host)
        if host != PUBLIC:
            raise httpcore.ConnectError(f"{host} is not routed in this test")
        return await self.inner.connect_tcp("127.0.0.1", port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def dns() -> FakeDns:
    return FakeDns({"feeds.example": [[PUBLIC]], "intranet.example": [["10.1.2.3"]]})


async def test_a_name_resolving_to_a_private_address_is_refused_without_connecting(server: Server) -> None:
    router = Router()
    names = FakeDns({"evil.example": [["93.184.216.34", "10.0.0.7"]]})  # one bad answer is enough
    with pytest.raises(ForbiddenDestination, match=r"resolves to 10\.0\.0\.7"):
        await check_destination("http://evil.example/", allow_private=False, resolver=names)
    async with outbound_client(allow_private=False, timeout=5, resolver=names, backend=router) as http:
        with pytest.raises(ForbiddenDestination, match=r"resolves to 10\.0\.0\.7"):
            await http.get(f"http://evil.example:{server.port}/feed.csv")
    assert router.asked == []
    assert server.seen == []


async def test_the_connection_goes_to_the_checked_address_and_a_rebinding_is_refused(
    server: Server,
) -> None:
    names = FakeDns({"feeds.example": [[PUBLIC], ["127.0.0.1"]]})  # public first, then loopback
    router = Router()
    url = f"http://feeds.example:{server.port}/feed.csv"
    async with outbound_client(allow_private=False, timeout=5, resolver=names, backend=router) as http:
        response = await http.get(url)
    assert response.status_code == 200
    # One lookup for the connection, and the socket went to that checked address, not to the name:
    # the HTTP client had no chance to resolve it again. Host header (and TLS SNI) keep the name.
    assert names.lookups == ["feeds.example"]
    assert router.asked == [PUBLIC]
    assert server.seen == [("/feed.csv", f"feeds.example:{server.port}")]

    # The next connection resolves again and now gets 127.0.0.1: refused, nothing is connected.
    async with outbound_client(allow_private=False, timeout=5, resolver=names, backend=router) as http:
        with pytest.raises(ForbiddenDestination, match=r"resolves to 127\.0\.0\.1"):
            await http.get(url)
    assert router.asked == [PUBLIC]
    assert len(server.seen) == 1


@pytest.mark.parametrize("hop", ["/to-loopback", "/to-private-name"])
async def test_a_redirect_to_a_private_address_is_refused(server: Server, tmp_path: Path, hop: str) -> None:
    router = Router()
    async with outbound_client(allow_private=False, timeout=5, resolver=dns(), backend=router) as http:
        with pytest.raises(FeedFileError, match="private or reserved") as failure:
            await fetch_url(
                f"http://feeds.example:{server.port}{hop}", tmp_path / "feed", max_bytes=1000, http=http
            )
    assert failure.value.code == "forbidden_url"
    assert server.paths == [hop]  # the first hop was served; the private one never reached
    assert router.asked == [PUBLIC]
    assert not (tmp_path / "feed").exists()


async def test_a_redirect_to_a_public_address_is_followed(server: Server, tmp_path: Path) -> None:
    async with outbound_client(allow_private=False, timeout=5, resolver=dns(), backend=Router()) as http:
        size = await fetch_url(
            f"http://feeds.example:{server.port}/to-public", tmp_path / "feed", max_bytes=1000, http=http
        )
    assert size > 0
    assert server.paths == ["/to-public", "/feed.csv"]


@pytest.mark.parametrize(
    "host",
    ["0x7f000001", "2130706433", "127.1", "[::1]", "[::ffff:127.0.0.1]", "localhost", "localhost."],
)
async def test_the_guarded_client_never_connects_to_a_loopback_spelling(server: Server, host: str) -> None:
    transport = GuardedTransport(allow_private=False)
    async with httpx.AsyncClient(transport=transport, timeout=5) as http:
        with pytest.raises(ForbiddenDestination, match="private or reserved"):
            await http.get(f"http://{host}:{server.port}/feed.csv")
    assert server.seen == []


async def test_an_octal_host_is_a_clear_refusal_of_the_feed_fetch(tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="not a valid URL") as failure:
        await fetch_url("http://0177.0.0.1/feed.csv", tmp_path / "feed", max_bytes=1000)
    assert failure.value.code == "forbidden_url"


async def test_allowing_private_addresses_reaches_the_local_server(server: Server) -> None:
    async with outbound_client(allow_private=True, timeout=5) as http:
        assert (await http.get(f"http://localhost:{server.port}/feed.csv")).status_code == 200


async def test_the_feed_api_client_does_not_publish_to_a_private_address(server: Server) -> None:
    async with FeedClient(f"http://127.0.0.1:{server.port}/acp", "token", max_attempts=3) as feeds:
        with pytest.raises(FeedApiError, match="private or reserved") as failure:
            await feeds.get_feed("feed_1")
    assert failure.value.attempts == 1  # refused, not retried
    assert server.seen == []


# --------------------------------------------------------------------------- TLS to a pinned address


def certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid for ``name`` only (no IP address in it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Server, Path, list[str | None]]]:
    """The server behind TLS for ``feeds.example``; records the SNI name of each handshake."""
    cert, key = certificate_for("feeds.example", tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    names: list[str | None] = []

    def remember(_: ssl.SSLObject | ssl.SSLSocket, name: str | None, __: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = remember
    with serving(Server(context)) as running:
        yield running, cert, names


async def test_tls_to_the_pinned_address_still_verifies_the_name(
    tls_server: tuple[Server, Path, list[str | None]],
) -> None:
    secure, cert, names = tls_server
    trust = ssl.create_default_context(cafile=str(cert))
    router = Router()
    transport = GuardedTransport(allow_private=False, resolver=dns(), backend=router, verify=trust)
    async with httpx.AsyncClient(transport=transport, timeout=5) as http:
        response = await http.get(f"https://feeds.example:{secure.port}/feed.csv")
    assert response.status_code == 200
    assert router.asked == [PUBLIC]  # the socket went to the checked address...
    assert names == ["feeds.example"]  # ...and the handshake named the host: SNI and certificate
    assert secure.seen[-1] == ("/feed.csv", f"feeds.example:{secure.port}")

    # A certificate for another name is refused although the address is the same checked one.
    other = FakeDns({"other.example": [[PUBLIC]]})
    transport = GuardedTransport(allow_private=False, resolver=other, backend=Router(), verify=trust)
    async with httpx.AsyncClient(transport=transport, timeout=5) as http:
        with pytest.raises(httpx.ConnectError, match=r"certificate|hostname"):
            await http.get(f"https://other.example:{secure.port}/feed.csv")
