"""Reading mention files (CSV or JSONL in the normalised schema) into ingest batches.

Files are streamed: a 200k-row file is read a batch at a time, never whole. Each bad row is
reported with its line number and the reason, and the good rows around it still import.
The schema is `advocates.schemas.MentionIn` (docs/ingest.md).
"""

from __future__ import annotations

import csv
import gzip
import itertools
import json
import logging
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.db import DatabaseError

from advocates.models import MentionSource
from advocates.schemas import MentionIn, mention_item_parse
from advocates.services.ingest import IngestResult, InvalidItem, mentions_ingest
from advocates.sql import (
    JSON_MAX_DEPTH,
    JsonTooDeep,
    is_deadlock,
    json_storable,
    rows_isolate,
)

logger = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl")
# JSON escapes of characters PostgreSQL's jsonb refuses: NUL, and surrogates (a pair is
# fine, but telling a pair from a lone one is json_storable's job).
_UNSTORABLE_ESCAPE = re.compile(r"\\u(0000|[dD][89a-fA-F])")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Columns a CSV must have in its header; without them every row would be rejected.
REQUIRED_COLUMNS = tuple(
    name for name, info in MentionIn.model_fields.items() if info.is_required()
)


class RawRow(dict):
    """A JSONL row as parsed, remembering its original JSON text.

    `mentions_ingest` stores a mention's raw payload as JSON; for a JSONL row that is the line
    itself, so it is passed through instead of serialising the dict again.
    """

    __slots__ = ("json_text",)

    def __init__(self, data: dict[str, Any], json_text: str) -> None:
        super().__init__(data)
        self.json_text = json_text


class ImportFileError(Exception):
    """The file as a whole cannot be imported (missing, unreadable, unknown format, bad header).

    Raised before anything is written.
    """


@dataclass
class ParsedBatch:
    """Up to `batch_size` good items (with their raw rows), plus the bad rows seen meanwhile."""

    items: list[MentionIn] = field(default_factory=list)
    raws: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # each item's line number
    invalid: list[InvalidItem] = field(default_factory=list)
    bytes_read: int = 0  # since the previous batch, for progress bars


def import_format_guess(path: Path, fmt: str | None = None) -> str:
    """The file's format: `fmt` when given, else from the extension (`.csv`, `.jsonl`, `.gz`)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ImportFileError(f"Unknown format {fmt!r}; use one of: {', '.join(FORMATS)}.")
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    guessed = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
    if guessed is None:
        raise ImportFileError(
            f"Cannot tell the format of {path.name!r} from its extension; "
            f"pass --format {'|'.join(FORMATS)}."
        )
    return guessed


def _open_binary(path: Path) -> IO[bytes]:
    if not path.exists():
        raise ImportFileError(f"File not found: {path}")
    if not path.is_file():
        raise ImportFileError(f"Not a file: {path}")
    try:
        handle: IO[bytes] = path.open("rb")
        if path.suffix.lower() == ".gz":
            handle = gzip.GzipFile(fileobj=handle)  # type: ignore[assignment]
            handle.peek(1)  # type: ignore[attr-defined]  # a bad gzip header fails here
    except (OSError, EOFError) as exc:
        raise ImportFileError(f"Cannot read {path}: {exc}") from exc
    return handle


def _jsonl_rows(handle: IO[bytes]) -> Iterator[tuple[int, int, dict[str, Any] | None, str]]:
    """(line number, bytes, raw dict or None, reason) for every non-blank line."""
    loads = json.loads
    for number, line in enumerate(handle, start=1):
        size = len(line)
        if not line.strip():
            yield number, size, None, ""  # blank lines are skipped, not errors
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            yield number, size, None, "not valid UTF-8"
            continue
        try:
            data = loads(text)
        except ValueError as exc:
            yield number, size, None, f"not valid JSON: {exc}"
            continue
        except RecursionError:  # a 100k-deep line aborted the whole file (issue 17)
            yield number, size, None, "not valid JSON: nested too deeply"
            continue
        if not isinstance(data, dict):
            yield number, size, None, "item must be a JSON object"
            continue
        raw_text = text.strip()
        # The line is stored as the raw payload as it is, unless it holds what jsonb cannot
        # (a NUL or an unpaired surrogate, as \u escapes) or might nest too deeply: then it is
        # made storable first. The counts are C-speed scans; the walk is for the rare line.
        if ("\\u" in raw_text and _UNSTORABLE_ESCAPE.search(raw_text)) or (
                raw_text.count("{") + raw_text.count("[") > JSON_MAX_DEPTH):
            try:
                data = json_storable(data)
            except JsonTooDeep:
                yield number, size, None, f"nested deeper than {JSON_MAX_DEPTH} levels"
                continue
            raw_text = json.dumps(data, ensure_ascii=False)
        yield number, size, RawRow(data, raw_text), ""


class _DecodedLines:
    """Text lines for the csv module, remembering which physical lines were not UTF-8."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.number = 0
        self.bytes = 0
        self.bad_lines: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self._handle:
            self.number += 1
            self.bytes += len(raw)
            if self.number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a BOM, as spreadsheet programs write it
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad_lines.add(self.number)
                yield raw.decode("utf-8", errors="replace")


def _csv_rows(
    handle: IO[bytes], required: tuple[str, ...] = REQUIRED_COLUMNS
) -> Iterator[tuple[int, int, dict[str, Any] | None, str]]:
    """(first line number, bytes, row dict or None, reason) for every CSV record.

    Empty cells mean "not given", so optional fields take their defaults and missing required
    ones are reported as missing. A header without the `required` columns is an
    ImportFileError.
    """
    lines = _DecodedLines(handle)
    reader = csv.reader(lines)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportFileError(f"Cannot read the CSV header: {exc}") from exc
    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(
            f"The CSV header lacks required column(s): {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'})."
        )
    width = len(header)
    consumed = lines.bytes
    while True:
        start = lines.number + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, lines.bytes - consumed, None, f"not valid CSV: {exc}"
            consumed = lines.bytes
            continue
        size, consumed = lines.bytes - consumed, lines.bytes
        if not cells or all(not cell.strip() for cell in cells):
            yield start, size, None, ""
            continue
        if lines.bad_lines and any(n in lines.bad_lines for n in range(start, lines.number + 1)):
            yield start, size, None, "not valid UTF-8"
            continue
        if len(cells) != width:
            yield start, size, None, f"has {len(cells)} cells, the header has {width}"
            continue
        yield start, size, {k: v for k, v in zip(header, cells, strict=True) if v != ""}, ""


def file_rows(
    *, path: Path, fmt: str | None = None, required: tuple[str, ...] = REQUIRED_COLUMNS
) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, row dict or None, reason) for every non-blank row of a CSV or JSONL file.

    The raw rows, unvalidated, for readers other than the importer. Raises ImportFileError
    when the file is missing, unreadable, of an unknown format or (CSV) lacks `required`
    columns; the header is checked before the first row is yielded.
    """
    fmt = import_format_guess(path, fmt)
    handle = _open_binary(path)
    try:
        rows = _csv_rows(handle, required) if fmt == "csv" else _jsonl_rows(handle)
        for number, _size, data, reason in rows:
            if data is not None or reason:
                yield number, data, reason
    except (OSError, EOFError) as exc:
        raise ImportFileError(f"Reading {path} failed: {exc}") from exc
    finally:
        handle.close()


def mention_batches(
    *, path: Path, fmt: str | None = None, batch_size: int = 2000
) -> Iterator[ParsedBatch]:
    """Stream a CSV or JSONL file as batches of validated items.

    Raises ImportFileError (before yielding anything) when the file is missing, unreadable,
    of an unknown format or, for CSV, lacks required columns. Bad rows don't stop the stream:
    they are returned in each batch's `invalid`, numbered by the line they start on.
    """
    if batch_size < 1:
        raise ImportFileError("The batch size must be at least 1.")
    fmt = import_format_guess(path, fmt)
    handle = _open_binary(path)
    rows = _csv_rows(handle) if fmt == "csv" else _jsonl_rows(handle)
    try:
        first = next(rows, None)  # header problems surface here, before any write
    except (OSError, EOFError) as exc:
        handle.close()
        raise ImportFileError(f"Cannot read {path}: {exc}") from exc
    except ImportFileError:
        handle.close()
        raise
    validate = MentionIn.model_validate
    batch = ParsedBatch()
    try:
        if first is None:
            return
        for number, size, data, reason in itertools.chain([first], rows):
            batch.bytes_read += size
            if data is None:
                if reason:
                    batch.invalid.append(InvalidItem(position=number, reason=reason))
                continue
            try:
                item = validate(data)
            except ValueError:
                # The slow path only for bad rows: a readable reason.
                _, reason = mention_item_parse(data)
                batch.invalid.append(InvalidItem(position=number, reason=reason))
                continue
            batch.items.append(item)
            batch.raws.append(data)
            batch.positions.append(number)
            if len(batch.items) >= batch_size:
                yield batch
                batch = ParsedBatch()
        if batch.items or batch.invalid or batch.bytes_read:
            yield batch
    except (OSError, EOFError) as exc:
        # A file that breaks mid-way (e.g. a truncated .gz): earlier batches are committed.
        raise ImportFileError(f"Reading {path} failed: {exc}") from exc
    finally:
        handle.close()


def _prefetched(batches: Iterator[ParsedBatch], *, depth: int = 2) -> Iterator[ParsedBatch]:
    """Run the batch generator in a thread, `depth` batches ahead of the consumer.

    Parsing and validating is CPU work in Python; writing a batch is mostly waiting for
    PostgreSQL, which releases the GIL. Overlapping the two keeps both cores busy. Errors in
    the reader (e.g. ImportFileError) are raised in the consumer, in order.
    """
    done = object()
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def read() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        handoff.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put(done)
        except BaseException as exc:  # handed over to the consumer, which re-raises it
            handoff.put(exc)
        finally:
            batches.close()  # type: ignore[attr-defined]  # closes the file

    reader = threading.Thread(target=read, name="kansha-import-reader", daemon=True)
    reader.start()
    try:
        while True:
            batch = handoff.get()
            if batch is done:
                return
            if isinstance(batch, BaseException):
                raise batch
            yield batch
    finally:
        stop.set()
        reader.join(timeout=5)


def _batch_ingest(batch: ParsedBatch) -> IngestResult:
    """Ingest one batch; if the database refuses it, find the refused lines by halves and
    report them as invalid (the rest are stored). A refusal's message can quote the row
    (COPY's context does), so the reason names only the error's type."""
    try:
        return mentions_ingest(items=batch.items, source=MentionSource.IMPORT,
                               raw_payloads=batch.raws)
    except DatabaseError as exc:
        if is_deadlock(exc):
            raise
        logger.warning("import batch refused by the database (%s); isolating the bad lines",
                       type(exc).__name__)
    result = IngestResult()

    def run(rows: Sequence[int]) -> None:
        part = mentions_ingest(items=[batch.items[i] for i in rows], source=MentionSource.IMPORT,
                               raw_payloads=[batch.raws[i] for i in rows])
        result.add(part)

    # A chunk that failed may have counted nothing; one that succeeded counted once, so the
    # totals stay right across retries of the halves.
    failures = rows_isolate(list(range(len(batch.items))), run)
    result.invalid.extend(
        InvalidItem(position=batch.positions[i],
                    reason=f"the database refused this row ({type(exc).__name__})")
        for i, exc in failures)
    return result


def mentions_import(
    *,
    path: Path,
    fmt: str | None = None,
    batch_size: int = 2000,
    on_batch: Callable[[ParsedBatch, IngestResult], None] | None = None,
) -> IngestResult:
    """Import a CSV or JSONL file of normalised mentions; return the totals.

    Each batch is ingested in its own transaction (source "import"), so an interrupted import
    keeps what it committed and a re-run creates only what is missing: mentions already stored
    under their (platform, external_id) count as duplicates. `on_batch` is called after each
    batch with the parsed batch and that batch's result (for progress and error reporting).
    Raises ImportFileError, with nothing written, when the file as a whole cannot be read.
    """
    total = IngestResult()
    for batch in _prefetched(mention_batches(path=path, fmt=fmt, batch_size=batch_size)):
        result = _batch_ingest(batch)
        result.invalid[:0] = batch.invalid
        total.add(result)
        if on_batch is not None:
            on_batch(batch, result)
    return total
