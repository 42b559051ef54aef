"""Fetching a feed URL: redirects one checked hop at a time, size limit, clear failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from merchant.catalog.sources import FeedFileError
from merchant.catalog.uploads import fetch_url
from merchant.kit.outbound import MAX_REDIRECTS

BODY = b"item_id,title\nx,X\n"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/feed.csv":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path.startswith("/hop/"):
            left = int(self.path.rsplit("/", 1)[1])
            self.send_response(302)
            self.send_header("Location", f"/hop/{left - 1}" if left > 1 else "/feed.csv")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_follows_redirects_up_to_the_limit(server: str, tmp_path: Path) -> None:
    target = tmp_path / "feed.csv"
    size = await fetch_url(f"{server}/hop/{MAX_REDIRECTS}", target, max_bytes=1000, allow_private=True)
    assert (size, target.read_bytes()) == (len(BODY), BODY)


async def test_too_many_redirects_fail(server: str, tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="more than 5 redirects") as failure:
        await fetch_url(
            f"{server}/hop/{MAX_REDIRECTS + 1}", tmp_path / "f", max_bytes=1000, allow_private=True
        )
    assert failure.value.code == "fetch_failed"


async def test_refused_destination_is_a_clear_run_error(server: str, tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="private or reserved") as failure:
        await fetch_url(f"{server}/feed.csv", tmp_path / "f", max_bytes=1000)
    assert failure.value.code == "forbidden_url"
    assert not (tmp_path / "f").exists()


async def test_size_limit_and_http_errors(server: str, tmp_path: Path) -> None:
    with pytest.raises(FeedFileError, match="larger than 5 bytes"):
        await fetch_url(f"{server}/feed.csv", tmp_path / "f", max_bytes=5, allow_private=True)
    with pytest.raises(FeedFileError, match="HTTP 404"):
        await fetch_url(f"{server}/nope.csv", tmp_path / "g", max_bytes=1000, allow_private=True)
