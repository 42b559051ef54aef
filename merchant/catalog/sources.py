"""Reading feed files: gzip, format detection, streaming row readers. I/O adapters only.

Every reader streams: memory holds one row (one XML item, one JSON line) at a
time, whatever the file size. File-level problems raise ``FeedFileError`` (the
run fails and the catalog is untouched); row-level problems are yielded as
``RowProblem`` so the good rows still load.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from xml.etree.ElementTree import ParseError

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from merchant.catalog.records import FeedFormat

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024
XML_CHUNK = 256 * 1024

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

OPENAI_REQUIRED: tuple[tuple[str, ...], ...] = (
    ("item_id", "id", "sku"),
    ("title",),
    ("description",),
    ("url",),
    ("brand",),
    ("seller_name",),
    ("image_url",),
    ("availability",),
    ("price",),
)
GOOGLE_REQUIRED: tuple[tuple[str, ...], ...] = (
    ("id",),
    ("title",),
    ("description",),
    ("link",),
    ("image_link",),
    ("availability",),
    ("price",),
)
_GOOGLE_MARKERS = frozenset({"link", "image_link"})


class FeedFileError(Exception):
    """The file as a whole cannot be read: the run fails, nothing is loaded."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A row that could not even be split into fields (bad JSON, wrong cell count)."""

    code: str
    message: str


SourceRow = tuple[int, Mapping[str, Any] | RowProblem]


def open_feed(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """Open ``path``, transparently gunzipping it: (content stream, raw file for progress)."""
    raw = path.open("rb")
    if raw.read(2) == GZIP_MAGIC:
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    raw.seek(0)
    return raw, raw


def sniff(path: Path) -> bytes:
    """The first bytes of the (decompressed) content."""
    try:
        stream, raw = open_feed(path)
        with raw, stream:
            return stream.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise FeedFileError("unreadable_file", f"cannot read the file: {exc}") from exc


def detect_format(path: Path) -> FeedFormat:
    """Guess the format from the content (the name only breaks ties)."""
    head = sniff(path)
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    name = path.name.lower()
    if head.startswith(PARQUET_MAGIC):
        return FeedFormat.PARQUET
    if not text:
        raise FeedFileError("empty_file", "the file is empty")
    if text.startswith(b"<"):
        return FeedFormat.GOOGLE_XML
    if text.startswith(b"{"):
        first = text.split(b"\n", 1)[0]
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            obj = None
        if (isinstance(obj, dict) and "variants" in obj) or name.startswith("products.jsonl"):
            return FeedFormat.ACP_JSONL
        return FeedFormat.OPENAI_JSONL
    header_line = text.split(b"\n", 1)[0]
    tsv = header_line.count(b"\t") > header_line.count(b",")
    columns = {_column(c) for c in header_line.decode("utf-8", "replace").split("\t" if tsv else ",")}
    google = bool(_GOOGLE_MARKERS & columns) and "url" not in columns and "image_url" not in columns
    if google:
        return FeedFormat.GOOGLE_TSV if tsv else FeedFormat.GOOGLE_CSV
    return FeedFormat.OPENAI_TSV if tsv else FeedFormat.OPENAI_CSV


def _column(name: str) -> str:
    """Header cell -> column key: trimmed, lower-case, spaces as underscores, no ``g:``."""
    key = name.strip().strip('"').strip().lower().replace(" ", "_")
    return key.removeprefix("g:")


def decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    """UTF-8 lines; a bad byte fails the file and names its offset."""
    offset = 0
    first = True
    for raw in stream:
        if first:
            first = False
            if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise FeedFileError("invalid_encoding", "the file is UTF-16; feeds must be UTF-8")
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
                offset = 3
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            position = offset + exc.start
            raise FeedFileError(
                "invalid_encoding",
                f"the file is not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {position}",
            ) from None
        offset += len(raw)


def delimited_rows(
    stream: IO[bytes], *, delimiter: str, required: tuple[tuple[str, ...], ...]
) -> Iterator[SourceRow]:
    """CSV/TSV rows keyed by header column; quoted cells may span lines."""
    lines = decoded_lines(stream)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise FeedFileError("malformed_file", f"line 1: cannot read the header: {exc}") from None
    if not header or not any(cell.strip() for cell in header):
        raise FeedFileError("empty_file", "the file has no header row")
    columns = [_column(cell) for cell in header]
    _check_header(columns, required)
    width = len(columns)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FeedFileError("malformed_file", f"line {start}: {exc}") from None
        line, start = start, reader.line_num + 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != width:
            yield (
                line,
                RowProblem("column_count", f"the row has {len(cells)} cells; the header has {width} columns"),
            )
            continue
        yield line, dict(zip(columns, cells, strict=True))


def _check_header(columns: list[str], required: tuple[tuple[str, ...], ...]) -> None:
    duplicates = sorted({c for c in columns if c and columns.count(c) > 1})
    if duplicates:
        raise FeedFileError("duplicate_columns", f"columns appear more than once: {', '.join(duplicates)}")
    present = set(columns)
    missing = [names[0] for names in required if not present.intersection(names)]
    if missing:
        raise FeedFileError("missing_columns", f"required columns are missing: {', '.join(missing)}")


def jsonl_rows(stream: IO[bytes], *, lower_keys: bool) -> Iterator[SourceRow]:
    """One JSON object per line; a bad line is a row problem, not a file failure."""
    for line, text in enumerate(decoded_lines(stream), start=1):
        if not text.strip():
            continue
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            yield line, RowProblem("invalid_json", f"the line is not valid JSON: {exc}")
            continue
        if not isinstance(obj, dict):
            yield line, RowProblem("invalid_json", "the line must hold a JSON object")
            continue
        yield line, ({k.lower(): v for k, v in obj.items()} if lower_keys else obj)


class _ItemCollector:
    """Parser target building one dict per RSS ``<item>`` / Atom ``<entry>``."""

    ITEM_TAGS = frozenset({"item", "entry"})

    def __init__(self) -> None:
        self.parser: DefusedXMLParser | None = None
        self.ready: list[SourceRow] = []
        self._depth_in_item = 0
        self._item: dict[str, Any] = {}
        self._item_line = 0
        self._stack: list[tuple[str, dict[str, Any] | None]] = []
        self._text: list[str] = []

    def _line(self) -> int:
        parser = self.parser
        return int(parser.parser.CurrentLineNumber) if parser is not None else 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        name = _local(tag)
        if self._depth_in_item == 0:
            if name in self.ITEM_TAGS:
                self._depth_in_item = 1
                self._item = {}
                self._item_line = self._line()
            return
        self._depth_in_item += 1
        self._stack.append((name, {} if self._depth_in_item >= 2 else None))
        self._text = []
        if name == "link" and "href" in attrib:  # Atom <link href="..."/>
            self._text = [attrib["href"]]

    def data(self, data: str) -> None:
        if self._depth_in_item >= 2:
            self._text.append(data)

    def end(self, tag: str) -> None:
        if self._depth_in_item == 0:
            return
        self._depth_in_item -= 1
        if self._depth_in_item == 0:
            self.ready.append((self._item_line, self._item))
            return
        name, children = self._stack.pop()
        value: Any = "".join(self._text).strip()
        if children:
            value = children
        target = self._stack[-1][1] if self._stack else self._item
        if target is None:
            return
        if name in target:
            existing = target[name]
            target[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[name] = value
        self._text = []

    def close(self) -> None:
        return None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def xml_rows(stream: IO[bytes]) -> Iterator[SourceRow]:
    """RSS 2.0 / Atom items with the ``g:`` namespace, streamed; DTDs and entities refused."""
    target = _ItemCollector()
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    target.parser = parser
    try:
        while chunk := stream.read(XML_CHUNK):
            parser.feed(chunk)
            yield from target.ready
            target.ready.clear()
        parser.close()
    except DefusedXmlException as exc:
        raise FeedFileError("forbidden_xml", f"the XML declares a DTD or entities, refused: {exc}") from None
    except ParseError as exc:
        line, column = exc.position
        raise FeedFileError("malformed_file", f"line {line}, column {column}: broken XML ({exc})") from None
    yield from target.ready


def iter_source_rows(stream: IO[bytes], fmt: FeedFormat) -> Iterator[SourceRow]:
    """Rows of ``stream`` read as ``fmt``."""
    if fmt in (FeedFormat.OPENAI_CSV, FeedFormat.OPENAI_TSV):
        delimiter = "," if fmt is FeedFormat.OPENAI_CSV else "\t"
        return delimited_rows(stream, delimiter=delimiter, required=OPENAI_REQUIRED)
    if fmt in (FeedFormat.GOOGLE_CSV, FeedFormat.GOOGLE_TSV):
        delimiter = "," if fmt is FeedFormat.GOOGLE_CSV else "\t"
        return delimited_rows(stream, delimiter=delimiter, required=GOOGLE_REQUIRED)
    if fmt is FeedFormat.OPENAI_JSONL:
        return jsonl_rows(stream, lower_keys=True)
    if fmt is FeedFormat.ACP_JSONL:
        return jsonl_rows(stream, lower_keys=False)
    if fmt is FeedFormat.GOOGLE_XML:
        return xml_rows(stream)
    raise FeedFileError("unsupported_format", f"{fmt.value} files are not supported")


def text_stream(data: bytes) -> IO[bytes]:
    """In-memory stream (tests, small uploads)."""
    return io.BytesIO(data)
