"""CSV drop: census rows from a file a hospital drops in a directory or publishes at a URL.

Kind ``csv``, polled. One row per unit: the unit's name as the hospital writes it (mapped
to a bedboard unit by the feed), staffed + occupied (+ blocked) or available alone, and
``as_of``. Each feed maps bedboard's column names to the file's header names, so a
hospital's existing export can be used as it is. See ``docs/adapters.md`` (CSV drop).

``parse_with(raw, fmt)`` is the pure part: bytes in, reports and rejected rows (with their
line number and reason) out; it never raises. ``fetch`` reads the source (newest matching
file of a directory, one file, or an http(s) URL), skips a source that has not changed
since the cursor, and refuses a source larger than ``max_bytes`` without reading it.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import email.utils
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from yarl import URL

from facility_adapters.base import (
    MAX_COUNT,
    Adapter,
    AdapterConfig,
    AdapterError,
    Fetched,
    Parsed,
    Rejected,
    SourceReport,
    register,
)
from facility_adapters.http import Client, Wording, bearer

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_MAX_BYTES = 100 * 1024 * 1024
MAX_ROWS = 10_000  # a facility has tens of units; more rows than this is not a census
MAX_REJECTED = 100  # rejected rows listed one by one; the rest are summed up in one entry
MAX_UNIT_CHARS = 200  # the longest source identifier a feed mapping can hold
MAX_LOCATION_CHARS = 200  # what the quarantine keeps of a location
MAX_REASON_CHARS = 500  # ... and of a reason
SNIFF_LINES = 10
SNIFF_CHARS = 2048  # csv.Sniffer's regexes are quadratic on hostile lines: keep the sample small
DELIMITERS = (",", ";", "\t", "|")
USER_AGENT = "bedboard-csv-drop"
NOT_REFUSED = range(400)  # statuses a URL source may answer without failing the poll
# Before 2000 is a typo or an unset clock; the future is checked by the core against the
# database clock (more than 5 minutes ahead is quarantined there).
EARLIEST_AS_OF = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AS_OF = datetime(2100, 1, 1, tzinfo=UTC)
# Spreadsheet exports in the US; anything else needs ``as_of_format``.
US_FORMATS = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p")

_WHOLE = re.compile(r"\+?([0-9]+)(?:\.0*)?")
_NEGATIVE = re.compile(r"-\s*[0-9]+(?:\.[0-9]*)?")
_DATE_ONLY = re.compile(r"[0-9]{4}-?[0-9]{2}-?[0-9]{2}|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}")
_SPACES = re.compile(r"\s+")

FIELDS = ("unit", "staffed", "occupied", "blocked", "available", "as_of")
COUNT_FIELDS = ("staffed", "occupied", "blocked", "available")


# --------------------------------------------------------------------------- settings


class Columns(AdapterConfig):
    """Header name in the file for each of bedboard's columns (matched ignoring case and
    surrounding spaces). Columns the file does not have are simply not used."""

    unit: str = Field(default="unit", min_length=1, max_length=200)
    staffed: str = Field(default="staffed", min_length=1, max_length=200)
    occupied: str = Field(default="occupied", min_length=1, max_length=200)
    blocked: str = Field(default="blocked", min_length=1, max_length=200)
    available: str = Field(default="available", min_length=1, max_length=200)
    as_of: str = Field(default="as_of", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _distinct(self) -> Columns:
        seen: dict[str, str] = {}
        for name in FIELDS:
            header = _norm(getattr(self, name))
            if header in seen:
                raise ValueError(f"{seen[header]} and {name} name the same column {header!r}")
            seen[header] = name
        return self


class CsvFormat(AdapterConfig):
    """How to read the file: everything ``parse_with`` needs, and nothing about where it is."""

    columns: Columns = Field(
        default_factory=Columns, description="bedboard column → the file's header name."
    )
    encoding: str = Field(
        default="auto",
        description='"auto": UTF-8 (with or without BOM; UTF-16 when it has a BOM), else'
        " Windows-1252. Or any Python codec name.",
    )
    delimiter: str = Field(
        default="auto",
        description='"auto": comma, semicolon, tab or pipe, whichever splits the header into'
        " the expected column names. Or one character.",
    )
    default_timezone: str = Field(
        default="UTC",
        description="IANA zone (e.g. America/Chicago) for as_of values written without an offset.",
    )
    as_of_format: str | None = Field(
        default=None,
        description="strptime format for as_of when it is neither ISO 8601 nor MM/DD/YYYY HH:MM.",
    )
    timestamp_column_missing: Literal["reject", "use_file_time"] = Field(
        default="reject",
        description='When the file has no as_of column: "reject" the file, or "use_file_time"'
        " (the file's modification time, or the URL's Last-Modified).",
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "auto":
            return "auto"
        try:
            b"csv".decode(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        except UnicodeError:
            pass  # a real codec that merely dislikes this sample
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value.lower() == "auto":
            return "auto"
        if value.lower() == "tab":
            return "\t"
        if len(value) != 1 or value in '"\r\n':
            raise ValueError('one character (not a quote or line break), or "auto"')
        return value

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
        return value


class CsvConfig(CsvFormat):
    """A CSV drop feed's settings: the format plus where the file is."""

    source: str = Field(
        min_length=1,
        max_length=2000,
        description="An absolute file path, a directory (its newest file matching `pattern`"
        " is read), or an http(s) URL.",
    )
    pattern: str = Field(
        default="*.csv",
        min_length=1,
        max_length=200,
        description="For a directory: which files to consider (case-insensitive glob).",
    )
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES,
        ge=1024,
        le=MAX_MAX_BYTES,
        description="A larger source is refused without being read.",
    )
    timeout_s: float = Field(default=30.0, gt=0, le=300, description="URL: whole request.")
    connect_timeout_s: float = Field(default=10.0, gt=0, le=120, description="URL: connecting.")
    bearer_token: str | None = Field(
        default=None, max_length=4000, description="URL: sent as `Authorization: Bearer …`."
    )

    @field_validator("source")
    @classmethod
    def _path_or_url(cls, value: str) -> str:
        value = value.strip()
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        if _is_url(value):
            parts = urlsplit(value)
            if not parts.hostname:
                raise ValueError("the URL has no host")
            if parts.username or parts.password:
                raise ValueError("put credentials in bearer_token, not in the URL")
            return value
        if "://" in value:
            raise ValueError("only http and https URLs are supported")
        if not os.path.isabs(value):
            raise ValueError("a file or directory path must be absolute")
        return value

    @field_validator("pattern")
    @classmethod
    def _plain_glob(cls, value: str) -> str:
        if "/" in value or "\\" in value or "\x00" in value:
            raise ValueError("a file name pattern, without directories")
        return value


def _is_url(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def _norm(name: str) -> str:
    """Header names match ignoring case, surrounding spaces and repeated inner spaces."""
    return _SPACES.sub(" ", name.replace("\ufeff", "")).strip().casefold()


def _reject(location: str, reason: str, raw: str = "") -> Rejected:
    """A quarantine entry PostgreSQL can store: NULs shown as ␀, location and reason
    within their columns (200 and 500 characters; a long location keeps its end, where
    the line number is)."""
    location, reason, raw = (t.replace("\x00", "\u2400") for t in (location, reason, raw))
    if len(location) > MAX_LOCATION_CHARS:
        location = "…" + location[-(MAX_LOCATION_CHARS - 1) :]
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return Rejected.of(location, reason, raw)


def _show(text: str, limit: int = 40) -> str:
    """A cell's value for a reason: quoted, escaped (NULs and controls visible), short."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


# --------------------------------------------------------------------------- parse


class _RowError(Exception):
    pass


@dataclass(frozen=True)
class _Layout:
    """Where each of bedboard's columns is in this file (None: the file has no such column)."""

    positions: dict[str, int | None]
    width: int


class _Lines:
    """Hands csv.reader one physical line at a time, counting them and keeping their text,
    so a rejected record can name its first line and quote what it was."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.count = 0
        self._pending: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        self._pending.append(line)
        return line

    def take(self) -> str:
        text = "".join(self._pending).rstrip("\r\n")
        self._pending.clear()
        return text


class _Rejections:
    """Rejected rows, listed up to MAX_REJECTED; beyond that only counted."""

    def __init__(self) -> None:
        self.items: list[Rejected] = []
        self.more = 0
        self.more_from = 0

    def add(self, line: int, reason: str, raw: str = "") -> None:
        if len(self.items) < MAX_REJECTED:
            self.items.append(_reject(f"line {line}", reason, raw))
            return
        if not self.more:
            self.more_from = line
        self.more += 1

    def done(self) -> list[Rejected]:
        if self.more:
            self.items.append(
                _reject(
                    f"line {self.more_from} onwards",
                    f"{self.more} more rows were rejected (only the first {MAX_REJECTED} are listed)",
                )
            )
        return self.items


def decode(raw: bytes, encoding: str) -> str:
    """Bytes to text. ``auto``: a UTF-16 BOM means UTF-16; valid UTF-8 (BOM or not) is
    UTF-8; anything else is read as Windows-1252 (what Excel on Windows writes). Bytes a
    codec cannot map become U+FFFD. Raises UnicodeError only for codecs that refuse to
    replace (e.g. idna)."""
    if encoding == "auto":
        if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = raw.decode("utf-16", "replace")
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252", "replace")
    else:
        text = raw.decode(encoding, "replace")
    return text.removeprefix("\ufeff")


def choose_delimiter(text: str, fmt: CsvFormat) -> str:
    """The configured delimiter, or for ``auto``: the candidate under which the first line
    holds the most expected column names; undecided, csv.Sniffer on the first lines;
    failing that, a comma."""
    if fmt.delimiter != "auto":
        return fmt.delimiter
    lines = [line for line in text[: 64 * 1024].splitlines() if line.strip()][:SNIFF_LINES]
    if not lines:
        return ","
    wanted = {_norm(getattr(fmt.columns, name)) for name in FIELDS}
    scores: dict[str, int] = {}
    for candidate in DELIMITERS:
        try:
            cells = next(csv.reader([lines[0][:SNIFF_CHARS]], delimiter=candidate), [])
        except csv.Error:
            cells = []
        scores[candidate] = len(wanted & {_norm(cell) for cell in cells})
    best = max(scores.values())
    winners = [d for d in DELIMITERS if scores[d] == best]
    if best > 0 and len(winners) == 1:
        return winners[0]
    sample = "\n".join(line[:SNIFF_CHARS] for line in lines)[: SNIFF_CHARS * 2]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(winners)).delimiter
    except (csv.Error, ValueError, IndexError, KeyError, TypeError):
        return winners[0] if best > 0 else ","
    return sniffed if sniffed in winners else (winners[0] if best > 0 else ",")


def _layout(header: list[str], fmt: CsvFormat, file_time: datetime | None) -> _Layout | str:
    """Find bedboard's columns in the header; a string says why the file cannot be read."""
    found: dict[str, list[int]] = {}
    for index, name in enumerate(header):
        found.setdefault(_norm(name), []).append(index)
    positions: dict[str, int | None] = {}
    for name in FIELDS:
        wanted = _norm(getattr(fmt.columns, name))
        where = found.get(wanted, [])
        if len(where) > 1:
            columns = " and ".join(str(i + 1) for i in where)
            return f"the header has the {name} column {wanted!r} twice (columns {columns})"
        positions[name] = where[0] if where else None
    listing = ", ".join(_show(h, 30) for h in header[:20]) + (", …" if len(header) > 20 else "")
    missing: list[str] = []
    if positions["unit"] is None:
        missing.append(f"unit ({fmt.columns.unit!r})")
    has_counts = positions["staffed"] is not None or positions["occupied"] is not None
    if has_counts:
        for name in ("staffed", "occupied"):
            if positions[name] is None:
                missing.append(f"{name} ({getattr(fmt.columns, name)!r})")
    elif positions["available"] is None:
        missing.append(
            f"staffed and occupied ({fmt.columns.staffed!r}, {fmt.columns.occupied!r})"
            f" or available ({fmt.columns.available!r})"
        )
    if positions["as_of"] is None and fmt.timestamp_column_missing == "reject":
        missing.append(f"as_of ({fmt.columns.as_of!r})")
    if missing:
        return f"the header lacks {'; '.join(missing)}; it has: {listing}"
    if positions["as_of"] is None:
        if file_time is None:
            return "the header has no as_of column and the source's modification time is unknown"
        if not EARLIEST_AS_OF <= file_time < LATEST_AS_OF:
            return (
                "the header has no as_of column and the source's modification time"
                f" ({file_time.isoformat()}) is not plausible"
            )
    return _Layout(positions, len(header))


def _count(name: str, text: str) -> int | None:
    if not text:
        return None
    match = _WHOLE.fullmatch(text)
    if match is None:
        if _NEGATIVE.fullmatch(text):
            raise _RowError(f"{name} is negative ({_show(text)})")
        raise _RowError(f"{name} is not a whole number ({_show(text)})")
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > len(str(MAX_COUNT)) or int(digits) > MAX_COUNT:
        raise _RowError(f"{name} is more than {MAX_COUNT} ({_show(text)})")
    return int(digits)


def parse_time(text: str, fmt: CsvFormat) -> datetime:
    """A cell to an aware UTC datetime. ISO 8601 / RFC 3339, or MM/DD/YYYY HH:MM[:SS][ AM|PM],
    or ``as_of_format``; without an offset, the time is in ``default_timezone`` (an
    ambiguous autumn hour is read as the first, daylight-saving one). Raises _RowError."""
    value: datetime | None = None
    if fmt.as_of_format:
        try:
            value = datetime.strptime(text, fmt.as_of_format)  # noqa: DTZ007 -- zone added below
        except (ValueError, OverflowError):
            raise _RowError(
                f"as_of {_show(text)} does not match the format {fmt.as_of_format!r}"
            ) from None
    else:
        if _DATE_ONLY.fullmatch(text):
            raise _RowError(f"as_of {_show(text)} has no time of day")
        try:
            value = datetime.fromisoformat(text)
        except (ValueError, OverflowError):
            for pattern in US_FORMATS:
                try:
                    value = datetime.strptime(text, pattern)  # noqa: DTZ007 -- zone added below
                    break
                except (ValueError, OverflowError):
                    continue
    if value is None:
        raise _RowError(
            f"as_of {_show(text)} is not a time (use ISO 8601, e.g. 2024-05-01T06:00:00-05:00)"
        )
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=ZoneInfo(fmt.default_timezone))
        utc = value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _RowError(f"as_of {_show(text)} is out of range") from None
    if not EARLIEST_AS_OF <= utc < LATEST_AS_OF:
        raise _RowError(f"as_of {_show(text)} is not a plausible time (before 2000 or after 2099)")
    return utc


def _row(
    record: list[str], layout: _Layout, fmt: CsvFormat, file_time: datetime | None
) -> SourceReport:
    """One data record to a report; raises _RowError with the reason it cannot be."""
    if any("\x00" in cell for cell in record):
        raise _RowError("the row contains NUL characters")
    extra = record[layout.width :]
    if any(cell.strip() for cell in extra):
        raise _RowError(
            f"the row has {len(record)} fields but the header has {layout.width}"
            " (an unquoted delimiter inside a value?)"
        )

    def cell(name: str) -> str:
        index = layout.positions[name]
        return record[index].strip() if index is not None and index < len(record) else ""

    unit = cell("unit")
    if not unit:
        raise _RowError("the unit is missing")
    if len(unit) > MAX_UNIT_CHARS:
        raise _RowError(f"the unit name is longer than {MAX_UNIT_CHARS} characters")
    counts = {name: _count(name, cell(name)) for name in COUNT_FIELDS}
    staffed, occupied = counts["staffed"], counts["occupied"]
    blocked, available = counts["blocked"], counts["available"]
    if staffed is not None or occupied is not None:
        if staffed is None or occupied is None:
            raise _RowError(f"{'staffed' if staffed is None else 'occupied'} is missing")
        if occupied > staffed:
            raise _RowError(f"occupied ({occupied}) exceeds staffed ({staffed})")
        if (blocked or 0) > staffed - occupied:
            raise _RowError(
                f"blocked ({blocked}) exceeds staffed minus occupied ({staffed - occupied})"
            )
        derived = staffed - occupied - (blocked or 0)
        if available is not None and available != derived:
            raise _RowError(
                f"available ({available}) does not match staffed - occupied - blocked ({derived})"
            )
        available = None  # the counts say it; census wants one or the other
    elif available is None:
        raise _RowError("no counts: give staffed and occupied, or available")
    elif blocked:
        raise _RowError("blocked needs staffed and occupied")
    else:
        blocked = None
    if layout.positions["as_of"] is not None:
        text = cell("as_of")
        if not text:
            raise _RowError("as_of is missing")
        as_of = parse_time(text, fmt)
    else:
        assert file_time is not None  # _layout refuses a file with neither
        as_of = file_time
    return SourceReport(
        source_id=unit,
        as_of=as_of,
        staffed=staffed,
        occupied=occupied,
        blocked=blocked,
        available=available,
    )


def parse_with(raw: bytes, fmt: CsvFormat, *, file_time: datetime | None = None) -> Parsed:
    """Pure: a CSV file's bytes to reports (one per valid row) and rejections ("line N" and
    why). ``file_time`` (aware) stands in for a missing as_of column when the format says
    ``use_file_time``. Never raises on bad input."""
    parsed = Parsed()
    try:
        text = decode(raw, fmt.encoding)
    except (UnicodeError, LookupError) as exc:
        parsed.rejected.append(_reject("file", f"cannot decode as {fmt.encoding}: {exc}"))
        return parsed
    if not text.strip():
        parsed.rejected.append(_reject("file", "the file is empty"))
        return parsed
    if file_time is not None:
        file_time = file_time.astimezone(UTC)
    lines = _Lines(text)
    reader = csv.reader(
        lines, delimiter=choose_delimiter(text, fmt), quotechar='"', skipinitialspace=True
    )
    rejections = _Rejections()
    layout: _Layout | None = None
    rows = 0
    cut_at = 0  # the line where reading stopped at MAX_ROWS
    while True:
        start = lines.count + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rejections.add(start, f"malformed CSV: {exc}", lines.take())
            continue
        raw_text = lines.take()
        if not any(cell.strip() for cell in record):
            continue  # blank line
        if layout is None:
            found = _layout(record, fmt, file_time)
            if isinstance(found, str):
                parsed.rejected.append(_reject(f"line {start}", found, raw_text))
                return parsed
            layout = found
            continue
        rows += 1
        if rows > MAX_ROWS:
            cut_at = start
            break
        try:
            parsed.reports.append(_row(record, layout, fmt, file_time))
        except _RowError as exc:
            rejections.add(start, str(exc), raw_text)
    parsed.rejected.extend(rejections.done())
    if layout is None:
        parsed.rejected.append(_reject("line 1", "no header row found"))
    if cut_at:
        parsed.rejected.append(
            _reject(f"line {cut_at}", f"more than {MAX_ROWS} rows; the rest was not read")
        )
    return parsed


# --------------------------------------------------------------------------- fetch


class SourceTooLarge(AdapterError):
    """The source is bigger than ``max_bytes``: refused unread (a temporary failure: the
    hospital can replace it). ``rejected`` is the entry for the feed's quarantine."""

    def __init__(self, where: str, size: int | None, limit: int) -> None:
        size_text = f"{size:,} bytes" if size is not None else "more than that"
        message = (
            f"{where} is {size_text}, over the feed's max_bytes of {limit:,};"
            " it was not read (replace it with a smaller file or raise max_bytes)"
        )
        super().__init__(message, permanent=False)
        self.rejected = [_reject(where, message)]


@dataclass(frozen=True)
class _FileMark:
    """What identifies one version of a dropped file (the cursor for path sources)."""

    path: str
    mtime_ns: int
    size: int

    def cursor(self) -> str:
        return json.dumps({"file": self.path, "mtime_ns": self.mtime_ns, "size": self.size})


@dataclass(frozen=True)
class _UrlMark:
    """Validators and content digest of the last response (the cursor for URL sources)."""

    url: str
    etag: str | None
    last_modified: str | None
    sha256: str | None

    def cursor(self) -> str:
        return json.dumps(
            {
                "url": self.url,
                "etag": self.etag,
                "last_modified": self.last_modified,
                "sha256": self.sha256,
            }
        )

    @staticmethod
    def load(cursor: str | None, url: str) -> _UrlMark | None:
        data = _load_cursor(cursor)
        if data is None or data.get("url") != url:
            return None

        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        return _UrlMark(url, text("etag"), text("last_modified"), text("sha256"))


def _load_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    try:
        data = json.loads(cursor)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _public_url(url: str) -> str:
    """The URL without query or fragment (they may carry a key) for messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _http_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class _UrlWording(Wording):
    """How a CSV URL's failures are worded (the feed's health shows them)."""

    def __init__(self, source: str, verb: str) -> None:
        self.where = _public_url(source)
        self.verb = verb  # "fetch" in a poll, "reach" in a check

    def refused(
        self, status: int, url: URL | str, excerpt: bytes, location: str | None
    ) -> AdapterError:
        if status in (401, 403):
            return AdapterError(
                f"{self.where} refused bedboard's credentials (HTTP {status}); check bearer_token",
                permanent=True,
            )
        return AdapterError(f"{self.where} answered HTTP {status}", permanent=False)

    def too_large(self, url: URL | str, size: int | None, limit: int) -> AdapterError:
        return SourceTooLarge(self.where, size, limit)

    def failed(self, url: URL | str, exc: Exception) -> AdapterError:
        return AdapterError(f"cannot {self.verb} {self.where}: {exc or type(exc).__name__}")


def _os_error(path: Path, exc: OSError) -> AdapterError:
    if isinstance(exc, FileNotFoundError):
        return AdapterError(f"{path} does not exist (yet)", permanent=False)
    if isinstance(exc, PermissionError):
        return AdapterError(f"bedboard may not read {path}: {exc.strerror}", permanent=True)
    return AdapterError(f"cannot read {path}: {exc.strerror or exc}", permanent=False)


def _with_file_name(parsed: Parsed, name: str) -> Parsed:
    """Prefix rejection locations with the file's name: "census.csv line 7"."""
    parsed.rejected = [_reject(f"{name} {r.location}", r.reason, r.raw) for r in parsed.rejected]
    return parsed


@register
class CsvDropAdapter(Adapter):
    kind = "csv"
    title = "CSV file drop (directory, file or URL)"
    Config = CsvConfig
    SECRET_FIELDS = frozenset({"bearer_token"})
    polled = True

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__(config)
        self.settings = (
            config
            if isinstance(config, CsvConfig)
            else CsvConfig.model_validate(config.model_dump())
        )

    # ---- pure

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        """The default layout: ``unit,staffed,occupied,blocked,as_of``."""
        return parse_with(raw, CsvFormat())

    @classmethod
    def parse_with(cls, raw: bytes, fmt: CsvFormat, *, file_time: datetime | None = None) -> Parsed:
        return parse_with(raw, fmt, file_time=file_time)

    # ---- check

    async def check(self) -> None:
        if _is_url(self.settings.source):
            await self._check_url()
        else:
            await asyncio.to_thread(self._check_path)

    def _check_path(self) -> None:
        path = self.local_path(self.settings.source)
        try:
            info = path.stat()
            if stat.S_ISDIR(info.st_mode):
                with os.scandir(path) as entries:
                    next(entries, None)
            elif stat.S_ISREG(info.st_mode):
                with path.open("rb") as handle:
                    handle.read(0)
            else:
                raise AdapterError(f"{path} is neither a file nor a directory", permanent=True)
        except OSError as exc:
            raise _os_error(path, exc) from None

    async def _check_url(self) -> None:
        """Ask for the first byte with the same method, URL and token a poll uses (a HEAD
        can be refused where a GET is allowed, e.g. by pre-signed URLs); read nothing."""
        url = self.settings.source
        async with self._client("reach") as client:
            status = await client.status(url, headers={"Range": "bytes=0-0"})
        if status not in NOT_REFUSED:
            raise client.wording.refused(status, url, b"", None)

    # ---- fetch

    async def fetch(self, cursor: str | None) -> Fetched:
        """Read the source unless it is unchanged since ``cursor``; parse it."""
        if _is_url(self.settings.source):
            return await self._fetch_url(cursor)
        return await asyncio.to_thread(self._fetch_path, cursor)

    def _newest(self, directory: Path) -> Path:
        pattern = self.settings.pattern.casefold()
        best: tuple[int, str] | None = None
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    name = entry.name
                    if name.startswith((".", "~")) or not fnmatchcase(name.casefold(), pattern):
                        continue
                    try:
                        if not entry.is_file():
                            continue
                        key = (entry.stat().st_mtime_ns, name)
                    except OSError:
                        continue  # vanished or unreadable while listing
                    if best is None or key > best:
                        best = key
        except OSError as exc:
            raise _os_error(directory, exc) from None
        if best is None:
            raise AdapterError(
                f"no file matching {self.settings.pattern!r} in {directory} (yet)", permanent=False
            )
        return directory / best[1]

    def _fetch_path(self, cursor: str | None) -> Fetched:
        limit = self.settings.max_bytes
        path = self.local_path(self.settings.source)
        try:
            if path.is_dir():
                path = self.local_path(self._newest(path))  # a link in the folder, too
            with path.open("rb") as handle:
                before = os.fstat(handle.fileno())
                if not stat.S_ISREG(before.st_mode):
                    raise AdapterError(f"{path} is not a regular file", permanent=True)
                mark = _FileMark(str(path), before.st_mtime_ns, before.st_size)
                if cursor == mark.cursor():
                    return Fetched(Parsed(), cursor)
                if before.st_size > limit:
                    raise SourceTooLarge(str(path), before.st_size, limit)
                raw = handle.read(limit + 1)
                after = os.fstat(handle.fileno())
        except OSError as exc:
            raise _os_error(path, exc) from None
        if len(raw) > limit:
            raise SourceTooLarge(str(path), None, limit)
        if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
            raise AdapterError(f"{path} changed while being read; trying again later")
        file_time = datetime.fromtimestamp(before.st_mtime_ns / 1e9, UTC)
        parsed = parse_with(raw, self.settings, file_time=file_time)
        return Fetched(_with_file_name(parsed, path.name), mark.cursor())

    def _client(self, verb: str) -> Client:
        """The URL source's client: the token, both timeouts, max_bytes. Redirects are
        followed, as they always were for CSV URLs (the fhir and have kinds do not); the
        token goes only to the source's own origin (aiohttp drops Authorization on a
        redirect elsewhere; tests/adapters/test_http.py holds it to that)."""
        return Client(
            headers={"User-Agent": USER_AGENT, **bearer(self.settings.bearer_token)},
            timeout_s=self.settings.timeout_s,
            connect_timeout_s=self.settings.connect_timeout_s,
            max_bytes=self.settings.max_bytes,
            follow_redirects=True,
            wording=_UrlWording(self.settings.source, verb),
        )

    async def _fetch_url(self, cursor: str | None) -> Fetched:
        url = self.settings.source
        previous = _UrlMark.load(cursor, url)
        headers: dict[str, str] = {}
        if previous is not None and previous.etag:
            headers["If-None-Match"] = previous.etag
        if previous is not None and previous.last_modified:
            headers["If-Modified-Since"] = previous.last_modified
        async with self._client("fetch") as client:
            result = await client.get(url, headers=headers, accept_status=NOT_REFUSED)
        if result.status == 304 and previous is not None:
            return Fetched(Parsed(), previous.cursor())
        raw = result.body
        etag = result.headers.get("ETag")
        last_modified = result.headers.get("Last-Modified")
        mark = _UrlMark(url, etag, last_modified, hashlib.sha256(raw).hexdigest())
        if previous is not None and (previous.sha256, previous.last_modified) == (
            mark.sha256,
            mark.last_modified,
        ):
            return Fetched(Parsed(), mark.cursor())  # a server without validators, same body
        parsed = parse_with(raw, self.settings, file_time=_http_time(last_modified))
        return Fetched(parsed, mark.cursor())
