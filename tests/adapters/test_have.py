"""The EDXL-HAVE adapter: parse on recorded documents and on anything at all, hostile XML,
fetch and check over HTTP and from a file, and one feed end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bedboard import feeds
from facility_adapters.base import REGISTRY, AdapterError, Parsed
from facility_adapters.have import HAVE_NS, HaveAdapter, HaveConfig, count_text, parse_document
from tests.adapters.rules import FIXTURES, assert_census_rules, mostly, often

HAVE = FIXTURES / "have"
TOKEN = "have-token-0123456789"
AS_OF = datetime(2024, 5, 14, 13, 30, tzinfo=UTC)  # 08:30-05:00


def fixture(name: str) -> bytes:
    return (HAVE / name).read_bytes()


def by_source(parsed: Parsed) -> dict[str, Any]:
    return {r.source_id: r for r in parsed.reports}


# =========================================================================== parse


def test_registered_under_its_kind() -> None:
    assert REGISTRY["have"] is HaveAdapter
    assert frozenset({"token", "password"}) == HaveAdapter.SECRET_FIELDS


@pytest.mark.parametrize("name", ["hospital_status.xml", "hospital_status_default_ns.xml"])
def test_psychiatric_bed_types_become_available_counts(name: str) -> None:
    found = parse_document(fixture(name))
    assert_census_rules(found.parsed)
    assert found.parsed.rejected == [] and found.fatal is None
    units = by_source(found.parsed)
    assert set(units) == {"AdultPsychiatric", "PediatricPsychiatric"}  # MedicalSurgical ignored
    adult, peds = units["AdultPsychiatric"], units["PediatricPsychiatric"]
    assert (adult.available, adult.staffed, adult.as_of) == (3, None, AS_OF)
    assert (peds.available, peds.as_of) == (0, AS_OF)  # NotAvailable
    assert found.last_update == "2024-05-14T08:30:00-05:00"


def test_a_hospital_is_picked_by_its_id() -> None:
    raw = fixture("hospital_status_two_hospitals.xml")
    found = parse_document(raw, "MO-HOSP-0988")
    units = by_source(found.parsed)
    assert (units["AdultPsychiatric"].available, units["PediatricPsychiatric"].available) == (7, 2)
    assert by_source(parse_document(raw, "MO-HOSP-0417").parsed)["AdultPsychiatric"].available == 3
    # The draft-style OrganizationID element identifies a hospital too.
    assert parse_document(fixture("hospital_status_default_ns.xml"), "MO-HOSP-0417").fatal is None


def test_several_hospitals_without_an_id_is_a_settings_problem() -> None:
    found = parse_document(fixture("hospital_status_two_hospitals.xml"))
    assert found.parsed.reports == [] and found.permanent
    assert "set hospital_id" in found.parsed.rejected[0].reason
    unknown = parse_document(fixture("hospital_status_two_hospitals.xml"), "NOPE")
    assert unknown.permanent and "MO-HOSP-0417" in unknown.parsed.rejected[0].reason


def test_have_inside_an_edxl_de_envelope() -> None:
    parsed = HaveAdapter.parse(fixture("edxl_de_envelope.xml"))
    assert by_source(parsed)["AdultPsychiatric"].available == 5


def test_bad_values_are_quarantined() -> None:
    parsed = HaveAdapter.parse(fixture("hospital_status_problems.xml"))
    assert_census_rules(parsed)
    assert parsed.reports == []
    reasons = {r.location: r for r in parsed.rejected}
    assert "outside 0..2000" in reasons["BedCapacity AdultPsychiatric"].reason
    assert "250000" in reasons["BedCapacity AdultPsychiatric"].raw
    assert "Diverting" in reasons["BedCapacity PediatricPsychiatric"].reason


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_entities_are_refused_not_expanded(name: str) -> None:
    found = parse_document(fixture(name))
    assert found.parsed.reports == []
    assert "refused" in found.parsed.rejected[0].reason
    assert "root:" not in found.parsed.rejected[0].raw  # /etc/passwd was never read


def _doc(body: str, stamp: str = "2024-05-14T08:30:00-05:00") -> bytes:
    return (
        f'<HospitalStatus xmlns="{HAVE_NS}"><Hospital><HospitalBedCapacityStatus>{body}'
        f"</HospitalBedCapacityStatus><LastUpdateTime>{stamp}</LastUpdateTime></Hospital>"
        "</HospitalStatus>"
    ).encode()


def _bed(kind: str, count: str | None, status: str | None = "Vacant/Available") -> str:
    parts = [f"<CapacityStatus>{status}</CapacityStatus>" if status is not None else ""]
    parts.append(f"<AvailableCount>{count}</AvailableCount>" if count is not None else "")
    return (
        f"<BedCapacity><BedType>{kind}</BedType><Capacity>{''.join(parts)}</Capacity></BedCapacity>"
    )


@pytest.mark.parametrize(
    ("body", "stamp", "reason"),
    [
        (_bed("AdultPsychiatric", "-1"), "2024-05-14T08:30:00Z", "outside"),
        (_bed("AdultPsychiatric", "3.0"), "2024-05-14T08:30:00Z", "not an integer"),
        (_bed("AdultPsychiatric", "\u0663"), "2024-05-14T08:30:00Z", "not an integer"),
        (_bed("AdultPsychiatric", None), "2024-05-14T08:30:00Z", "AvailableCount missing"),
        (_bed("AdultPsychiatric", "2"), "2024-05-14T08:30:00", "time zone"),
        (_bed("AdultPsychiatric", "2"), "yesterday", "time zone"),
        (_bed("AdultPsychiatric", "2"), "", "LastUpdateTime missing"),
        (_bed("AdultPsychiatric", "2") * 2, "2024-05-14T08:30:00Z", "appears 2 times"),
        (
            "<BedCapacity><BedType>AdultPsychiatric</BedType></BedCapacity>",
            "2024-05-14T08:30:00Z",
            "Capacity missing",
        ),
    ],
)
def test_problems_per_bed_type(body: str, stamp: str, reason: str) -> None:
    parsed = HaveAdapter.parse(_doc(body, stamp))
    assert parsed.reports == []
    assert reason in parsed.rejected[0].reason
    assert_census_rules(parsed)


def test_counts_with_spaces_and_signs_are_integers() -> None:
    assert count_text("+7") == (7, None)
    parsed = HaveAdapter.parse(_doc(_bed("PediatricPsychiatric", " 4 ", status=None)))
    assert by_source(parsed)["PediatricPsychiatric"].available == 4  # no status: the count


def test_a_bed_capacity_status_stamp_wins_over_the_hospitals() -> None:
    body = _bed("AdultPsychiatric", "1") + "<LastUpdateTime>2024-05-14T09:00:00Z</LastUpdateTime>"
    parsed = HaveAdapter.parse(_doc(body))
    assert parsed.reports[0].as_of == datetime(2024, 5, 14, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not well-formed"),
        (b"\xff\xfe\x00<", "not well-formed"),
        (b"<a><b></a>", "not well-formed"),
        (b'{"resourceType": "Bundle"}', "not well-formed"),
        (b"<Other/>", "no HAVE HospitalStatus"),
        (b'<HospitalStatus xmlns="urn:other"><Hospital/></HospitalStatus>', "no HAVE"),
        (b"<a>" * 50_000 + b"</a>" * 50_000, ""),
    ],
)
def test_garbage_is_one_rejection(raw: bytes, reason: str) -> None:
    found = parse_document(raw)
    assert found.parsed.reports == []
    assert len(found.parsed.rejected) == 1 and found.fatal is not None
    assert reason in found.parsed.rejected[0].reason
    assert found.parsed.rejected[0].raw == ""  # nothing of an unknown document is repeated
    assert_census_rules(found.parsed)


# =========================================================================== properties

_GOOD_STAMPS = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 -- hypothesis wants naive bounds
    max_value=datetime(2030, 1, 1),  # noqa: DTZ001
    timezones=st.builds(
        timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))
    ),
).map(lambda d: d.isoformat(timespec="seconds"))
_STAMPS = mostly(
    _GOOD_STAMPS,
    st.sampled_from(
        [
            "2024-05-14T08:30:00.123456789Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "1900-01-01T00:00:00Z",
            "3024-05-14T08:30:00Z",
            "2024-05-14T08:30:00",
            "2024-05-14",
            "",
        ]
    )
    | st.text(max_size=30),
    odds=5,
)
_COUNT_TEXT = mostly(
    st.integers(0, 40).map(str),
    st.one_of(
        st.integers(-10, 2100).map(str),
        st.integers().map(str),
        st.sampled_from(["", " 3 ", "+4", "3.0", "1e3", "\u0663", "1_000", "0x10", "\u00a05"]),
        st.text(max_size=6),
    ),
    odds=5,
)
_BED_TYPES = mostly(
    st.sampled_from(["AdultPsychiatric", "PediatricPsychiatric"]),
    st.sampled_from(["MedicalSurgical", "adultpsychiatric", ""]) | st.text(max_size=10),
    odds=5,
)
_STATUSES = mostly(
    st.sampled_from(["Vacant/Available", "NotAvailable"]),
    st.sampled_from(["VacantAvailable", "Full", ""]) | st.text(max_size=10),
    odds=5,
)
_XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20
)  # what XML can carry


@st.composite
def have_documents(draw: st.DrawFn) -> bytes:
    ns = draw(mostly(st.sampled_from([f"{{{HAVE_NS}}}", ""]), st.just("{urn:other}"), odds=6))
    root = Element(f"{ns}HospitalStatus")
    for _ in range(draw(mostly(st.just(1), st.sampled_from([0, 2, 3]), odds=6))):
        hospital = SubElement(root, f"{ns}Hospital")
        if draw(often(2)):
            org = SubElement(
                SubElement(hospital, f"{ns}Organization"), f"{ns}OrganizationInformation"
            )
            SubElement(org, f"{ns}OrganizationID").text = draw(_XML_TEXT)
        for _ in range(draw(mostly(st.just(1), st.sampled_from([0, 2]), odds=6))):
            status = SubElement(hospital, f"{ns}HospitalBedCapacityStatus")
            for _ in range(draw(mostly(st.integers(1, 3), st.just(0), odds=5))):
                bed = SubElement(status, f"{ns}BedCapacity")
                for _ in range(draw(mostly(st.just(1), st.sampled_from([0, 2]), odds=6))):
                    SubElement(bed, f"{ns}BedType").text = draw(_BED_TYPES.filter(_xml_safe))
                if draw(often(6)):
                    capacity = SubElement(bed, f"{ns}Capacity")
                    if draw(often(3)):
                        SubElement(capacity, f"{ns}CapacityStatus").text = draw(
                            _STATUSES.filter(_xml_safe)
                        )
                    if draw(often(6)):
                        SubElement(capacity, f"{ns}AvailableCount").text = draw(
                            _COUNT_TEXT.filter(_xml_safe)
                        )
            if not draw(often(5)):
                SubElement(status, f"{ns}LastUpdateTime").text = draw(_STAMPS.filter(_xml_safe))
        if draw(often(8)):
            SubElement(hospital, f"{ns}LastUpdateTime").text = draw(_STAMPS.filter(_xml_safe))
    raw: bytes = tostring(root, encoding="utf-8")
    return raw


def _xml_safe(text: str) -> bool:
    allowed = (c in "\t\n\r" or (c >= " " and c not in "\ufffe\uffff") for c in text)
    return all(allowed) and not any("\ud800" <= c <= "\udfff" for c in text)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(st.binary(max_size=2000))
def test_parse_survives_any_bytes(raw: bytes) -> None:
    assert_census_rules(HaveAdapter.parse(raw))


@PROPERTY
@given(have_documents(), st.sampled_from([None, "", "x", "MO-HOSP-0417"]))
def test_have_shaped_documents_never_break_the_census_rules(raw: bytes, hospital: Any) -> None:
    assert_census_rules(parse_document(raw, hospital).parsed)


@PROPERTY
@given(have_documents(), st.integers(0, 400), st.binary(min_size=1, max_size=8))
def test_damaged_documents_never_break_the_census_rules(raw: bytes, at: int, noise: bytes) -> None:
    damaged = raw[:at] + noise + raw[at:]
    assert_census_rules(HaveAdapter.parse(damaged))
    assert_census_rules(HaveAdapter.parse(raw.decode().encode("utf-16")))
    assert_census_rules(HaveAdapter.parse(b'<?xml version="1.0" encoding="latin-1"?>' + damaged))


@PROPERTY
@given(st.integers(1, 12), st.sampled_from(["", "SYSTEM 'http://127.0.0.1:9/x'", "x"]))
def test_any_entity_declaration_is_refused(depth: int, kind: str) -> None:
    entity = f"<!ENTITY e {kind}>" if kind.startswith("SYSTEM") else "<!ENTITY e 'lol'>"
    raw = (
        f"<?xml version='1.0'?><!DOCTYPE HospitalStatus [{entity}]>"
        f"<HospitalStatus xmlns='{HAVE_NS}'>{'<x>' * depth}&e;{'</x>' * depth}</HospitalStatus>"
    ).encode()
    parsed = HaveAdapter.parse(raw)
    assert parsed.reports == [] and "refused" in parsed.rejected[0].reason


# =========================================================================== settings


def test_settings_are_validated() -> None:
    assert HaveConfig(url="https://hospital.example.org/have.xml").url
    assert HaveConfig(path="/var/lib/have/../have/status.xml").path == "/var/lib/have/status.xml"
    for bad in (
        {},
        {"url": "https://h.example.org/a.xml", "path": "/a.xml"},
        {"path": "relative/status.xml"},
        {"path": "/etc/passwd"},
        {"path": "/a.xml", "auth": "bearer", "token": "t"},
        {"url": "http://h.example.org/a.xml", "auth": "bearer", "token": "t"},
        {"url": "file:///etc/status.xml"},
        {"url": "https://h.example.org/a.xml", "extra": 1},
    ):
        with pytest.raises(ValidationError):
            HaveConfig.model_validate(bad)
    plain, secrets = feeds.validate_config(
        "have", {"url": "https://h.example.org/a.xml", "auth": "bearer", "token": "tok"}
    )
    assert secrets == {"token": "tok"} and "token" not in plain


# =========================================================================== local server, files


@dataclass
class HaveServer:
    url: str = ""
    body: bytes = field(default_factory=lambda: fixture("hospital_status.xml"))
    fail_status: int | None = None
    delay_s: float = 0.0
    requests: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=403, text="forbidden")
        if self.fail_status is not None:
            return web.Response(status=self.fail_status)
        return web.Response(body=self.body, content_type="application/xml")


@pytest.fixture
async def have_server(aiohttp_server: Any) -> HaveServer:
    state = HaveServer()
    app = web.Application()
    app.router.add_get("/status/have.xml", state.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    state.url = str(server.make_url("/status/have.xml"))
    return state


def adapter(server: HaveServer, **values: Any) -> HaveAdapter:
    config = {"url": server.url, "auth": "bearer", "token": TOKEN, **values}
    return HaveAdapter(HaveConfig.model_validate(config))


async def test_fetch_over_http(have_server: HaveServer) -> None:
    fetched = await adapter(have_server).fetch(None)
    assert set(by_source(fetched.parsed)) == {"AdultPsychiatric", "PediatricPsychiatric"}
    assert fetched.cursor == "2024-05-14T08:30:00-05:00"
    await adapter(have_server).check()


async def test_refused_credentials_are_permanent(have_server: HaveServer) -> None:
    wrong = adapter(have_server, token="nope")
    for call in (wrong.fetch(None), wrong.check()):
        with pytest.raises(AdapterError) as caught:
            await call
        assert caught.value.permanent and "403" in str(caught.value)


@pytest.mark.parametrize("status", [500, 503])
async def test_server_trouble_is_transient(have_server: HaveServer, status: int) -> None:
    have_server.fail_status = status
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server).fetch("2024-05-14T08:00:00Z")
    assert not caught.value.permanent


async def test_a_slow_server_times_out_transiently(have_server: HaveServer) -> None:
    have_server.delay_s = 1.0
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server, timeout_s=0.2).fetch(None)
    assert not caught.value.permanent and "in time" in str(caught.value)


async def test_a_document_that_is_not_have_fails_the_poll(have_server: HaveServer) -> None:
    have_server.body = b"<html><body>Maintenance</body></html>"
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server).fetch(None)
    assert not caught.value.permanent and "no HAVE HospitalStatus" in str(caught.value)
    assert [r.location for r in caught.value.rejected] == ["document"]
    assert caught.value.rejected[0].raw == ""
    with pytest.raises(AdapterError):
        await adapter(have_server).check()


async def test_hostile_xml_fails_the_poll_without_expansion(have_server: HaveServer) -> None:
    have_server.body = fixture("billion_laughs.xml")
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server).fetch(None)
    assert "refused" in str(caught.value)


async def test_a_wrong_hospital_id_stops_the_feed(have_server: HaveServer) -> None:
    have_server.body = fixture("hospital_status_two_hospitals.xml")
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server).check()
    assert caught.value.permanent and "hospital_id" in str(caught.value)
    fetched = await adapter(have_server, hospital_id="MO-HOSP-0988").fetch(None)
    assert by_source(fetched.parsed)["AdultPsychiatric"].available == 7


async def test_an_oversized_document_is_refused(have_server: HaveServer) -> None:
    with pytest.raises(AdapterError) as caught:
        await adapter(have_server, max_bytes=1024).fetch(None)
    assert caught.value.permanent and "max_bytes" in str(caught.value)


async def test_fetch_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "have.xml"
    path.write_bytes(fixture("hospital_status_default_ns.xml"))
    local = HaveAdapter(HaveConfig(path=str(path)))
    await local.check()
    fetched = await local.fetch(None)
    assert by_source(fetched.parsed)["AdultPsychiatric"].available == 3
    path.unlink()
    with pytest.raises(AdapterError) as caught:
        await local.fetch(fetched.cursor)
    assert not caught.value.permanent and "no such file" in str(caught.value)
    (tmp_path / "dir.xml").mkdir()
    with pytest.raises(AdapterError) as caught:
        await HaveAdapter(HaveConfig(path=str(tmp_path / "dir.xml"))).fetch(None)
    assert caught.value.permanent
    big = tmp_path / "big.xml"
    big.write_bytes(b" " * 2048)
    with pytest.raises(AdapterError) as caught:
        await HaveAdapter(HaveConfig(path=str(big), max_bytes=1024)).fetch(None)
    assert caught.value.permanent


# =========================================================================== end to end


async def test_end_to_end_have_to_the_board(
    conn: Any,
    make_facility: Callable[..., Awaitable[Any]],
    make_unit: Callable[..., Awaitable[Any]],
    have_server: HaveServer,
) -> None:
    facility = await make_facility(name="Mid-Missouri Behavioral Health Center")
    adult = await make_unit(facility.id, name="Adult Psychiatry")
    child = await make_unit(facility.id, name="Child Psychiatry", population="child")
    feed_id: int = await conn.fetchval(
        "INSERT INTO feeds (facility_id, kind, name, config) VALUES ($1, 'have', 'HAVE', $2)"
        " RETURNING id",
        facility.id,
        {"url": have_server.url, "auth": "bearer"},
    )
    await conn.execute("INSERT INTO feed_status (feed_id) VALUES ($1)", feed_id)
    await conn.executemany(
        "INSERT INTO feed_mappings (feed_id, source_id, unit_id) VALUES ($1, $2, $3)",
        [(feed_id, "AdultPsychiatric", adult.id), (feed_id, "PediatricPsychiatric", child.id)],
    )
    built = feeds.build_adapter(
        "have", {"url": have_server.url, "auth": "bearer"}, {"token": TOKEN}
    )

    fetched = await built.fetch(None)
    result = await feeds.ingest(conn, feed_id, fetched.parsed)
    assert (result.applied, result.rejected, result.unmapped) == (2, 0, 0)
    rows = {
        r["unit_id"]: r
        for r in await conn.fetch(
            "SELECT unit_id, staffed, occupied, available, as_of, source FROM unit_census"
        )
    }
    assert (rows[adult.id]["available"], rows[adult.id]["staffed"]) == (3, None)
    assert rows[child.id]["available"] == 0
    assert rows[adult.id]["as_of"] == AS_OF and rows[adult.id]["source"] == f"feed:{feed_id}"

    # A later document: the adult count is absurd (quarantined, unit unchanged), the
    # pediatric one is applied.
    have_server.body = (
        fixture("hospital_status.xml")
        .replace(b"<have:AvailableCount>3<", b"<have:AvailableCount>-3<")
        .replace(b"NotAvailable", b"Vacant/Available")
        .replace(b"<have:AvailableCount>0<", b"<have:AvailableCount>2<")
        .replace(b"2024-05-14T08:30:00-05:00", b"2024-05-14T09:30:00-05:00")
    )
    fetched = await built.fetch(fetched.cursor)
    assert fetched.cursor == "2024-05-14T09:30:00-05:00"
    result = await feeds.ingest(conn, feed_id, fetched.parsed)
    assert (result.applied, result.rejected) == (1, 1)
    census = dict(await conn.fetch("SELECT unit_id, available FROM unit_census"))
    assert census == {adult.id: 3, child.id: 2}
    quarantined = await conn.fetch(
        "SELECT location, reason, raw FROM feed_quarantine WHERE feed_id = $1", feed_id
    )
    assert [q["location"] for q in quarantined] == ["BedCapacity AdultPsychiatric"]
    assert "outside 0..2000" in quarantined[0]["reason"] and "-3" in quarantined[0]["raw"]
