"""The FHIR adapter: parse on recorded payloads and on anything at all, fetch and check
against a local FHIR server, and one feed end to end."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bedboard import feeds
from facility_adapters.base import REGISTRY, AdapterError, Parsed
from facility_adapters.fhir import (
    FhirAdapter,
    FhirConfig,
    count_value,
    instant,
    parse_document,
    parse_resource,
)
from tests.adapters.rules import FIXTURES, assert_census_rules, mostly, often

FHIR = FIXTURES / "fhir"
TOKEN = "test-bearer-token-0123456789"
EXAMPLE_BASE = "http://fhir.example.org/r4"


def fixture(name: str) -> bytes:
    return (FHIR / name).read_bytes()


def by_source(parsed: Parsed) -> dict[str, Any]:
    return {r.source_id: r for r in parsed.reports}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# =========================================================================== parse: locations


def test_registered_under_its_kind() -> None:
    assert REGISTRY["fhir"] is FhirAdapter
    assert frozenset({"token", "password"}) == FhirAdapter.SECRET_FIELDS


def test_bed_locations_are_counted_per_unit() -> None:
    parsed = FhirAdapter.parse(fixture("locations_searchset.json"))
    assert_census_rules(parsed)
    units = by_source(parsed)
    assert set(units) == {"psych-adult-3w", "psych-adol-4e"}
    west = units["psych-adult-3w"]
    # O, O, U, H, U, C counted; the inactive bed is not a staffed bed.
    assert (west.staffed, west.occupied, west.blocked, west.available) == (6, 2, 2, None)
    assert west.as_of == utc("2024-05-14T09:12:33.120+00:00")  # newest meta.lastUpdated
    east = units["psych-adol-4e"]
    # O, U (suspended: blocked), I, K, U, and one bed without a status (blocked, reported).
    assert (east.staffed, east.occupied, east.blocked) == (6, 1, 4)
    assert east.staffed - east.occupied - east.blocked == 1
    assert east.as_of == utc("2024-05-14T06:30:00.000-05:00")
    assert len(parsed.rejected) == 1
    assert parsed.rejected[0].location == "Location/psych-adol-4e"
    assert "bed-4e-06" in parsed.rejected[0].reason
    assert "counted as blocked" in parsed.rejected[0].reason


def test_the_cursor_is_the_newest_last_updated_as_sent() -> None:
    found = parse_document(fixture("locations_searchset.json"))
    assert found.newest == "2024-05-14T06:30:00.000-05:00"  # 11:30 UTC, the newest instant
    assert found.fatal is None


def test_retrieved_as_of_uses_the_bundle_timestamp() -> None:
    found = parse_document(fixture("locations_searchset.json"), as_of_source="retrieved")
    assert {r.as_of for r in found.parsed.reports} == {utc("2024-05-14T09:15:00+00:00")}


def test_what_servers_get_wrong_is_quarantined_and_the_rest_counted() -> None:
    parsed = FhirAdapter.parse(fixture("locations_problems.json"))
    assert_census_rules(parsed)
    units = by_source(parsed)
    # 2N: unknown code X and a foreign system (both blocked), an absolute partOf with
    # _history (O), and bed-2n-04 twice: the newer version (U) wins.
    geri = units["psych-geri-2n"]
    assert (geri.staffed, geri.occupied, geri.blocked) == (4, 1, 2)
    assert geri.as_of == utc("2024-05-14T08:45:00+00:00")
    # The crisis unit has no lastUpdated and the Bundle no timestamp: cannot be dated.
    assert "psych-crisis-1" not in units
    reasons = {r.location: r.reason for r in parsed.rejected}
    assert "cannot date" in reasons["Location/psych-crisis-1"]
    assert "partOf" in reasons["Location/bed-x-01"]
    assert "valid id" in reasons["entry 1"]
    assert "bed-2n-01, bed-2n-02" in reasons["Location/psych-geri-2n"]
    assert "error" in reasons["entry 8"]


def test_a_dated_fallback_rescues_undated_units() -> None:
    doc = json.loads(fixture("locations_problems.json"))
    found = parse_resource(doc, fallback_as_of=datetime(2024, 5, 14, 10, tzinfo=UTC))
    crisis = by_source(found.parsed)["psych-crisis-1"]
    assert crisis.as_of == datetime(2024, 5, 14, 10, tzinfo=UTC)
    assert (crisis.staffed, crisis.occupied, crisis.blocked) == (1, 0, 0)


def test_a_unit_above_the_count_limit_is_rejected() -> None:
    beds = [
        {
            "resource": {
                "resourceType": "Location",
                "id": f"b{i}",
                "meta": {"lastUpdated": "2024-05-14T08:00:00Z"},
                "operationalStatus": {"code": "U"},
                "physicalType": {"coding": [{"code": "bd"}]},
                "partOf": {"reference": "Location/huge"},
            }
        }
        for i in range(2001)
    ]
    parsed = FhirAdapter.parse(json.dumps({"resourceType": "Bundle", "entry": beds}).encode())
    assert parsed.reports == []
    assert "2001 beds" in parsed.rejected[0].reason


def test_locations_that_are_not_beds_are_ignored_and_said_so() -> None:
    ward = {
        "resourceType": "Location",
        "id": "w1",
        "physicalType": {"coding": [{"code": "wa"}]},
        "partOf": {"reference": "Location/x"},
    }
    parsed = FhirAdapter.parse(
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": ward}]}).encode()
    )
    assert parsed.reports == []
    assert "none with physicalType 'bd'" in parsed.rejected[0].reason


def test_an_empty_search_is_no_census_and_no_complaint() -> None:
    parsed = FhirAdapter.parse(b'{"resourceType": "Bundle", "type": "searchset", "total": 0}')
    assert parsed == Parsed()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "JSON object"),
        (b'{"resourceType": "Patient"}', "not a Bundle"),
        (b'{"resourceType": "Bundle", "total": NaN}', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"resourceType": "OperationOutcome", "issue": []}', "OperationOutcome"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "not JSON"),
    ],
)
def test_garbage_is_one_rejection(raw: bytes, reason: str) -> None:
    found = parse_document(raw)
    assert found.parsed.reports == []
    assert len(found.parsed.rejected) == 1
    assert reason in found.parsed.rejected[0].reason
    assert found.fatal is not None
    assert_census_rules(found.parsed)


def test_instants_need_seconds_and_a_zone() -> None:
    assert instant("2024-05-14T09:12:33.120+00:00") == datetime(
        2024, 5, 14, 9, 12, 33, 120000, tzinfo=UTC
    )
    assert instant("2024-05-14T09:12:33.123456789Z") is not None  # nanoseconds: truncated
    for bad in (
        "2024-05-14",
        "2024-05-14T09:12:33",
        "2024-05-14T09:12Z",
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59-01:00",  # after 9999 in UTC
        "2024-02-30T00:00:00Z",
        None,
        17,
    ):
        assert instant(bad) is None, bad


def test_counts_are_whole_numbers_in_range() -> None:
    assert count_value(5) == (5, None)
    assert count_value(5.0) == (5, None)
    for bad in (True, -1, 2001, 5.5, float("inf"), "5", None, 10**30):
        value, why = count_value(bad)
        assert value is None and why, bad


# =========================================================================== parse: MeasureReport


def test_the_newest_complete_measure_report_gives_both_psych_units() -> None:
    found = parse_document(fixture("measure_report_searchset.json"))
    assert_census_rules(found.parsed)
    assert found.parsed.rejected == []
    units = by_source(found.parsed)
    as_of = utc("2025-03-05T08:15:00-05:00")  # MeasureReport.date; the pending 03-06 is skipped
    adult = units["adult_psychiatric"]
    assert (adult.staffed, adult.occupied, adult.blocked, adult.as_of) == (22, 18, 0, as_of)
    peds = units["pediatric_psychiatric"]
    assert (peds.staffed, peds.occupied, peds.blocked, peds.as_of) == (8, 6, 0, as_of)
    assert found.newest == "2025-03-05T08:15:00-05:00"


def test_absent_pediatric_groups_mean_no_pediatric_report() -> None:
    parsed = FhirAdapter.parse(fixture("measure_report_adult_only.json"))
    assert set(by_source(parsed)) == {"adult_psychiatric"}
    assert parsed.rejected == []


def _measure_report(groups: list[dict[str, Any]], **extra: Any) -> bytes:
    report = {
        "resourceType": "MeasureReport",
        "status": "complete",
        "date": "2025-03-05T08:15:00-05:00",
        "group": groups,
        **extra,
    }
    return json.dumps(report).encode()


def _group(code: str, count: Any = None, score: Any = None) -> dict[str, Any]:
    group: dict[str, Any] = {"code": {"coding": [{"system": "http://loinc.org", "code": code}]}}
    if count is not None:
        group["population"] = [
            {"code": {"coding": [{"code": "initial-population"}]}, "count": count}
        ]
    if score is not None:
        group["measureScore"] = {"value": score}
    return group


def test_measure_score_is_read_when_there_is_no_population() -> None:
    parsed = FhirAdapter.parse(
        _measure_report([_group("112531-9", score=9), _group("112530-1", score=3.0)])
    )
    adult = by_source(parsed)["adult_psychiatric"]
    assert (adult.staffed, adult.occupied) == (12, 9)


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        ([_group("112531-9", 4)], "unoccupied count missing"),
        ([_group("112531-9", -4), _group("112530-1", 1)], "outside"),
        ([_group("112531-9", 1500), _group("112530-1", 600)], "2100 beds"),
        ([_group("112531-9", 4), _group("112531-9", 5), _group("112530-1", 1)], "appears 2 times"),
        ([_group("112531-9", 4.5), _group("112530-1", 1)], "whole number"),
    ],
)
def test_measure_report_problems_are_quarantined(groups: list[Any], reason: str) -> None:
    parsed = FhirAdapter.parse(_measure_report(groups))
    assert parsed.reports == []
    assert reason in parsed.rejected[0].reason
    assert parsed.rejected[0].location.endswith("adult_psychiatric")


def test_a_measure_report_without_a_zoned_date_falls_back_to_period_end() -> None:
    groups = [_group("112529-3", 1), _group("112528-5", 1)]
    parsed = FhirAdapter.parse(
        _measure_report(groups, date="2025-03-05", period={"end": "2025-03-05T12:00:00Z"})
    )
    assert by_source(parsed)["pediatric_psychiatric"].as_of == datetime(2025, 3, 5, 12, tzinfo=UTC)
    parsed = FhirAdapter.parse(_measure_report(groups, date="2025-03-05"))
    assert parsed.reports == [] and "without a date" in parsed.rejected[0].reason


# =========================================================================== parse: properties

_ZONES = st.builds(timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m)))
_WILD_TIMES = st.one_of(
    st.datetimes(
        min_value=datetime(1, 1, 2),  # noqa: DTZ001 -- hypothesis wants naive bounds
        max_value=datetime(9999, 12, 30),  # noqa: DTZ001
        timezones=_ZONES,
    ).map(lambda d: d.isoformat()),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "1970-01-01T00:00:00Z",
            "2024-05-14",
            "2024-05-14T09:00:00",
            "2024-13-01T00:00:00Z",
            "not a time",
        ]
    ),
    st.text(max_size=30),
)
# Mostly plausible times (so reports are made), sometimes anything at all.
_GOOD_TIMES = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=_ZONES,
).map(lambda d: d.isoformat(timespec="milliseconds"))
_TIMES = mostly(_GOOD_TIMES, _WILD_TIMES, odds=4)
_JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_COUNTS = mostly(
    st.integers(0, 40),
    st.integers(-5, 2100)
    | st.integers(-5, 2100).map(float)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.text(max_size=4)
    | st.none(),
    odds=6,
)
_UNIT_IDS = mostly(
    st.sampled_from(["u1", "u2", "psych-adult-3w"]),
    st.sampled_from(["bad id", "x" * 80, "\x00nul", "\ud800", ""]) | st.text(max_size=8),
)


def _sometimes(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Usually ``good``, now and then anything at all."""
    return mostly(good, _JUNK)


_BED = st.fixed_dictionaries(
    {
        "resourceType": st.just("Location"),
        "id": _sometimes(st.text(alphabet="abc-.1", min_size=1, max_size=4)),
        "physicalType": _sometimes(st.just({"coding": [{"code": "bd"}]})),
        "partOf": _sometimes(st.builds(lambda i: {"reference": f"Location/{i}"}, _UNIT_IDS)),
        "operationalStatus": _sometimes(
            st.fixed_dictionaries(
                {"code": st.sampled_from(list("OUCHIKX"))},
                optional={
                    "system": st.sampled_from(
                        ["http://terminology.hl7.org/CodeSystem/v2-0116", "http://example.org"]
                    )
                },
            )
        ),
    },
    optional={
        "status": st.sampled_from(["active", "suspended", "inactive", "bogus"]) | _JUNK,
        "meta": _sometimes(st.fixed_dictionaries({"lastUpdated": _TIMES})),
    },
)
_LOCATION_BUNDLES = st.fixed_dictionaries(
    {
        "resourceType": st.just("Bundle"),
        "entry": st.lists(
            _sometimes(
                st.fixed_dictionaries(
                    {"resource": _BED},
                    optional={"search": st.sampled_from([{"mode": "match"}, {"mode": "include"}])},
                )
            ),
            max_size=25,
        ),
    },
    optional={"timestamp": _TIMES},
)
_PSYCH_CODES = st.sampled_from(["112531-9", "112530-1", "112529-3", "112528-5"])
_GROUP = st.fixed_dictionaries(
    {
        "code": st.fixed_dictionaries(
            {
                "coding": st.lists(
                    st.fixed_dictionaries(
                        {
                            "system": st.sampled_from(["http://loinc.org"] * 3 + ["urn:other"]),
                            "code": _PSYCH_CODES | st.just("112579-8"),
                        }
                    ),
                    min_size=1,
                    max_size=2,
                )
            }
        )
    },
    optional={
        "population": st.lists(
            _sometimes(
                st.fixed_dictionaries(
                    {"code": st.just({"coding": [{"code": "initial-population"}]})},
                    optional={"count": _COUNTS},
                )
            ),
            max_size=2,
        ),
        "measureScore": st.fixed_dictionaries({}, optional={"value": _COUNTS}),
    },
)


@st.composite
def _measure_reports(draw: st.DrawFn) -> dict[str, Any]:
    """Usually all four psych groups with counts, shuffled among damaged extras."""
    groups: list[Any] = []
    if draw(often(4)):
        for code in ("112531-9", "112530-1", "112529-3", "112528-5"):
            count = draw(_COUNTS)
            groups.append(
                {
                    "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                    "population": [
                        {"code": {"coding": [{"code": "initial-population"}]}, "count": count}
                    ],
                }
            )
    groups += draw(st.lists(_sometimes(_GROUP), max_size=3))
    groups = draw(st.permutations(groups))
    report: dict[str, Any] = {
        "resourceType": "MeasureReport",
        "status": draw(st.sampled_from(["complete", "complete", "pending"]) | _JUNK),
        "group": groups,
    }
    if draw(often(5)):
        report["date"] = draw(_TIMES)
    if draw(often(2)):
        report["period"] = {"end": draw(_TIMES)}
    if draw(often(2)):
        report["id"] = draw(_UNIT_IDS)
    return report


_MEASURE_REPORT = _measure_reports()
_MEASURE_BUNDLES = st.fixed_dictionaries(
    {
        "resourceType": st.just("Bundle"),
        "entry": st.lists(st.fixed_dictionaries({"resource": _MEASURE_REPORT}), max_size=4),
    }
)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dump(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8", "surrogatepass")


@PROPERTY
@given(st.binary(max_size=2000))
def test_parse_survives_any_bytes(raw: bytes) -> None:
    assert_census_rules(FhirAdapter.parse(raw))


@PROPERTY
@given(_JUNK)
def test_parse_survives_any_json(doc: Any) -> None:
    assert_census_rules(FhirAdapter.parse(_dump(doc)))


@PROPERTY
@given(_LOCATION_BUNDLES, st.sampled_from(["last_updated", "retrieved"]))
def test_location_bundles_never_break_the_census_rules(doc: Any, source: Any) -> None:
    found = parse_document(_dump(doc), as_of_source=source)
    assert_census_rules(found.parsed)
    found = parse_resource(
        doc, as_of_source=source, fallback_as_of=datetime(2024, 1, 1, tzinfo=UTC)
    )
    assert_census_rules(found.parsed)


@PROPERTY
@given(st.one_of(_MEASURE_BUNDLES, _MEASURE_REPORT))
def test_measure_reports_never_break_the_census_rules(doc: Any) -> None:
    assert_census_rules(FhirAdapter.parse(_dump(doc)))


@PROPERTY
@given(_LOCATION_BUNDLES, st.sampled_from(["latin-1", "utf-16", "cp1252"]), st.binary(max_size=4))
def test_non_utf8_is_refused_not_misread(doc: Any, encoding: str, noise: bytes) -> None:
    text = json.dumps(doc, ensure_ascii=False)
    raw = text.encode(encoding, "replace") + noise
    assert_census_rules(FhirAdapter.parse(raw))


# =========================================================================== settings


def _config(**values: Any) -> FhirConfig:
    return FhirConfig.model_validate({"base_url": "https://ehr.example.org/fhir/", **values})


def test_settings_are_validated() -> None:
    assert _config().base_url == "https://ehr.example.org/fhir"
    assert _config(auth="bearer", token="t").auth_headers() == {"Authorization": "Bearer t"}
    basic = _config(auth="basic", username="bb", password="pw").auth_headers()
    assert basic == {"Authorization": "Basic " + base64.b64encode(b"bb:pw").decode()}
    for bad in (
        {"base_url": "ftp://ehr.example.org/fhir"},
        {"base_url": "https://user:pw@ehr.example.org/fhir"},
        {"base_url": "https://ehr.example.org/fhir?x=1"},
        {"base_url": "http://ehr.example.org/fhir", "auth": "bearer", "token": "t"},
        {"auth": "bearer"},
        {"auth": "basic", "username": "u"},
        {"mode": "everything"},
        {"surprise": 1},
        {"max_pages": 0},
        {"measure_report_params": {"bad key!": "x"}},
    ):
        with pytest.raises(ValidationError):
            _config(**bad)
    # Credentials over plain http are allowed to this machine only (local testing).
    assert _config(base_url="http://127.0.0.1:8080/fhir", auth="bearer", token="t")


def test_secrets_are_kept_apart_and_not_shown() -> None:
    plain, secrets = feeds.validate_config(
        "fhir", {"base_url": "https://ehr.example.org/fhir", "auth": "bearer", "token": "s3cr3t"}
    )
    assert secrets == {"token": "s3cr3t"}
    assert "token" not in plain and "password" not in plain
    assert "s3cr3t" not in repr(_config(auth="bearer", token="s3cr3t"))


# =========================================================================== local FHIR server


@dataclass
class FhirServer:
    """A FHIR server on loopback serving the fixtures, with switches for failures."""

    base: str = ""
    token: str = TOKEN
    basic: tuple[str, str] | None = None
    fail_status: int | None = None
    delay_s: float = 0.0
    changed: int | None = 0  # the _summary=count answer; None: unsupported (400)
    next_link: str | None = None  # override page 1's next link
    extra_beds: list[dict[str, Any]] = field(default_factory=list)  # added to page 1
    metadata: bytes = field(default_factory=lambda: fixture("capability_statement.json"))
    measure_reports: bytes = field(default_factory=lambda: fixture("measure_report_searchset.json"))
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.basic is not None:
            pair = f"{self.basic[0]}:{self.basic[1]}".encode()
            return header == "Basic " + base64.b64encode(pair).decode()
        return header == f"Bearer {self.token}"

    def page(self, name: str) -> bytes:
        text = fixture(name).decode().replace(EXAMPLE_BASE, self.base)
        if name == "locations_page1.json" and (self.next_link is not None or self.extra_beds):
            doc = json.loads(text)
            if self.next_link is not None:
                doc["link"][1]["url"] = self.next_link
            doc["entry"].extend({"resource": bed} for bed in self.extra_beds)
            text = json.dumps(doc)
        return text.encode()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.path, dict(request.query)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if not self.authorized(request):
            return web.json_response(
                {
                    "resourceType": "OperationOutcome",
                    "issue": [{"severity": "error", "code": "login"}],
                },
                status=401,
            )
        if self.fail_status is not None:
            return web.Response(status=self.fail_status, text="upstream trouble")
        resource = request.match_info["resource"]
        kind = "application/fhir+json"
        if resource == "metadata":
            return web.Response(body=self.metadata, content_type=kind)
        if resource == "MeasureReport":
            return web.Response(body=self.measure_reports, content_type=kind)
        if resource != "Location":
            return web.Response(status=404)
        if request.query.get("_summary") == "count":
            if self.changed is None:
                return web.Response(status=400, text="_lastUpdated not supported")
            body = {"resourceType": "Bundle", "type": "searchset", "total": self.changed}
            return web.json_response(body, content_type=kind)
        name = (
            "locations_page2.json" if request.query.get("_page") == "2" else "locations_page1.json"
        )
        return web.Response(body=self.page(name), content_type=kind)

    def pages_read(self) -> int:
        return sum(
            1 for path, q in self.requests if path.endswith("/Location") and "_summary" not in q
        )


@pytest.fixture
async def fhir_server(aiohttp_server: Any) -> FhirServer:
    state = FhirServer()
    app = web.Application()
    app.router.add_get("/fhir/{resource}", state.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    state.base = str(server.make_url("/fhir"))
    return state


def adapter(server: FhirServer, **values: Any) -> FhirAdapter:
    settings_ = {"base_url": server.base, "auth": "bearer", "token": TOKEN, **values}
    return FhirAdapter(FhirConfig.model_validate(settings_))


async def test_fetch_follows_pages_and_counts_whole_units(fhir_server: FhirServer) -> None:
    fetched = await adapter(fhir_server).fetch(None)
    assert fhir_server.pages_read() == 2
    first_query = fhir_server.requests[0][1]
    assert first_query == {"physical-type": "bd", "_count": "200"}
    units = by_source(fetched.parsed)
    west, east = units["psych-adult-3w"], units["psych-adol-4e"]
    assert (west.staffed, west.occupied, west.blocked) == (6, 2, 2)
    assert (east.staffed, east.occupied, east.blocked) == (6, 1, 4)
    assert fetched.cursor == "2024-05-14T06:30:00.000-05:00"
    assert [r.location for r in fetched.parsed.rejected] == ["Location/psych-adol-4e"]


async def test_an_unchanged_source_skips_the_poll(fhir_server: FhirServer) -> None:
    cursor = "2024-05-14T06:30:00.000-05:00"
    fetched = await adapter(fhir_server).fetch(cursor)
    assert fetched.parsed == Parsed() and fetched.cursor == f"{cursor};skipped=1"
    assert fhir_server.pages_read() == 0
    _, query = fhir_server.requests[0]
    # The '+'/'-' of the offset arrives intact (URL-encoded on the way).
    assert query == {"physical-type": "bd", "_lastUpdated": f"gt{cursor}", "_summary": "count"}


async def test_every_so_many_polls_a_full_read_happens_anyway(fhir_server: FhirServer) -> None:
    cursor = "2024-05-14T06:30:00.000-05:00"
    fetched = await adapter(fhir_server, full_read_every=3).fetch(f"{cursor};skipped=1")
    assert fetched.cursor == f"{cursor};skipped=2" and fhir_server.pages_read() == 0
    fetched = await adapter(fhir_server, full_read_every=3).fetch(fetched.cursor)
    assert fhir_server.pages_read() == 2 and len(fetched.parsed.reports) == 2
    assert fetched.cursor == cursor  # the count starts again


async def test_a_changed_source_is_read_in_full(fhir_server: FhirServer) -> None:
    fhir_server.changed = 1
    fetched = await adapter(fhir_server).fetch("2024-05-14T09:00:00+00:00")
    assert fhir_server.pages_read() == 2 and len(fetched.parsed.reports) == 2


async def test_a_server_without_the_count_query_is_read_in_full(fhir_server: FhirServer) -> None:
    fhir_server.changed = None
    fetched = await adapter(fhir_server).fetch("2024-05-14T09:00:00+00:00")
    assert fhir_server.pages_read() == 2 and len(fetched.parsed.reports) == 2


@pytest.mark.parametrize(
    "values", [{"use_cursor": False}, {"as_of_source": "retrieved"}], ids=["off", "retrieved"]
)
async def test_the_cursor_is_not_used_when_it_cannot_help(
    fhir_server: FhirServer, values: dict[str, Any]
) -> None:
    await adapter(fhir_server, **values).fetch("2024-05-14T09:00:00+00:00")
    assert all("_summary" not in q for _, q in fhir_server.requests)


async def test_a_nonsense_cursor_is_ignored(fhir_server: FhirServer) -> None:
    fetched = await adapter(fhir_server).fetch("c17")
    assert fhir_server.pages_read() == 2 and fetched.cursor == "2024-05-14T06:30:00.000-05:00"


async def test_a_bed_dated_in_the_future_never_becomes_the_cursor(
    fhir_server: FhirServer,
) -> None:
    future = {
        "resourceType": "Location",
        "id": "bed-from-the-future",
        "meta": {"lastUpdated": "2099-01-01T00:00:00Z"},
        "physicalType": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/location-physical-type",
                    "code": "bd",
                }
            ]
        },
        "partOf": {"reference": "Location/psych-adult-3w"},
    }
    fhir_server.extra_beds.append(future)
    fetched = await adapter(fhir_server).fetch(None)
    assert fetched.cursor is None or "2099" not in fetched.cursor
    # A far-future cursor stored before the rule is not trusted either: the poll reads all.
    fhir_server.requests.clear()
    again = await adapter(fhir_server).fetch("2099-01-01T00:00:00Z")
    assert fhir_server.pages_read() == 2 and again.parsed.reports


async def test_too_many_pages_stop_the_feed(fhir_server: FhirServer) -> None:
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server, max_pages=1).fetch(None)
    assert caught.value.permanent and "max_pages" in str(caught.value)


async def test_next_links_to_another_host_are_not_followed(fhir_server: FhirServer) -> None:
    fhir_server.next_link = "https://elsewhere.example.org/fhir/Location?_page=2"
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server).fetch(None)
    assert caught.value.permanent and "credentials only to base_url" in str(caught.value)
    assert fhir_server.pages_read() == 1


async def test_looping_next_links_stop(fhir_server: FhirServer) -> None:
    fhir_server.next_link = f"{fhir_server.base}/Location?physical-type=bd&_count=200"
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server).fetch(None)
    assert caught.value.permanent and "loop" in str(caught.value)


async def test_refused_credentials_are_permanent(fhir_server: FhirServer) -> None:
    wrong = adapter(fhir_server, token="wrong-token")
    for call in (wrong.fetch(None), wrong.check()):
        with pytest.raises(AdapterError) as caught:
            await call
        assert caught.value.permanent and "401" in str(caught.value)


async def test_basic_auth(fhir_server: FhirServer) -> None:
    fhir_server.basic = ("bedboard", "pa:ss")
    good = adapter(fhir_server, auth="basic", username="bedboard", password="pa:ss", token=None)
    await good.check()
    assert len((await good.fetch(None)).parsed.reports) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_server_trouble_is_transient(fhir_server: FhirServer, status: int) -> None:
    fhir_server.fail_status = status
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server).fetch(None)
    assert not caught.value.permanent and str(status) in str(caught.value)


async def test_a_slow_server_times_out_transiently(fhir_server: FhirServer) -> None:
    fhir_server.delay_s = 1.0
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server, timeout_s=0.2).fetch(None)
    assert not caught.value.permanent and "in time" in str(caught.value)


async def test_an_unreachable_server_is_transient(unused_tcp_port: int) -> None:
    config = FhirConfig(base_url=f"http://127.0.0.1:{unused_tcp_port}/fhir")
    for call in (FhirAdapter(config).fetch(None), FhirAdapter(config).check()):
        with pytest.raises(AdapterError) as caught:
            await call
        assert not caught.value.permanent


async def test_an_oversized_response_is_refused(fhir_server: FhirServer) -> None:
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server, max_bytes=1024).fetch(None)
    assert caught.value.permanent and "max_bytes" in str(caught.value)


async def test_a_page_that_is_not_a_bundle_fails_the_poll(fhir_server: FhirServer) -> None:
    fhir_server.measure_reports = b"<html>proxy error</html>"
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server, mode="measure_report").fetch(None)
    assert not caught.value.permanent and "proxy error" in str(caught.value)
    # ... and what was sent goes to the quarantine with the failure.
    assert "proxy error" in caught.value.rejected[0].raw


async def test_check_reads_metadata_and_the_resource(fhir_server: FhirServer) -> None:
    await adapter(fhir_server).check()
    paths = [path for path, _ in fhir_server.requests]
    assert paths == ["/fhir/metadata", "/fhir/Location"]


async def test_check_refuses_a_base_that_is_not_fhir(fhir_server: FhirServer) -> None:
    fhir_server.metadata = b"<html>welcome</html>"
    with pytest.raises(AdapterError) as caught:
        await adapter(fhir_server).check()
    assert caught.value.permanent and "CapabilityStatement" in str(caught.value)


async def test_check_with_a_wrong_path_is_permanent(fhir_server: FhirServer) -> None:
    bad = FhirAdapter(FhirConfig(base_url=fhir_server.base + "/nope", auth="bearer", token=TOKEN))
    with pytest.raises(AdapterError) as caught:
        await bad.check()
    assert caught.value.permanent and "404" in str(caught.value)


async def test_measure_report_mode(fhir_server: FhirServer) -> None:
    subject = {"subject:identifier": "http://www.example.org/location|456"}
    fetched = await adapter(
        fhir_server, mode="measure_report", measure_report_params=subject
    ).fetch(None)
    path, query = fhir_server.requests[0]
    assert path == "/fhir/MeasureReport"
    assert query == {"_sort": "-period", "_count": "10", **subject}
    assert set(by_source(fetched.parsed)) == {"adult_psychiatric", "pediatric_psychiatric"}
    assert fetched.cursor == "2025-03-05T08:15:00-05:00"


async def test_measure_report_mode_with_nothing_found(fhir_server: FhirServer) -> None:
    fhir_server.measure_reports = b'{"resourceType": "Bundle", "type": "searchset", "total": 0}'
    fetched = await adapter(fhir_server, mode="measure_report").fetch("earlier")
    assert fetched.parsed.reports == [] and fetched.cursor == "earlier"
    assert "no complete MeasureReport" in fetched.parsed.rejected[0].reason


# =========================================================================== end to end


async def _feed(
    conn: Any, facility_id: int, config: dict[str, Any], mappings: dict[str, int]
) -> int:
    feed_id: int = await conn.fetchval(
        "INSERT INTO feeds (facility_id, kind, name, config) VALUES ($1, 'fhir', 'EHR beds', $2)"
        " RETURNING id",
        facility_id,
        config,
    )
    await conn.execute("INSERT INTO feed_status (feed_id) VALUES ($1)", feed_id)
    await conn.executemany(
        "INSERT INTO feed_mappings (feed_id, source_id, unit_id) VALUES ($1, $2, $3)",
        [(feed_id, source, unit) for source, unit in mappings.items()],
    )
    return feed_id


async def test_end_to_end_beds_to_the_board(
    conn: Any,
    make_facility: Callable[..., Awaitable[Any]],
    make_unit: Callable[..., Awaitable[Any]],
    fhir_server: FhirServer,
) -> None:
    facility = await make_facility(name="Mid-Missouri Behavioral Health")
    west = await make_unit(facility.id, name="Adult 3 West", licensed_beds=8)
    east = await make_unit(
        facility.id, name="Adolescent 4 East", population="adolescent", licensed_beds=8
    )
    config = {"base_url": fhir_server.base, "auth": "bearer"}
    feed_id = await _feed(
        conn, facility.id, config, {"psych-adult-3w": west.id, "psych-adol-4e": east.id}
    )
    row = await conn.fetchrow("SELECT kind, config FROM feeds WHERE id = $1", feed_id)
    built = feeds.build_adapter(row["kind"], row["config"], {"token": TOKEN})

    fetched = await built.fetch(None)
    result = await feeds.ingest(conn, feed_id, fetched.parsed)
    assert (result.applied, result.rejected, result.unmapped) == (2, 1, 0)
    census = {
        r["unit_id"]: r
        for r in await conn.fetch(
            "SELECT unit_id, staffed, occupied, blocked, available, as_of, source FROM unit_census"
        )
    }
    assert (census[west.id]["staffed"], census[west.id]["occupied"]) == (6, 2)
    assert (census[west.id]["blocked"], census[west.id]["available"]) == (2, 2)
    assert census[west.id]["as_of"] == utc("2024-05-14T09:12:33.120+00:00")
    assert (census[east.id]["staffed"], census[east.id]["available"]) == (6, 1)
    assert census[east.id]["source"] == f"feed:{feed_id}"
    quarantined = await conn.fetch(
        "SELECT location, reason FROM feed_quarantine WHERE feed_id = $1", feed_id
    )
    assert [q["location"] for q in quarantined] == ["Location/psych-adol-4e"]
    assert "bed-4e-06" in quarantined[0]["reason"]

    # The next poll: nothing changed at the source, nothing is applied or re-read.
    again = await built.fetch(fetched.cursor)
    assert again.parsed == Parsed() and again.cursor == f"{fetched.cursor};skipped=1"
    result = await feeds.ingest(conn, feed_id, again.parsed)
    assert result.applied == 0
    assert await conn.fetchval("SELECT count(*) FROM census_history") == 2
