"""CSV drop adapter: parsing recorded files, properties of parse on any input, fetching
from a directory, a file and a URL, and the whole path into the census through ingest."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bedboard import feeds
from facility_adapters.base import REGISTRY, AdapterError, Parsed, SourceReport
from facility_adapters.csv_drop import (
    MAX_REJECTED,
    MAX_ROWS,
    Columns,
    CsvConfig,
    CsvDropAdapter,
    CsvFormat,
    SourceTooLarge,
    parse_with,
)
from tests.adapters import rules

FIXTURES = rules.FIXTURES / "csv"
HEADER = "unit,staffed,occupied,blocked,as_of\n"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def reasons(parsed: Parsed) -> dict[str, str]:
    return {r.location: r.reason for r in parsed.rejected}


def assert_census_rules(parsed: Parsed) -> None:
    """The rules every adapter keeps (tests/adapters/rules.py), and this one's own: times
    in UTC and plausible, unit names trimmed."""
    rules.assert_census_rules(parsed)
    for report in parsed.reports:
        assert report.as_of.utcoffset() == timedelta(0)
        assert utc(2000, 1, 1) <= report.as_of < utc(2100, 1, 1)
        assert report.source_id == report.source_id.strip()
        assert 1 <= len(report.source_id) <= 200
        assert "\x00" not in report.source_id


# --------------------------------------------------------------------------- parse: fixtures


def test_default_layout_file_becomes_one_report_per_unit() -> None:
    parsed = CsvDropAdapter.parse(fixture("default.csv"))
    assert parsed.rejected == []
    assert parsed.reports == [
        SourceReport("4 East Adult", utc(2024, 5, 1, 11), staffed=24, occupied=21, blocked=1),
        SourceReport("5 West Adolescent", utc(2024, 5, 1, 11), staffed=12, occupied=12, blocked=0),
        SourceReport("Geriatric Psychiatry", utc(2024, 5, 1, 11), staffed=16, occupied=9),
    ]


def test_custom_columns_with_semicolons_and_local_times() -> None:
    fmt = CsvFormat(
        columns=Columns(
            unit="Unit Name",
            staffed="Staffed Beds",
            occupied="occupied beds",  # header names match ignoring case
            blocked="Closed Beds",
            as_of="Last Updated",
        ),
        default_timezone="America/Chicago",
    )
    parsed = parse_with(fixture("custom_semicolon.csv"), fmt)
    assert parsed.rejected == []
    by_unit = {r.source_id: r for r in parsed.reports}
    assert by_unit["4 East; Adult"].staffed == 24  # a quoted semicolon stays in the name
    assert by_unit["4 East; Adult"].blocked == 2
    assert by_unit["4 East; Adult"].as_of == utc(2024, 5, 1, 11)  # 06:00 CDT
    assert by_unit["Child & Family"].as_of == utc(2024, 5, 1, 11, 15)
    # 01:30 on the night clocks go back happens twice: read as the first (daylight) one.
    assert by_unit["Crisis Stabilization"].as_of == utc(2024, 11, 3, 6, 30)
    assert by_unit["Crisis Stabilization"].blocked is None


def test_windows_1252_file_keeps_its_accents_and_dashes() -> None:
    parsed = CsvDropAdapter.parse(fixture("cp1252.csv"))
    assert parsed.rejected == []
    assert [r.source_id for r in parsed.reports] == [
        "Behavioral Health \u2013 Adolescent",
        "Unit\u00e9 G\u00e9riatrique",
    ]


def test_bad_rows_are_rejected_with_their_line_numbers_and_good_rows_still_come_through() -> None:
    parsed = CsvDropAdapter.parse(fixture("bad_rows.csv"))
    assert [r.source_id for r in parsed.reports] == [
        "4 East Adult",
        "Dual Diagnosis\n(co-occurring)",  # a quoted line break: one record on lines 7-8
        "Adolescent Girls",
    ]
    assert reasons(parsed) == {
        "line 3": "staffed is not a whole number ('twelve')",
        "line 4": "staffed is negative ('-2')",
        "line 5": "occupied (25) exceeds staffed (20)",
        "line 9": "blocked (7) exceeds staffed minus occupied (6)",
        "line 10": "staffed is more than 2000 ('5000')",
        "line 11": (
            "as_of 'yesterday morning' is not a time (use ISO 8601, e.g. 2024-05-01T06:00:00-05:00)"
        ),
        "line 12": "as_of is missing",
        "line 13": "the unit is missing",
        "line 14": (
            "the row has 6 fields but the header has 5 (an unquoted delimiter inside a value?)"
        ),
        "line 15": "as_of '1999-12-31T23:00:00Z' is not a plausible time (before 2000 or after 2099)",
    }
    raw = {r.location: r.raw for r in parsed.rejected}
    assert raw["line 5"] == "Crisis Unit,20,25,0,2024-05-01T06:00:00-05:00"
    assert_census_rules(parsed)


# --------------------------------------------------------------------------- parse: shapes


def test_byte_order_mark_and_crlf_are_harmless() -> None:
    raw = b"\xef\xbb\xbf" + fixture("default.csv").replace(b"\n", b"\r\n")
    assert CsvDropAdapter.parse(raw) == CsvDropAdapter.parse(fixture("default.csv"))


def test_utf16_with_bom_is_recognised() -> None:
    raw = fixture("default.csv").decode().encode("utf-16")
    assert CsvDropAdapter.parse(raw) == CsvDropAdapter.parse(fixture("default.csv"))


def test_available_alone_is_a_layout_of_its_own() -> None:
    raw = b"Ward,Open,Time\nNorth,3,2024-05-01T06:00:00Z\nSouth,x,2024-05-01T06:00:00Z\n"
    fmt = CsvFormat(columns=Columns(unit="Ward", available="Open", as_of="Time"))
    parsed = parse_with(raw, fmt)
    assert parsed.reports == [SourceReport("North", utc(2024, 5, 1, 6), available=3)]
    assert reasons(parsed) == {"line 3": "available is not a whole number ('x')"}


def test_available_next_to_counts_must_agree_with_them() -> None:
    raw = (
        HEADER.replace("as_of", "available,as_of")
        + "A,10,6,1,3,2024-05-01T06:00:00Z\n"
        + "B,10,6,1,4,2024-05-01T06:00:00Z\n"
        + "C,,,,5,2024-05-01T06:00:00Z\n"
    ).encode()
    parsed = CsvDropAdapter.parse(raw)
    assert parsed.reports == [
        SourceReport("A", utc(2024, 5, 1, 6), staffed=10, occupied=6, blocked=1),
        SourceReport("C", utc(2024, 5, 1, 6), available=5),
    ]
    assert reasons(parsed) == {
        "line 3": "available (4) does not match staffed - occupied - blocked (3)"
    }


def test_a_header_naming_a_column_twice_rejects_the_file_once() -> None:
    raw = b"unit,staffed,occupied,staffed,as_of\nA,1,1,2,2024-05-01T06:00:00Z\n"
    parsed = CsvDropAdapter.parse(raw)
    assert parsed.reports == []
    assert reasons(parsed) == {
        "line 1": "the header has the staffed column 'staffed' twice (columns 2 and 4)"
    }


def test_duplicate_columns_bedboard_does_not_use_are_fine() -> None:
    raw = b"unit,note,staffed,occupied,note,as_of\nA,x,4,1,y,2024-05-01T06:00:00Z\n"
    assert CsvDropAdapter.parse(raw).reports == [
        SourceReport("A", utc(2024, 5, 1, 6), staffed=4, occupied=1)
    ]


def test_a_header_without_needed_columns_says_which() -> None:
    parsed = CsvDropAdapter.parse(b"name,beds\nA,3\n")
    assert len(parsed.rejected) == 1
    reason = parsed.rejected[0].reason
    assert "unit ('unit')" in reason
    assert "as_of ('as_of')" in reason
    assert "it has: 'name', 'beds'" in reason


def test_empty_and_header_only_files() -> None:
    assert reasons(CsvDropAdapter.parse(b"")) == {"file": "the file is empty"}
    assert reasons(CsvDropAdapter.parse(b" \r\n\n")) == {"file": "the file is empty"}
    assert CsvDropAdapter.parse(HEADER.encode()) == Parsed()


def test_short_rows_leave_cells_empty_and_trailing_empty_cells_are_ignored() -> None:
    raw = (HEADER + "A,4,1,,2024-05-01T06:00:00Z,,,\nB,4,1\n").encode()
    parsed = CsvDropAdapter.parse(raw)
    assert [r.source_id for r in parsed.reports] == ["A"]
    assert reasons(parsed) == {"line 3": "as_of is missing"}


def test_nul_bytes_reject_their_row_only() -> None:
    raw = (HEADER + "A\x00,4,1,0,2024-05-01T06:00:00Z\nB,4,1,0,2024-05-01T06:00:00Z\n").encode()
    parsed = CsvDropAdapter.parse(raw)
    assert [r.source_id for r in parsed.reports] == ["B"]
    assert reasons(parsed) == {"line 2": "the row contains NUL characters"}


def test_an_oversized_field_is_one_malformed_row() -> None:
    raw = (HEADER + 'A,"' + "9" * 200_000 + '",1,0,x\nB,4,1,0,2024-05-01T06:00:00Z\n').encode()
    parsed = CsvDropAdapter.parse(raw)
    assert [r.source_id for r in parsed.reports] == ["B"]
    assert parsed.rejected[0].location == "line 2"
    assert parsed.rejected[0].reason.startswith("malformed CSV: field larger than field limit")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-05-01T06:00:00-05:00", utc(2024, 5, 1, 11)),
        ("2024-05-01T11:00:00Z", utc(2024, 5, 1, 11)),
        ("2024-05-01 06:00", utc(2024, 5, 1, 11)),  # no offset: default_timezone
        ("2024-01-15 06:00", utc(2024, 1, 15, 12)),  # CST in winter
        ("05/01/2024 06:00", utc(2024, 5, 1, 11)),
        ("5/1/2024 6:00 AM", utc(2024, 5, 1, 11)),
        ("5/1/2024 6:00:30 PM", utc(2024, 5, 1, 23, 0, 30)),
    ],
)
def test_time_formats(cell: str, expected: datetime) -> None:
    fmt = CsvFormat(default_timezone="America/Chicago")
    parsed = parse_with(f"{HEADER}A,4,1,0,{cell}\n".encode(), fmt)
    assert parsed.rejected == []
    assert parsed.reports[0].as_of == expected


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2024-05-01", "has no time of day"),
        ("05/01/2024", "has no time of day"),
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("9999-12-31T23:59:59-14:00", "out of range"),
        ("1970-01-01T00:00:00Z", "not a plausible time"),
        ("2150-01-01T00:00:00Z", "not a plausible time"),
        ("13/45/2024 06:00", "is not a time"),
    ],
)
def test_times_that_are_refused(cell: str, reason: str) -> None:
    parsed = CsvDropAdapter.parse(f"{HEADER}A,4,1,0,{cell}\n".encode())
    assert parsed.reports == []
    assert reason in parsed.rejected[0].reason


def test_as_of_format_reads_other_conventions() -> None:
    fmt = CsvFormat(as_of_format="%d.%m.%Y %H:%M", default_timezone="Europe/Berlin")
    parsed = parse_with(f"{HEADER}A,4,1,0,01.05.2024 08:00\nB,4,1,0,soon\n".encode(), fmt)
    assert parsed.reports[0].as_of == utc(2024, 5, 1, 6)
    assert reasons(parsed) == {"line 3": "as_of 'soon' does not match the format '%d.%m.%Y %H:%M'"}


def test_without_an_as_of_column_the_file_time_is_used_when_asked() -> None:
    raw = b"unit,staffed,occupied\nA,4,1\n"
    stamped = datetime(2024, 5, 1, 6, tzinfo=timezone(timedelta(hours=-5)))
    assert "as_of" in CsvDropAdapter.parse(raw).rejected[0].reason
    fmt = CsvFormat(timestamp_column_missing="use_file_time")
    parsed = parse_with(raw, fmt, file_time=stamped)
    assert parsed.reports == [SourceReport("A", utc(2024, 5, 1, 11), staffed=4, occupied=1)]
    assert "modification time is unknown" in parse_with(raw, fmt).rejected[0].reason
    unset_clock = datetime(1970, 1, 1, tzinfo=UTC)
    assert "not plausible" in parse_with(raw, fmt, file_time=unset_clock).rejected[0].reason


def test_a_space_before_a_quoted_value_is_not_part_of_it() -> None:
    raw = (HEADER + '"4 East, Adult", 24, 20, 1, "2024-05-01T06:00:00Z"\n').encode()
    assert CsvDropAdapter.parse(raw).reports == [
        SourceReport("4 East, Adult", utc(2024, 5, 1, 6), staffed=24, occupied=20, blocked=1)
    ]


def test_rejections_are_listed_up_to_a_limit_then_counted() -> None:
    raw = (HEADER + "A,x,1,0,2024-05-01T06:00:00Z\n" * (MAX_REJECTED + 50)).encode()
    parsed = CsvDropAdapter.parse(raw)
    assert len(parsed.rejected) == MAX_REJECTED + 1
    last = parsed.rejected[-1]
    assert last.location == f"line {MAX_REJECTED + 2} onwards"
    assert last.reason.startswith("50 more rows were rejected")


def test_reading_stops_after_the_row_limit_and_says_where() -> None:
    bad = MAX_REJECTED + 5  # enough that the rejected rows themselves are only counted
    raw = (HEADER + "B,x\n" * bad + f"A,4,1,0,{ROW_TIME}\n" * MAX_ROWS).encode()
    parsed = CsvDropAdapter.parse(raw)
    assert len(parsed.reports) == MAX_ROWS - bad
    assert parsed.rejected[-2].reason.startswith("5 more rows were rejected")
    assert parsed.rejected[-1].location == f"line {MAX_ROWS + 2}"
    assert parsed.rejected[-1].reason == f"more than {MAX_ROWS} rows; the rest was not read"


def test_a_delimiter_is_found_from_the_header() -> None:
    for delimiter in (",", ";", "\t", "|"):
        raw = HEADER.replace(",", delimiter) + delimiter.join(
            ["A", "4", "1", "0", "2024-05-01T06:00:00Z"]
        )
        assert [r.source_id for r in CsvDropAdapter.parse(raw.encode()).reports] == ["A"]


# --------------------------------------------------------------------------- parse: properties


@PROPERTY
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert_census_rules(CsvDropAdapter.parse(raw))


@PROPERTY
@given(st.binary(max_size=500))
def test_parse_never_raises_on_arbitrary_bytes_after_a_good_header(raw: bytes) -> None:
    assert_census_rules(CsvDropAdapter.parse(HEADER.encode() + raw))


cell_text = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=0, max_value=2100).map(str),
    st.sampled_from(["", " ", "1.0", "+3", "-0", "1e3", "NaN", "٣", "1_000", "12 ", "\x00"]),
    st.text(max_size=20),
)
unit_text = st.one_of(st.text(max_size=30), st.sampled_from(["4 East", "A", " B "]))
time_text = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.strftime("%m/%d/%Y %H:%M")),
    st.text(max_size=30),
)


@PROPERTY
@given(st.lists(st.tuples(unit_text, cell_text, cell_text, cell_text, time_text), max_size=30))
def test_every_row_is_either_reported_or_rejected_and_reports_obey_the_census_rules(
    rows: list[tuple[str, str, str, str, str]],
) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["unit", "staffed", "occupied", "blocked", "as_of"])
    writer.writerows(rows)
    parsed = CsvDropAdapter.parse(out.getvalue().encode("utf-8", "surrogatepass"))
    assert_census_rules(parsed)
    # No row vanishes silently: blank rows are skipped, every other is one or the other.
    meaningful = [row for row in rows if any(cell.strip() for cell in row)]
    assert len(parsed.reports) + len(parsed.rejected) == len(meaningful)


@st.composite
def valid_rows(draw: st.DrawFn) -> tuple[str, int, int, int | None, datetime]:
    unit = draw(st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40))
    unit = unit.strip() or "unit"
    staffed = draw(st.integers(0, 2000))
    occupied = draw(st.integers(0, staffed))
    blocked = draw(st.none() | st.integers(0, staffed - occupied))
    offset = draw(st.integers(-14 * 60, 14 * 60))
    as_of = draw(
        st.datetimes(
            datetime(2000, 1, 2),  # noqa: DTZ001 -- hypothesis bounds are naive
            datetime(2099, 12, 30),  # noqa: DTZ001
            timezones=st.just(UTC),
        )
    ).astimezone(timezone(timedelta(minutes=offset)))
    return unit, staffed, occupied, blocked, as_of


@PROPERTY
@given(st.lists(valid_rows(), max_size=20), st.sampled_from([",", ";", "\t"]))
def test_valid_rows_come_through_exactly(
    rows: list[tuple[str, int, int, int | None, datetime]], delimiter: str
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["unit", "staffed", "occupied", "blocked", "as_of"])
    for unit, staffed, occupied, blocked, as_of in rows:
        writer.writerow([unit, staffed, occupied, "" if blocked is None else blocked, as_of])
    parsed = parse_with(out.getvalue().encode(), CsvFormat(delimiter=delimiter))
    assert parsed.rejected == []
    assert parsed.reports == [
        SourceReport(unit, as_of.astimezone(UTC), staffed, occupied, blocked)
        for unit, staffed, occupied, blocked, as_of in rows
    ]


@PROPERTY
@given(
    st.integers(-(10**40), 10**40),
    st.integers(-(10**40), 10**40),
    st.integers(-(10**40), 10**40),
)
def test_absurd_counts_never_get_through(staffed: int, occupied: int, blocked: int) -> None:
    raw = f"{HEADER}A,{staffed},{occupied},{blocked},2024-05-01T06:00:00Z\n".encode()
    parsed = CsvDropAdapter.parse(raw)
    assert_census_rules(parsed)
    valid = blocked >= 0 and occupied >= 0 and occupied + blocked <= staffed <= 2000
    assert len(parsed.reports) == int(valid)


@PROPERTY
@given(
    st.datetimes(timezones=st.timezones()),
    st.sampled_from(["UTC", "America/Chicago", "Pacific/Kiritimati", "Pacific/Pago_Pago"]),
)
def test_far_past_and_future_times_are_reported_exactly_or_refused(
    when: datetime, zone: str
) -> None:
    fmt = CsvFormat(default_timezone=zone)
    for cell in (when.isoformat(), when.replace(tzinfo=None).isoformat()):
        parsed = parse_with(f"{HEADER}A,4,1,0,{cell}\n".encode(), fmt)
        assert_census_rules(parsed)
        assert len(parsed.reports) + len(parsed.rejected) == 1
    aware = parse_with(f"{HEADER}A,4,1,0,{when.isoformat()}\n".encode(), fmt)
    if aware.reports:
        # (Compared in UTC: an aware datetime in a DST fold never equals one in another zone.)
        assert aware.reports[0].as_of == when.astimezone(UTC)


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("settings_", "field"),
    [
        ({"source": "drops/census.csv"}, "source"),
        ({"source": "ftp://example.org/x.csv"}, "source"),
        ({"source": "https://user:pw@example.org/x.csv"}, "source"),
        ({"source": "/drop", "default_timezone": "Central"}, "default_timezone"),
        ({"source": "/drop", "encoding": "klingon"}, "encoding"),
        ({"source": "/drop", "delimiter": ";;"}, "delimiter"),
        ({"source": "/drop", "pattern": "../*.csv"}, "pattern"),
        ({"source": "/drop", "columns": {"staffed": "Beds", "occupied": "beds"}}, "columns"),
        ({"source": "/drop", "columns": {"occuppied": "x"}}, "columns"),
        ({"source": "/drop", "max_bytes": 10**12}, "max_bytes"),
        ({"source": "/drop", "surprise": 1}, "surprise"),
    ],
)
def test_bad_settings_are_refused(settings_: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CsvConfig.model_validate(settings_)
    assert caught.value.errors()[0]["loc"][0] == field


def test_the_kind_is_registered_and_the_token_is_secret() -> None:
    assert REGISTRY["csv"] is CsvDropAdapter
    plain, secrets = feeds.validate_config(
        "csv", {"source": "https://example.org/census.csv", "bearer_token": "s3cret"}
    )
    assert secrets == {"bearer_token": "s3cret"}
    assert "bearer_token" not in plain
    assert plain["columns"]["unit"] == "unit"


# --------------------------------------------------------------------------- fetch: files


def drop(directory: Path, name: str, text: str, mtime: float) -> Path:
    path = directory / name
    path.write_text(text)
    os.utime(path, (mtime, mtime))
    return path


def adapter(**settings_: Any) -> CsvDropAdapter:
    return CsvDropAdapter(CsvConfig.model_validate(settings_))


ROW_TIME = "2024-05-01T06:00:00Z"


async def test_a_directory_gives_its_newest_matching_file(tmp_path: Path) -> None:
    now = time.time()
    drop(tmp_path, "census-0500.csv", f"{HEADER}Old,4,1,0,{ROW_TIME}\n", now - 3600)
    drop(tmp_path, "CENSUS-0600.CSV", f"{HEADER}New,4,1,0,{ROW_TIME}\nBad,x,1,0,\n", now - 60)
    drop(tmp_path, "notes.txt", "not a census", now)
    drop(tmp_path, ".census-0700.csv", f"{HEADER}Partial,4", now)
    drop(tmp_path, "~$census.csv", "lock file", now)
    (tmp_path / "newer.csv").mkdir()

    fetched = await adapter(source=str(tmp_path)).fetch(None)

    assert [r.source_id for r in fetched.parsed.reports] == ["New"]
    assert [r.location for r in fetched.parsed.rejected] == ["CENSUS-0600.CSV line 3"]
    assert fetched.cursor is not None
    assert json.loads(fetched.cursor)["file"] == str(tmp_path / "CENSUS-0600.CSV")


async def test_an_unchanged_file_is_not_applied_again(tmp_path: Path) -> None:
    path = drop(tmp_path, "census.csv", f"{HEADER}A,4,1,0,{ROW_TIME}\n", time.time() - 60)
    feed = adapter(source=str(path))
    first = await feed.fetch(None)
    assert len(first.parsed.reports) == 1

    again = await feed.fetch(first.cursor)
    assert again.parsed == Parsed()
    assert again.cursor == first.cursor

    os.utime(path, (time.time(), time.time()))  # the hospital wrote it again
    touched = await feed.fetch(first.cursor)
    assert len(touched.parsed.reports) == 1
    assert touched.cursor != first.cursor


async def test_the_file_time_stands_in_for_a_missing_as_of_column(tmp_path: Path) -> None:
    stamp = datetime(2024, 5, 1, 11, 0, tzinfo=UTC).timestamp()
    path = drop(tmp_path, "census.csv", "unit,staffed,occupied\nA,4,1\n", stamp)
    fetched = await adapter(source=str(path), timestamp_column_missing="use_file_time").fetch(None)
    assert fetched.parsed.reports == [SourceReport("A", utc(2024, 5, 1, 11), 4, 1)]


async def test_a_two_gigabyte_file_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "census.csv"
    with path.open("wb") as handle:
        handle.truncate(2 * 1024**3)  # sparse: no disk used
    started = time.monotonic()
    with pytest.raises(SourceTooLarge) as caught:
        await adapter(source=str(tmp_path)).fetch(None)
    assert time.monotonic() - started < 2
    error = caught.value
    assert isinstance(error, AdapterError)
    assert not error.permanent
    assert "2,147,483,648 bytes, over the feed's max_bytes of 10,485,760" in str(error)
    assert [r.location for r in error.rejected] == [str(path)]


async def test_long_file_names_keep_the_line_number_in_the_quarantine_location(
    tmp_path: Path,
) -> None:
    name = "census-" + "x" * 240 + ".csv"
    drop(tmp_path, name, f"{HEADER}A,x,1,0,{ROW_TIME}\n", time.time())
    fetched = await adapter(source=str(tmp_path)).fetch(None)
    [entry] = fetched.parsed.rejected
    assert len(entry.location) == 200
    assert entry.location.startswith("…") and entry.location.endswith(".csv line 2")


async def test_an_empty_or_missing_drop_directory_is_a_temporary_failure(tmp_path: Path) -> None:
    with pytest.raises(AdapterError, match="no file matching") as empty:
        await adapter(source=str(tmp_path)).fetch(None)
    assert not empty.value.permanent
    with pytest.raises(AdapterError, match="does not exist") as missing:
        await adapter(source=str(tmp_path / "nope")).fetch(None)
    assert not missing.value.permanent
    with pytest.raises(AdapterError, match="does not exist"):
        await adapter(source=str(tmp_path / "nope")).check()
    await adapter(source=str(tmp_path)).check()


# --------------------------------------------------------------------------- fetch: URLs

TOKEN = "feed-token-123"
BODY = f"{HEADER}A,4,1,0,{ROW_TIME}\n".encode()


@pytest.fixture
async def census_server(aiohttp_server: Any) -> Any:
    """A hospital's endpoint: bearer auth, ETag + Last-Modified, 304 on a match."""
    seen: list[dict[str, str]] = []
    etag = '"v1"'
    last_modified = "Wed, 01 May 2024 11:00:00 GMT"

    async def census(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304)
        return web.Response(body=BODY, headers={"ETag": etag, "Last-Modified": last_modified})

    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(body=BODY)  # no validators at all

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(2 * 1024**3)})
        await response.prepare(request)
        await response.write(b"unit" * 1000)
        return response

    app = web.Application()
    app.router.add_get("/census.csv", census)
    app.router.add_get("/plain.csv", plain)
    app.router.add_get("/huge.csv", huge)
    server = await aiohttp_server(app)
    server.seen = seen
    return server


async def test_a_url_is_fetched_with_the_token_and_then_asked_conditionally(
    census_server: Any,
) -> None:
    feed = adapter(source=str(census_server.make_url("/census.csv")), bearer_token=TOKEN)
    first = await feed.fetch(None)
    assert [r.source_id for r in first.parsed.reports] == ["A"]

    again = await feed.fetch(first.cursor)
    assert again.parsed == Parsed()
    assert again.cursor == first.cursor
    last = census_server.seen[-1]
    assert last["If-None-Match"] == '"v1"'
    assert last["If-Modified-Since"] == "Wed, 01 May 2024 11:00:00 GMT"
    await feed.check()
    assert census_server.seen[-1]["Range"] == "bytes=0-0"


async def test_a_url_without_validators_is_not_applied_twice(census_server: Any) -> None:
    feed = adapter(source=str(census_server.make_url("/plain.csv")))
    first = await feed.fetch(None)
    assert len(first.parsed.reports) == 1
    assert (await feed.fetch(first.cursor)).parsed == Parsed()


async def test_a_refused_token_is_a_permanent_failure(census_server: Any) -> None:
    feed = adapter(source=str(census_server.make_url("/census.csv")), bearer_token="wrong")
    with pytest.raises(AdapterError, match="HTTP 401") as fetching:
        await feed.fetch(None)
    assert fetching.value.permanent
    with pytest.raises(AdapterError, match="HTTP 401") as checking:
        await feed.check()
    assert checking.value.permanent
    assert "wrong" not in str(fetching.value)


async def test_an_announced_huge_body_is_refused(census_server: Any) -> None:
    feed = adapter(source=str(census_server.make_url("/huge.csv")))
    with pytest.raises(SourceTooLarge) as caught:
        await feed.fetch(None)
    assert not caught.value.permanent


async def test_a_missing_page_and_an_unreachable_host_are_temporary(census_server: Any) -> None:
    with pytest.raises(AdapterError, match="HTTP 404") as missing:
        await adapter(source=str(census_server.make_url("/nope.csv"))).fetch(None)
    assert not missing.value.permanent
    unreachable = adapter(source="http://127.0.0.1:9/census.csv", connect_timeout_s=2)
    with pytest.raises(AdapterError, match="cannot fetch") as down:
        await unreachable.fetch(None)
    assert not down.value.permanent


# --------------------------------------------------------------------------- end to end


async def test_a_dropped_file_reaches_the_census_quarantine_and_unmapped_list(
    conn: Any, make_facility: Any, make_unit: Any, tmp_path: Path
) -> None:
    facility = await make_facility()
    east = await make_unit(facility.id, name="4 East Adult", licensed_beds=24)
    west = await make_unit(facility.id, name="5 West Adolescent", population="adolescent")
    feed = await feeds.create_feed(
        conn,
        feeds.FeedIn(
            facility_id=facility.id,
            kind="csv",
            name="Nightly census export",
            config={"source": str(tmp_path), "default_timezone": "America/Chicago"},
            mappings={"4 East Adult": east.id, "5 West Adolescent": west.id},
        ),
    )
    measured = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    # Naive local time, read in the feed's default_timezone.
    stamp = measured.astimezone(ZoneInfo("America/Chicago")).replace(tzinfo=None).isoformat()
    drop(
        tmp_path,
        "census.csv",
        HEADER
        + f"4 East Adult,24,20,1,{stamp}\n"
        + f"5 West Adolescent,12,13,0,{stamp}\n"
        + f"Annex,6,2,0,{stamp}\n"
        + "\n"
        + "5 West Adolescent,12,,0,not yet\n",
        time.time(),
    )
    adapter_ = feeds.build_adapter("csv", feed.config, {})

    fetched = await adapter_.fetch(feed.cursor)
    result = await feeds.ingest(conn, feed.id, fetched.parsed)

    assert (result.applied, result.unmapped, result.rejected) == (1, 1, 2)
    census = await conn.fetchrow(
        "SELECT staffed, occupied, blocked, available, as_of, source FROM unit_census"
        " WHERE unit_id = $1",
        east.id,
    )
    assert dict(census) == {
        "staffed": 24,
        "occupied": 20,
        "blocked": 1,
        "available": 3,
        "as_of": measured,
        "source": f"feed:{feed.id}",
    }
    assert await conn.fetchval("SELECT count(*) FROM unit_census WHERE unit_id = $1", west.id) == 0
    quarantined = await feeds.quarantine(conn, feed.id)
    assert sorted((q.location, q.reason) for q in quarantined) == [
        ("census.csv line 3", "occupied (13) exceeds staffed (12)"),
        ("census.csv line 6", "occupied is missing"),
    ]
    unmapped = await conn.fetch(
        "SELECT source_id, times FROM feed_unmapped WHERE feed_id = $1", feed.id
    )
    assert [(r["source_id"], r["times"]) for r in unmapped] == [("Annex", 1)]

    # The next poll finds the same file: nothing is applied or quarantined again.
    again = await adapter_.fetch(fetched.cursor)
    assert again.parsed == Parsed()
    assert (await feeds.ingest(conn, feed.id, again.parsed)).applied == 0
    assert len(await feeds.quarantine(conn, feed.id)) == 2


async def test_a_refused_oversized_drop_can_be_quarantined(
    conn: Any, make_facility: Any, tmp_path: Path
) -> None:
    facility = await make_facility()
    feed = await feeds.create_feed(
        conn,
        feeds.FeedIn(
            facility_id=facility.id, kind="csv", name="Drop", config={"source": str(tmp_path)}
        ),
    )
    with (tmp_path / "census.csv").open("wb") as handle:
        handle.truncate(2 * 1024**3)
    with pytest.raises(SourceTooLarge) as caught:
        await feeds.build_adapter("csv", feed.config, {}).fetch(None)
    # What the coordinator does with a refused source: the entry explains the failure.
    await feeds.add_to_quarantine(conn, feed.id, caught.value.rejected)
    [entry] = await feeds.quarantine(conn, feed.id)
    assert entry.location == str(tmp_path / "census.csv")
    assert "over the feed's max_bytes" in entry.reason


def test_an_adapter_kind_cannot_be_registered_twice() -> None:
    from facility_adapters.base import register

    class Impostor(CsvDropAdapter):
        kind = "csv"

    with pytest.raises(ValueError, match="already registered"):
        register(Impostor)
    assert register(CsvDropAdapter) is CsvDropAdapter  # the same class again is harmless
