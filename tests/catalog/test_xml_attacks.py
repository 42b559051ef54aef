"""Hostile Google Merchant XML feeds: entity bombs and external entities are refused, nothing is read.

Before: the reader already refused any DTD (defusedxml with ``forbid_dtd``); only the billion laughs
file was tested. These tests keep the guarantee for the other attacks: quadratic blowup, an external
entity naming a local file (XXE), an external DTD and a parameter entity on a real HTTP server. Each
run fails with ``forbidden_xml``, in bounded time and memory, reads no file, fetches nothing, and
leaves the live catalog as it was.
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from merchant.catalog.models import FeedRowError
from merchant.catalog.records import FeedMode
from tests.catalog.helpers import FEEDS, run_feed, variants

RSS = '<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>{}</g:id>'
ITEM = (
    "<g:title>T</g:title><g:description>D</g:description><g:link>https://shop.example/x</g:link>"
    "<g:image_link>https://cdn.example/x.jpg</g:image_link><g:availability>in_stock</g:availability>"
    "<g:price>1.00 USD</g:price></item></channel></rss>"
)
SECRET = "top-secret-line-7f3a9c"


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """A real server that would hand out a DTD and records every request made to it."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            body = b"<!ENTITY % leak \"<!ENTITY exfil SYSTEM 'http://127.0.0.1/x'>\">%leak;"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", requests
    finally:
        httpd.shutdown()
        httpd.server_close()


def feeds(tmp_path: Path, server: str) -> dict[str, str]:
    secret_file = tmp_path / "passwd"
    secret_file.write_text(SECRET + "\n")
    blob = "A" * 100_000
    return {
        # 100 KB entity referenced 10 000 times: 1 GB once expanded, from a ~140 KB file.
        "quadratic": f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "{blob}">]>'
        + RSS.format("&a;" * 10_000)
        + ITEM,
        "xxe_file": f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret_file}">]>'
        + RSS.format("&xxe;")
        + ITEM,
        "xxe_passwd": '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + RSS.format("&xxe;")
        + ITEM,
        "external_dtd": f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{server}/feed.dtd">'
        + RSS.format("x1")
        + ITEM,
        "parameter_entity": '<?xml version="1.0"?>'
        + f'<!DOCTYPE rss [<!ENTITY % ext SYSTEM "{server}/p.dtd"> %ext;]>'
        + RSS.format("&exfil;")
        + ITEM,
        "public_id": f'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//X//DTD X//EN" "{server}/pub.dtd">'
        + RSS.format("x2")
        + ITEM,
    }


@pytest.mark.parametrize(
    "attack", ["quadratic", "xxe_file", "xxe_passwd", "external_dtd", "parameter_entity", "public_id"]
)
async def test_a_hostile_xml_feed_fails_cleanly(
    sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    tmp_path: Path,
    dtd_server: tuple[str, list[str]],
    attack: str,
) -> None:
    server, requests = dtd_server
    await run_feed(sessions, FEEDS / "openai.csv")
    before = {v.id: (v.title, v.updated_at, v.delisted_at) for v in (await variants(session)).values()}
    path = tmp_path / f"{attack}.xml"
    path.write_text(feeds(tmp_path, server)[attack])

    tracemalloc.start()
    started = time.perf_counter()
    try:
        run = await run_feed(sessions, path, mode=FeedMode.SNAPSHOT)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (run.status, run.error_code) == ("failed", "forbidden_xml")
    assert run.error_message is not None
    assert "DTD" in run.error_message
    assert SECRET not in run.error_message
    assert "root:" not in run.error_message  # nothing of /etc/passwd
    assert requests == []  # no DTD or entity was fetched
    assert elapsed < 10
    assert peak < 64 * 1024 * 1024  # the 1 GB expansion never happened
    after = {v.id: (v.title, v.updated_at, v.delisted_at) for v in (await variants(session)).values()}
    assert after == before  # a snapshot that failed delists nothing
    assert await session.scalar(select(func.count()).where(FeedRowError.run_id == run.id)) == 0
