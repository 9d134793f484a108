"""The HL7 v2 adapter's pure side: reading ADT messages, times, settings and ACKs.

Fixtures in tests/fixtures/hl7 follow the HL7 v2.5 chapter 3 ADT examples (fictitious
patients). They are stored with LF line ends for readability; ``load`` turns them into
the wire form (segments separated by CR).
"""

from __future__ import annotations

import string
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from facility_adapters import load_all
from facility_adapters.base import REGISTRY, Parsed
from facility_adapters.hl7 import (
    MAX_MESSAGE_BYTES,
    BedChange,
    Hl7Adapter,
    Hl7Config,
    Hl7Event,
    Hl7Ignored,
    Hl7Rejected,
    build_ack,
    parse_message,
    parse_ts,
    read_header,
)
from tests.adapters import rules

FIXTURES = Path(__file__).parent.parent / "fixtures" / "hl7"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def event(raw: bytes) -> Hl7Event:
    result = parse_message(raw)
    assert isinstance(result, Hl7Event), result
    return result


def rejection(raw: bytes) -> str:
    result = parse_message(raw)
    assert isinstance(result, Hl7Rejected), result
    return result.reason


def msg(*segments: str) -> bytes:
    return "\r".join(segments).encode()


MSH = "MSH|^~\\&|ADT1|GOOD HEALTH HOSPITAL|BEDBOARD|STATE|202401021030||{type}|{ctrl}|P|2.5"


def adt(trigger: str, *rest: str, ctrl: str = "C1", structure: str = "") -> bytes:
    kind = f"ADT^{trigger}" + (f"^{structure}" if structure else "")
    return msg(MSH.format(type=kind, ctrl=ctrl), *rest)


def ack_fields(ack: bytes, encoding: str = "utf-8") -> tuple[str, str, str]:
    """(MSA-1, MSA-2, MSA-3) of an ACK, read back with python-hl7."""
    assert b"\x0b" not in ack and b"\x1c" not in ack
    parsed = hl7.parse(ack.decode(encoding))
    assert str(parsed.segment("MSH")(9)).startswith("ACK")
    msa = parsed.segment("MSA")
    return (
        str(msa(1)),
        parsed.unescape(str(msa(2))) if len(msa) > 2 else "",
        parsed.unescape(str(msa(3))) if len(msa) > 3 else "",
    )


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize(
    ("name", "trigger", "at", "changes"),
    [
        ("adt_a01.hl7", "A01", utc(2007, 8, 18, 11, 23), [("4EAST^401^1", "O")]),
        (
            "adt_a02.hl7",
            "A02",
            utc(2007, 8, 18, 14, 23),
            [("4EAST^401^1", "U"), ("4WEST^412^2", "O")],
        ),
        ("adt_a03.hl7", "A03", utc(2007, 8, 20, 10, 12), [("4WEST^412^2", "U")]),
        ("adt_a11.hl7", "A11", utc(2007, 8, 18, 11, 40), [("4EAST^401^1", "U")]),
        # HL7 v2.5 §3.3.12: in A12, PV1-3 is the location *before* the cancelled transfer
        # (occupied again) and PV1-6 the location transferred to in error (freed).
        (
            "adt_a12.hl7",
            "A12",
            utc(2007, 8, 18, 14, 47),
            [("4WEST^412^2", "U"), ("4EAST^401^1", "O")],
        ),
        ("adt_a13.hl7", "A13", utc(2007, 8, 20, 10, 38), [("4WEST^412^2", "O")]),
        # A20 with an offset: 11:25 at -0500 is 16:25 UTC.
        ("adt_a20.hl7", "A20", utc(2007, 8, 20, 16, 25), [("4WEST^412^2", "H")]),
        # v2.3: MSH-9 without structure, EVN-2 empty (MSH-7 is used), PV1-3 without room.
        ("adt_a01_v23.hl7", "A01", utc(2005, 1, 10, 4, 55, 4), [("4EAST^^12", "O")]),
        # Latin-1, declared in MSH-18.
        ("adt_a01_latin1.hl7", "A01", utc(2007, 8, 18, 11, 23), [("4EAST^403^2", "O")]),
    ],
)
def test_fixture_events(
    name: str, trigger: str, at: datetime, changes: list[tuple[str, str]]
) -> None:
    result = event(load(name))
    assert result.trigger == trigger
    assert result.at == at
    assert result.at.tzinfo is not None
    assert [(c.bed, c.status) for c in result.changes] == changes
    assert result.header.control_id.startswith(("MSG", "599102"))


def test_fixture_header() -> None:
    header = event(load("adt_a01.hl7")).header
    assert header.sending_facility == "GOOD HEALTH HOSPITAL"
    assert header.control_id == "MSG00001"
    assert (header.message_type, header.trigger) == ("ADT", "A01")
    assert header.processing_id == "P"
    assert header.where == "message MSG00001"
    assert read_header(load("adt_a01_latin1.hl7")).sending_facility == "HÔPITAL SAINT-JEAN"


def test_a08_is_read_but_ignored() -> None:
    result = parse_message(load("adt_a08.hl7"))
    assert isinstance(result, Hl7Ignored)
    assert result.trigger == "A08"


def test_bed_change_key() -> None:
    change = BedChange("4EAST", "401", "1", "O")
    assert change.bed == "4EAST^401^1"


def test_segments_may_end_with_lf_or_crlf() -> None:
    raw = (FIXTURES / "adt_a02.hl7").read_bytes()
    assert event(raw.replace(b"\r\n", b"\n")) == event(load("adt_a02.hl7"))
    assert event(raw.replace(b"\n", b"\r\n")) == event(load("adt_a02.hl7"))


def test_a02_without_prior_location_occupies_only() -> None:
    result = event(adt("A02", "EVN|A02|202401021029", "PV1|1|I|4EAST^401^2"))
    assert [(c.bed, c.status) for c in result.changes] == [("4EAST^401^2", "O")]
    assert result.notes == ("PV1-6 is empty: no bed was freed",)


def test_trigger_from_evn_when_msh9_has_none() -> None:
    result = event(adt("", "EVN|A03|202401021029", "PV1|1|I|4EAST^401^2").replace(b"ADT^", b"ADT"))
    assert result.trigger == "A03"


def test_a20_status_in_lower_case_and_cwe() -> None:
    result = event(adt("A20", "EVN|A20|202401021029", "NPU|4EAST^401^1|k^Contaminated^HL70116"))
    assert result.changes[0].status == "K"


def test_event_time_prefers_evn2_then_msh7() -> None:
    assert event(adt("A01", "EVN|A01|202401020900", "PV1|1|I|U^1^1")).at == utc(2024, 1, 2, 9, 0)
    assert event(adt("A01", "EVN|A01|", "PV1|1|I|U^1^1")).at == utc(2024, 1, 2, 10, 30)
    assert event(adt("A01", "PV1|1|I|U^1^1")).at == utc(2024, 1, 2, 10, 30)


def test_local_times_read_in_the_given_zone() -> None:
    raw = adt("A01", "EVN|A01|202407011200", "PV1|1|I|U^1^1")
    assert parse_message(raw).at == utc(2024, 7, 1, 12, 0)  # type: ignore[union-attr]
    chicago = parse_message(raw, default_tz=ZoneInfo("America/Chicago"))
    assert isinstance(chicago, Hl7Event)
    assert chicago.at == utc(2024, 7, 1, 17, 0)  # CDT is UTC-5
    # An explicit offset wins over the zone.
    raw = adt("A01", "EVN|A01|202407011200+0200", "PV1|1|I|U^1^1")
    assert parse_message(raw, default_tz=ZoneInfo("America/Chicago")).at == utc(  # type: ignore[union-attr]
        2024, 7, 1, 10, 0
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("202401021030", utc(2024, 1, 2, 10, 30)),
        ("20240102103015", utc(2024, 1, 2, 10, 30, 15)),
        ("20240102103015.25", datetime(2024, 1, 2, 10, 30, 15, 250000, tzinfo=UTC)),
        ("20240102103015.1234+0100", datetime(2024, 1, 2, 9, 30, 15, 123400, tzinfo=UTC)),
        ("202401021030-0530", utc(2024, 1, 2, 16, 0)),
        ("202401021030-0030", utc(2024, 1, 2, 11, 0)),  # python-hl7 gets this one wrong
        (" 202401021030 ", utc(2024, 1, 2, 10, 30)),
    ],
)
def test_parse_ts(text: str, expected: datetime) -> None:
    assert parse_ts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "20240102",  # day precision cannot order bed events
        "2024010210",
        "202413021030",
        "202402301030",
        "202401022530",
        "202401021030+2400",
        "202401021030+0160",
        "202401021030Z",
        "2024-01-02T10:30",
        "\uff12\uff10\uff12\uff14\uff10\uff11\uff10\uff12\uff11\uff10\uff13\uff10",  # fullwidth
        "000001010000",
    ],
)
def test_parse_ts_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"date/time|offset"):
        parse_ts(text)


# --------------------------------------------------------------------------- rejections


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "does not begin with MSH"),
        (b"hello world", "does not begin with MSH"),
        (b"PID|1||123", "does not begin with MSH"),
        (b"MSH", "separators"),
        (b"MSH|", "separators"),
        (b"MSHa^~\\&|X", "separators"),
        (b"MSH|^^^^|A|B|C|D|202401021030||ADT^A01|C1|P|2.5\rPV1|1|I|U^1^1", "separators"),
        (adt("A01", "PV1|1|I|U^1^1", ctrl=""), "MSH-10"),
        (adt("A01", "PV1|1|I|U^1^1").replace(b"GOOD HEALTH HOSPITAL", b""), "MSH-4"),
        (
            adt("A01", "PV1|1|I|U^1^1").replace(b"ADT^A01", b"ORU^R01"),
            "unsupported message type ORU",
        ),
        (adt("A01", "EVN|A01|20240102"), "EVN-2"),
        (adt("A01", "EVN|A01|x"), "EVN-2"),
        (
            adt("A01", "EVN|A01|", "PV1|1|I|U^1^1").replace(b"202401021030||", b"||"),
            "no event time",
        ),
        (adt("A01", "EVN|A01|202401021030"), "without a PV1"),
        (adt("A01", "PV1|1|I"), "PV1-3 (the bed's location) is empty"),
        (adt("A01", "PV1|1|I|4EAST"), "PV1-3 must name a point of care (component 1) and a bed"),
        (adt("A01", "PV1|1|I|^401^1"), "PV1-3 must name a point of care (component 1) and a bed"),
        (adt("A02", "PV1|1|I|U^1^1|||U^2"), "PV1-6 must name"),
        (adt("A01", "PV1|1|I|" + "U" * 201 + "^1^1"), "too long"),
        (adt("A20", "EVN|A20|202401021030"), "without an NPU"),
        (adt("A20", "NPU|4EAST^401^1"), "NPU-2 (bed status) is empty"),
        (adt("A20", "NPU|4EAST^401^1|X"), "table 0116"),
        (adt("A20", "NPU||O"), "NPU-1"),
        (adt("A01", "PV1|1|I|U^1^1") + b"\r" + adt("A01", "PV1|1|I|U^1^1"), "second MSH"),
        (adt("A01", "PV1|1|I|U^1^1").replace(b"ADT^A01", b"ADT"), "no trigger event"),
        (b"\xff\xfeMSH|", "not UTF-8"),
    ],
)
def test_rejections(raw: bytes, reason: str) -> None:
    assert reason in rejection(raw)


def test_undeclared_latin1_is_refused() -> None:
    raw = load("adt_a01_latin1.hl7").replace(b"|8859/1", b"|")
    assert "not UTF-8" in rejection(raw)


def test_oversized_message_is_refused() -> None:
    raw = adt("A01", "PV1|1|I|U^1^1", "NTE|1||" + "x" * MAX_MESSAGE_BYTES)
    assert "larger than" in rejection(raw)


@pytest.mark.parametrize(
    "tail",
    [
        b"\rPV1|" + b"|^~&" * 250_000,  # a quarter of a million fields
        b"|^~&" * 250_000,  # ... in MSH
        b"\rPV1|1|I|" + b"^~&" * 330_000,  # components
        b"\rPV1|1|I|U^1^1" * 65_000,  # segments
    ],
)
def test_huge_hostile_messages_are_cheap(tail: bytes) -> None:
    """python-hl7's parser is superlinear; bedboard hands it only the segments it reads."""
    raw = adt("A01", "EVN|A01|202401021030")[: -len(b"\rEVN|A01|202401021030")] + tail
    assert len(raw) <= MAX_MESSAGE_BYTES
    started = time.perf_counter()
    parse_message(raw)
    assert ack_fields(build_ack(raw, "AR", "x"))[:2] == ("AR", "C1")
    assert time.perf_counter() - started < 1.0


def test_overlong_control_id_is_refused() -> None:
    raw = adt("A01", "EVN|A01|202401021030", "PV1|1|I|U^1^1", ctrl="C" * 200)
    assert "longer than 199" in rejection(raw)
    assert ack_fields(build_ack(raw, "AR"))[1] == "C" * 200


def test_rejection_keeps_what_header_says() -> None:
    result = parse_message(adt("A01", "PV1|1|I", ctrl="XYZ"))
    assert isinstance(result, Hl7Rejected)
    assert result.header.control_id == "XYZ"
    assert result.header.sending_facility == "GOOD HEALTH HOSPITAL"


def test_read_header_tolerates_garbage() -> None:
    assert read_header(b"").control_id == ""
    assert read_header(b"\xff\xfe garbage").sending_facility == ""
    # Truncated after MSH-10: still enough to acknowledge.
    header = read_header(b"\x0bMSH|^~\\&|A|FAC^x^y|C|D|2024||ADT^A01|CTRL\x1c7")
    assert (header.sending_facility, header.control_id, header.trigger) == ("FAC", "CTRL7", "A01")


# --------------------------------------------------------------------------- contract


def test_registered_as_listening_kind() -> None:
    load_all()
    assert REGISTRY["hl7"] is Hl7Adapter
    assert Hl7Adapter.polled is False


def test_contract_parse_gives_no_reports() -> None:
    assert Hl7Adapter.parse(load("adt_a01.hl7")) == Parsed()
    assert Hl7Adapter.parse(load("adt_a08.hl7")) == Parsed()
    parsed = Hl7Adapter.parse(b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|C9|P|2.5\rPV1|1|I")
    assert parsed.reports == []
    [rejected] = parsed.rejected
    assert rejected.location == "message C9"
    assert "MSH-7" in rejected.reason
    assert rejected.raw.startswith("MSH|")


def test_config() -> None:
    config = Hl7Config.model_validate(
        {
            "sending_facility": " GHH ",
            "allowed_addresses": ["10.1.2.3", "192.168.0.0/24", "10.9.9.9/8", "2001:db8::/32"],
            "beds": {"4EAST": ["401^1", "401^2", "12", " 401^1 ", "4EAST^402^1"]},
            "timezone": "America/Chicago",
        }
    )
    assert config.sending_facility == "GHH"
    assert config.allowed_addresses == [
        "10.1.2.3/32",
        "192.168.0.0/24",
        "10.0.0.0/8",
        "2001:db8::/32",
    ]
    assert config.declared_beds("4EAST") == {
        "4EAST^401^1",
        "4EAST^401^2",
        "4EAST^^12",
        "4EAST^402^1",
    }
    assert config.declared_beds("4WEST") == set()
    assert config.processing_ids == ["P"]
    assert config.zone == ZoneInfo("America/Chicago")
    assert config.admits("192.168.0.77")
    assert config.admits("::ffff:10.200.0.1")  # IPv4-mapped, inside 10.0.0.0/8
    assert config.admits("2001:db8::5")
    assert not config.admits("172.16.0.1")
    assert not config.admits("not an address")
    assert Hl7Config(sending_facility="X").admits("203.0.113.9")  # empty: any


@pytest.mark.parametrize(
    "settings",
    [
        {},
        {"sending_facility": "  "},
        {"sending_facility": "A\x00B"},
        {"sending_facility": "X", "allowed_addresses": ["10.0.0.300"]},
        {"sending_facility": "X", "beds": {"4EAST": ["a^b^c"]}},
        {"sending_facility": "X", "beds": {"4EAST": ["4EAST^1^2^3"]}},
        {"sending_facility": "X", "beds": {"": ["1"]}},
        {"sending_facility": "X", "beds": {"4EAST": ["401^"]}},
        {"sending_facility": "X", "timezone": "Mars/Olympus"},
        {"sending_facility": "X", "processing_ids": ["Q"]},
        {"sending_facility": "X", "unknown": 1},
    ],
)
def test_config_refuses(settings: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Hl7Config.model_validate(settings)


# --------------------------------------------------------------------------- ACKs


@pytest.mark.parametrize("code", ["AA", "AE", "AR"])
def test_ack_echoes_control_id(code: str) -> None:
    ack = build_ack(load("adt_a01.hl7"), code, "text with | and ^ and \\ and & ~")  # type: ignore[arg-type]
    assert ack_fields(ack) == (code, "MSG00001", "text with | and ^ and \\ and & ~")
    parsed = hl7.parse(ack.decode())
    msh = parsed.segment("MSH")
    # The ACK comes from the receiver and goes back to the sender.
    assert (str(msh(3)), str(msh(4))) == ("BEDBOARD", "STATE")
    assert (str(msh(5)), str(msh(6))) == ("ADT1", "GOOD HEALTH HOSPITAL")
    assert str(msh(9)) == "ACK^A01^ACK"
    assert str(msh(10)) and str(msh(10)) != "MSG00001"


def test_ack_for_garbage_has_no_control_id() -> None:
    assert ack_fields(build_ack(b"\x00\xffnonsense", "AR", "unreadable")) == (
        "AR",
        "",
        "unreadable",
    )


def test_ack_by_hand_when_message_does_not_parse() -> None:
    raw = b"MSH|^~\\&|APP|FAC|BB|ST|2024||ADT^A01|CTRL-9|P|2.5\rPV1|\x00|"
    ack = build_ack(raw, "AR", "bad")
    assert ack_fields(ack) == ("AR", "CTRL-9", "bad")
    msh = hl7.parse(ack.decode()).segment("MSH")
    assert (str(msh(5)), str(msh(6))) == ("APP", "FAC")


def test_ack_with_unusual_separators() -> None:
    raw = load("adt_a01.hl7").replace(b"|", b"#")
    assert ack_fields(build_ack(raw, "AA")) == ("AA", "MSG00001", "")


def test_ack_never_carries_framing_bytes() -> None:
    raw = b"MSH|^~\\&|A\x0b|F\x1c|B|S|2024||ADT^A01|C\x1c\r1|P|2.5"
    ack = build_ack(raw, "AR", "x\x1c\ry")
    assert ack_fields(ack)[0] == "AR"


def test_ack_latin1_answers_in_latin1() -> None:
    ack = build_ack(load("adt_a01_latin1.hl7"), "AA")
    assert "HÔPITAL".encode("latin-1") in ack
    assert ack_fields(ack, "latin-1") == ("AA", "MSG00101", "")
    assert str(hl7.parse(ack.decode("latin-1")).segment("MSH")(18)) == "8859/1"


# --------------------------------------------------------------------------- properties

SAFE = string.ascii_letters + string.digits
control_ids = st.text(SAFE + "-_.:", min_size=1, max_size=40)
codes = st.sampled_from(["AA", "AE", "AR"])
names = st.text(SAFE, min_size=1, max_size=12)
stamps = st.datetimes(
    min_value=datetime(1990, 1, 1),  # noqa: DTZ001 -- naive on purpose: read as UTC
    max_value=datetime(2090, 1, 1),  # noqa: DTZ001
).map(lambda d: d.replace(microsecond=0, second=0))


def check_ack(raw: bytes, code: str) -> tuple[str, str, str]:
    header = read_header(raw)
    encoding = "latin-1" if header.charset == "8859/1" else "utf-8"
    fields = ack_fields(build_ack(raw, code, "why"), encoding)  # type: ignore[arg-type]
    assert fields[0] == code
    assert fields[2] == "why"
    return fields


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=600), code=codes)
def test_arbitrary_bytes_never_raise(raw: bytes, code: str) -> None:
    result = parse_message(raw)
    assert isinstance(result, Hl7Event | Hl7Ignored | Hl7Rejected)
    rules.assert_census_rules(Hl7Adapter.parse(raw))
    check_ack(raw, code)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.hl7"))),
    data=st.data(),
    code=codes,
)
def test_mangled_messages_never_raise(name: str, data: st.DataObject, code: str) -> None:
    raw = bytearray(load(name))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["cut", "delete", "insert", "replace", "swap"]))
        at = data.draw(st.integers(0, len(raw)))
        if action == "cut":
            del raw[at:]
        elif action == "delete":
            del raw[at : at + data.draw(st.integers(1, 20))]
        elif action == "insert":
            raw[at:at] = data.draw(
                st.binary(max_size=8) | st.sampled_from([b"|", b"^", b"\r", b"~", b"\\", b"&"])
            )
        elif action == "replace" and raw:
            raw[min(at, len(raw) - 1)] = data.draw(st.integers(0, 255))
        else:
            segments = bytes(raw).split(b"\r")
            data.draw(st.randoms()).shuffle(segments)
            raw = bytearray(b"\r".join(segments))
    raw_bytes = bytes(raw)
    rules.assert_census_rules(Hl7Adapter.parse(raw_bytes))
    result = parse_message(raw_bytes)
    assert isinstance(result, Hl7Event | Hl7Ignored | Hl7Rejected)
    if isinstance(result, Hl7Event):
        assert result.at.tzinfo is not None
        assert all(c.status in "OUCHIK" and c.point_of_care and c.bed_id for c in result.changes)
    header = read_header(raw_bytes)
    fields = check_ack(raw_bytes, code)
    if header.control_id and all(c in SAFE + "-_.:" for c in header.control_id):
        assert fields[1] == header.control_id


@settings(max_examples=200)
@given(
    ctrl=control_ids,
    code=codes,
    trigger=st.sampled_from(["A01", "A02", "A03", "A11", "A12", "A13", "A20", "A08", "R01"]),
    poc=names,
    room=st.text(SAFE, max_size=6),
    bed=names,
    prior=st.tuples(names, names),
    when=stamps,
    status=st.sampled_from("OUCHIK"),
    truncate=st.none() | st.integers(0, 200),
)
def test_near_valid_messages(
    ctrl: str,
    code: str,
    trigger: str,
    poc: str,
    room: str,
    bed: str,
    prior: tuple[str, str],
    when: datetime,
    status: str,
    truncate: int | None,
) -> None:
    stamp = when.strftime("%Y%m%d%H%M")
    kind = "ORU^R01" if trigger == "R01" else f"ADT^{trigger}"
    body = (
        [f"EVN|{trigger}|{stamp}", f"NPU|{poc}^{room}^{bed}|{status}"]
        if trigger == "A20"
        else [f"EVN|{trigger}|{stamp}", f"PV1|1|I|{poc}^{room}^{bed}|||{prior[0]}^^{prior[1]}"]
    )
    raw = msg(MSH.format(type=kind, ctrl=ctrl), *body)
    if truncate is not None:
        raw = raw[: len(MSH.format(type=kind, ctrl=ctrl)) + truncate]
    result = parse_message(raw)
    if truncate is None:
        if trigger == "R01":
            assert isinstance(result, Hl7Rejected)
        elif trigger == "A08":
            assert isinstance(result, Hl7Ignored)
        else:
            assert isinstance(result, Hl7Event)
            assert result.at == when.replace(tzinfo=UTC)
            assert result.header.control_id == ctrl
            here = f"{poc}^{room}^{bed}"
            there = f"{prior[0]}^^{prior[1]}"
            expected = {
                "A01": [(here, "O")],
                "A02": [(there, "U"), (here, "O")],
                "A03": [(here, "U")],
                "A11": [(here, "U")],
                "A12": [(there, "U"), (here, "O")],
                "A13": [(here, "O")],
                "A20": [(here, status)],
            }[trigger]
            assert [(c.bed, c.status) for c in result.changes] == expected
    assert check_ack(raw, code)[1] == ctrl


def test_redaction_keeps_the_segments_bedboard_reads_and_drops_patient_identity() -> None:
    from facility_adapters.hl7 import redact

    raw = (
        b"MSH|^~\\&|ADT1|GOOD HEALTH|BEDBOARD|STATE|202611291200||ADT^A01|M1|P|2.5\r"
        b"EVN|A01|202611291200\r"
        b"PID|1||PATID1234^^^GHH^MR||EVERYMAN^ADAM^A||19610615|M\r"
        b"NK1|1|EVERYMAN^EVE|SPO\r"
        b"PV1|1|I|4EAST^401^1"
    )
    text = redact(raw).decode()
    assert "PV1|1|I|4EAST^401^1" in text and text.startswith("MSH|")
    assert "EVERYMAN" not in text and "PATID1234" not in text
    assert "PID|(removed" in text and "NK1|(removed" in text
