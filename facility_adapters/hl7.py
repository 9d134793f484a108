"""HL7 v2 ADT feeds: a hospital's ADT system (or interface engine) sends bed events over MLLP.

This kind *listens*: one MLLP listener per bedboard instance (``BEDBOARD_MLLP_LISTEN``,
served by :mod:`bedboard.hl7_ingest`) receives the messages of every HL7 feed and routes
each one by its sending facility (MSH-4.1) to the enabled ``hl7`` feed whose
``sending_facility`` matches and whose ``allowed_addresses`` admit the peer.

This module is pure: it reads messages and builds acknowledgements; the database side
(dedupe, bed state, census) lives in ``bedboard.hl7_ingest``.

Events bedboard reads (everything else of type ADT is acknowledged and ignored):

======  ========================  ===============================================
A01     admit                     occupy the bed in PV1-3
A02     transfer                  free PV1-6 (prior location), occupy PV1-3
A03     discharge                 free PV1-3
A11     cancel admit              free PV1-3
A12     cancel transfer           free PV1-6 (the location transferred to in
                                  error), occupy PV1-3 (HL7 v2.5 §3.3.12: PV1-3
                                  shows the location *prior to* the transfer)
A13     cancel discharge          occupy PV1-3
A20     bed status update         NPU-1 gets the status in NPU-2 (table 0116)
======  ========================  ===============================================

A bed is ``point of care ^ room ^ bed`` of a PL field (room may be empty). Bed status
codes (HL7 table 0116): O occupied, U unoccupied, C closed, H housekeeping, I isolated,
K contaminated. The event time is EVN-2 (recorded date/time), else MSH-7, in HL7 TS
format ``YYYYMMDDHHMM[SS[.S…]][+/-ZZZZ]``; a time without an offset is read in the feed's
``timezone`` setting, which defaults to UTC.

Acknowledgement codes (MSA-1), always echoing the original MSH-10 in MSA-2:

- ``AR`` the message cannot be read as a bed event (not HL7, not UTF-8 or declared
  Latin-1, missing MSH-4/MSH-10, not ADT, a required segment or field missing or
  malformed). Fix the message.
- ``AE`` the message is readable but this bedboard cannot apply it (unknown sending
  facility, address not allowed, point of care not mapped, future-dated, processing id
  not accepted, temporary failure). Fix the configuration or the clock, or resend later.
- ``AA`` accepted: applied, or deliberately not applied because it is a duplicate, an
  event bedboard does not use, or older than what is already known for its beds.

``parse(raw)`` (the adapter contract) cannot produce census reports from one message:
counts come from the state of every bed, which only the database knows. It returns no
reports, and one rejection when the message is unusable (what ``parse_message`` says).
"""

from __future__ import annotations

import ipaddress
import re
import string
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, ClassVar, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import hl7  # type: ignore[import-untyped]
from pydantic import Field, field_validator

from facility_adapters.base import (
    Adapter,
    AdapterConfig,
    Parsed,
    Rejected,
    register,
)

# Larger MLLP blocks are refused; ADT messages are a few kilobytes.
MAX_MESSAGE_BYTES = 1024 * 1024
MAX_CONTROL_ID = 199
MAX_POINT_OF_CARE = 200
MAX_LOCATION_PART = 80

AckCode = Literal["AA", "AE", "AR"]
ACCEPT: Final = "AA"
ERROR: Final = "AE"
REJECT: Final = "AR"
ProcessingId = Literal["P", "T", "D"]

OCCUPIED = "O"
UNOCCUPIED = "U"
BED_STATUSES = frozenset("OUCHIK")  # HL7 table 0116
BLOCKED_STATUSES = frozenset("CHIK")

USED_EVENTS = frozenset({"A01", "A02", "A03", "A11", "A12", "A13", "A20"})

_TS_RE = re.compile(
    r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?(?:([+-])(\d{2})(\d{2}))?$",
    re.ASCII,
)
_MAX_FIELDS = 30  # MSH-18 is the last field bedboard reads
_MAX_FIELD_CHARS = 2000
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_SEPARATOR_CHARS = frozenset(string.punctuation)
_STANDARD_ENCODING = "^~\\&"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Header:
    """What the MSH segment says, read tolerantly (empty strings when unknown)."""

    sending_application: str = ""  # MSH-3.1
    sending_facility: str = ""  # MSH-4.1
    receiving_application: str = ""  # MSH-5.1
    receiving_facility: str = ""  # MSH-6.1
    message_type: str = ""  # MSH-9.1, e.g. ADT
    trigger: str = ""  # MSH-9.2, e.g. A01
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11.1
    version: str = ""  # MSH-12.1
    charset: str = ""  # MSH-18 (first repetition)

    @property
    def where(self) -> str:
        """How quarantine and logs name the message."""
        return f"message {self.control_id[:190]}" if self.control_id else "message (no MSH-10)"


@dataclass(frozen=True)
class BedChange:
    point_of_care: str
    room: str
    bed_id: str
    status: str  # one of BED_STATUSES

    @property
    def bed(self) -> str:
        """The bed's key: ``point of care ^ room ^ bed``."""
        return bed_key(self.point_of_care, self.room, self.bed_id)


@dataclass(frozen=True)
class Hl7Event:
    """A message bedboard applies: bed changes in order (frees before occupies)."""

    header: Header
    trigger: str
    at: datetime  # aware, UTC
    changes: tuple[BedChange, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hl7Ignored:
    """A readable ADT message whose trigger event does not change beds (A04, A08, …)."""

    header: Header
    trigger: str


@dataclass(frozen=True)
class Hl7Rejected:
    """A message that cannot be read as a bed event: acknowledged AR."""

    header: Header
    reason: str


Hl7Result = Hl7Event | Hl7Ignored | Hl7Rejected


# The only segments bedboard reads; the rest (PID, NK1, DG1, IN1, ...) carry patient
# identity and are never kept, not even in the quarantine.
KEPT_SEGMENTS = frozenset({b"MSH", b"EVN", b"PV1", b"NPU"})


def redact(raw: bytes) -> bytes:
    """The message with every segment bedboard does not read replaced by its name, for
    the quarantine: enough to see what was wrong, no patient identity."""
    out = []
    for segment in raw.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r"):
        name = segment[:3]
        if not segment:
            continue
        out.append(segment if name in KEPT_SEGMENTS else name + b"|(removed: not read by bedboard)")
    return b"\r".join(out)


def bed_key(point_of_care: str, room: str, bed: str) -> str:
    return f"{point_of_care}^{room}^{bed}"


# --------------------------------------------------------------------------- reading


def _lenient_text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return _normalise(text)


def _normalise(text: str) -> str:
    """Segments end with CR; tolerate CRLF and LF, and leading framing leftovers."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    return text.lstrip(" \t\r\x0b\x1c")


def _clean(value: str, limit: int = 200) -> str:
    return _CONTROL_CHARS.sub("", value).strip()[:limit]


def _msh_fields(text: str) -> tuple[list[str], str] | None:
    """MSH fields (index n-1 holds MSH-n for n >= 2) and the component separator."""
    if len(text) < 4 or not text.startswith("MSH"):
        return None
    sep = text[3]
    if sep not in _SEPARATOR_CHARS:
        return None
    segment = text.split("\r", 1)[0]
    fields = segment.split(sep)
    encoding = fields[1] if len(fields) > 1 else ""
    component = encoding[0] if encoding and encoding[0] in _SEPARATOR_CHARS else "^"
    if component == sep:
        component = "^"
    return fields, component


def read_header(raw: bytes) -> Header:
    """Read MSH tolerantly (works when the message does not parse); never raises."""
    try:
        found = _msh_fields(_lenient_text(raw[:65536]))
    except Exception:  # noqa: BLE001 -- hostile input: no header
        return Header()
    if found is None:
        return Header()
    fields, comp = found

    def msh(n: int, component: int | None = 1, limit: int = 200) -> str:
        if n - 1 >= len(fields):
            return ""
        value = fields[n - 1]
        if component is not None:
            parts = value.split(comp)
            value = parts[component - 1] if component - 1 < len(parts) else ""
        return _clean(value, limit)

    return Header(
        sending_application=msh(3),
        sending_facility=msh(4),
        receiving_application=msh(5),
        receiving_facility=msh(6),
        message_type=msh(9).upper(),
        trigger=msh(9, 2).upper(),
        control_id=msh(10, None, 1000),
        processing_id=msh(11).upper(),
        version=msh(12),
        charset=msh(18, None).split("~")[0].strip().upper(),
    )


def parse_ts(value: str, default_tz: tzinfo = UTC) -> datetime:
    """An HL7 TS (``YYYYMMDDHHMM[SS[.S…]][+/-ZZZZ]``) as an aware UTC datetime.

    Minute precision at least: coarser times cannot order bed events. Without an offset
    the time is read in ``default_tz`` (UTC unless the feed says otherwise).
    Raises ValueError when malformed.
    """
    match = _TS_RE.match(value.strip())
    if match is None:
        raise ValueError(f"{value[:40]!r} is not an HL7 date/time YYYYMMDDHHMM[SS][+/-ZZZZ]")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0").ljust(6, "0"))
    if sign is not None:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if int(off_m) >= 60 or offset > timedelta(hours=14):
            raise ValueError(f"{value[:40]!r} has an impossible UTC offset")
        zone: tzinfo = timezone(-offset if sign == "-" else offset)
    else:
        zone = default_tz
    try:
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            micro,
            tzinfo=zone,
        )
        return local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{value[:40]!r} is not a valid date/time") from None


def _is_latin1(header: Header) -> bool:
    return header.charset in ("8859/1", "ISO-8859-1", "ISO8859-1", "LATIN1", "LATIN-1")


def _reduce(text: str) -> str:
    """Only what bedboard reads, bounded: MSH and the first EVN, PV1 and NPU, each cut to
    its first fields, each field to a few kilobytes. python-hl7's parser grows faster than
    linearly with a message's size; this keeps a hostile 1 MiB message cheap."""
    segments = text.split("\r")
    sep = text[3]
    kept = [segments[0]]
    for name in ("EVN", "PV1", "NPU"):
        found = next((s for s in segments[1:] if s[:3] == name and s[3:4] == sep), None)
        if found is not None:
            kept.append(found)
    # Trailing whitespace goes: python-hl7 strips the text's end anyway, and this way MSH
    # parses the same whether other segments follow it or not (the ACK copies its fields).
    return "\r".join(
        sep.join(
            f[:_MAX_FIELD_CHARS] for f in segment.split(sep, _MAX_FIELDS)[:_MAX_FIELDS]
        ).rstrip()
        for segment in kept
    )


def _decode(raw: bytes, header: Header) -> str | None:
    """UTF-8; Latin-1 when MSH-18 declares it (8859/1). None when neither applies."""
    if _is_latin1(header):
        return raw.decode("latin-1")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _separators_ok(text: str) -> bool:
    """Field separator and encoding characters: distinct punctuation (4, or 5 in v2.7+)."""
    if len(text) < 9:
        return False
    sep = text[3]
    end = text.find(sep, 4)
    encoding = text[4:end] if end != -1 else ""
    chars = sep + encoding
    return (
        len(encoding) in (4, 5)
        and all(c in _SEPARATOR_CHARS for c in chars)
        and len(set(chars)) == len(chars)
    )


def _get(msg: Any, segment: str, field_num: int, component: int = 1) -> str:
    """One component of the first repetition of a field of the first such segment."""
    try:
        value = msg.extract_field(segment, 1, field_num, 1, component, 1)
    except (KeyError, IndexError):
        return ""
    return _CONTROL_CHARS.sub("", str(value)).strip()


def _has(msg: Any, segment: str) -> bool:
    try:
        msg.segments(segment)
    except KeyError:
        return False
    return True


class _Bad(Exception):
    """The message lacks or garbles something bedboard needs (answered AR)."""


def _location(msg: Any, segment: str, field_num: int, *, required: bool) -> tuple[str, str, str]:
    name = f"{segment}-{field_num}"
    poc = _get(msg, segment, field_num, 1)
    room = _get(msg, segment, field_num, 2)
    bed = _get(msg, segment, field_num, 3)
    if not (poc or room or bed):
        if required:
            raise _Bad(f"{name} (the bed's location) is empty")
        return "", "", ""
    if not poc or not bed:
        raise _Bad(f"{name} must name a point of care (component 1) and a bed (component 3)")
    if len(poc) > MAX_POINT_OF_CARE or max(len(room), len(bed)) > MAX_LOCATION_PART:
        raise _Bad(f"{name} is too long")
    return poc, room, bed


def _event_time(msg: Any, default_tz: tzinfo) -> datetime:
    for name, value in (("EVN-2", _get(msg, "EVN", 2)), ("MSH-7", _get(msg, "MSH", 7))):
        if value:
            try:
                return parse_ts(value, default_tz)
            except ValueError as exc:
                raise _Bad(f"{name}: {exc}") from None
    raise _Bad("no event time: EVN-2 and MSH-7 are empty")


def _changes(msg: Any, trigger: str) -> tuple[tuple[BedChange, ...], tuple[str, ...]]:
    if trigger == "A20":
        if not _has(msg, "NPU"):
            raise _Bad("A20 without an NPU segment")
        poc, room, bed = _location(msg, "NPU", 1, required=True)
        status = _get(msg, "NPU", 2).upper()
        if not status:
            raise _Bad("NPU-2 (bed status) is empty")
        if status not in BED_STATUSES:
            raise _Bad(f"NPU-2 {status[:10]!r} is not a bed status of table 0116 (O U C H I K)")
        return (BedChange(poc, room, bed, status),), ()
    if not _has(msg, "PV1"):
        raise _Bad(f"{trigger} without a PV1 segment")
    here = _location(msg, "PV1", 3, required=True)
    if trigger in ("A01", "A13"):
        return (BedChange(*here, OCCUPIED),), ()
    if trigger in ("A03", "A11"):
        return (BedChange(*here, UNOCCUPIED),), ()
    # A02 transfer, A12 cancel transfer: leave PV1-6, take PV1-3.
    prior = _location(msg, "PV1", 6, required=False)
    if not prior[0]:
        return (BedChange(*here, OCCUPIED),), ("PV1-6 is empty: no bed was freed",)
    return (BedChange(*prior, UNOCCUPIED), BedChange(*here, OCCUPIED)), ()


@dataclass(frozen=True)
class Hl7Message:
    """One MLLP block, read once: its header, and python-hl7's parse of the segments
    bedboard reads. The event (in a feed's time zone) and the ACK both come from it.

    ``problem`` is why the message cannot be a bed event, when that shows before its
    segments are read (size, encoding, framing, MSH-4 or MSH-10); ``parsed`` is None when
    it was not parsed (the ACK is then built by hand)."""

    raw: bytes
    header: Header
    problem: str | None = None
    text: str = ""  # decoded and normalised (segments separated by CR)
    parsed: Any = None  # hl7.Message of the reduced text

    def event(self, default_tz: tzinfo = UTC) -> Hl7Result:
        """The bed event, an ignored message, or a rejection with its reason; a time
        without a UTC offset is read in ``default_tz``. Never raises."""
        if self.problem is not None or self.parsed is None:
            return Hl7Rejected(self.header, self.problem or "unreadable HL7")
        try:
            return _event(self.parsed, self.header, default_tz)
        except _Bad as exc:
            return Hl7Rejected(self.header, str(exc))
        except Exception as exc:  # noqa: BLE001 -- hostile input must never crash the listener
            return Hl7Rejected(self.header, f"unreadable HL7: {type(exc).__name__}")

    def ack(self, code: AckCode, text: str = "") -> bytes:
        """The ACK (never raises): MSA-1 ``code``, MSA-2 the original MSH-10 when it could
        be read, MSA-3 ``text``. Built with python-hl7's ``create_ack`` from this parse
        when there is one (and its MSA-2 checked in the text built, not by parsing it);
        by hand (standard separators) when not."""
        try:
            built = _ack_with_hl7(self, code, text)
        except Exception:  # noqa: BLE001 -- fall back to the hand-built ACK
            built = None
        ack = built or _ack_by_hand(self.header, code, text)
        return ack.encode("latin-1", "replace") if _is_latin1(self.header) else ack.encode("utf-8")


def read_message(raw: bytes) -> Hl7Message:
    """Pure: read one MLLP block's content (segments separated by CR) once: the header,
    then the segments bedboard reads. Never raises."""
    header = read_header(raw)
    try:
        return _read(raw, header)
    except Exception as exc:  # noqa: BLE001 -- hostile input must never crash the listener
        return Hl7Message(raw, header, f"unreadable HL7: {type(exc).__name__}")


def _read(raw: bytes, header: Header) -> Hl7Message:
    def refused(reason: str) -> Hl7Message:
        return Hl7Message(raw, header, reason)

    if len(raw) > MAX_MESSAGE_BYTES:
        return refused(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    decoded = _decode(raw, header)
    if decoded is None:
        return refused("not UTF-8 (declare MSH-18 8859/1 for Latin-1)")
    text = _normalise(decoded).rstrip("\r\x1c\x0b \t")
    if not text.startswith("MSH"):
        return refused("not an HL7 v2 message: it does not begin with MSH")
    if not _separators_ok(text):
        return refused("MSH-1/MSH-2 separators are missing or unusual")
    if "\rMSH" in text:
        return refused("one message per MLLP block (found a second MSH)")
    # These refuse the message but not its ACK: MSH still parses, and the ACK echoes it.
    problem = None
    if not header.control_id:
        problem = "MSH-10 (message control id) is empty"
    elif len(header.control_id) > MAX_CONTROL_ID:
        problem = f"MSH-10 (message control id) is longer than {MAX_CONTROL_ID} characters"
    elif not header.sending_facility:
        problem = "MSH-4 (sending facility) is empty"
    try:
        parsed = hl7.parse(_reduce(text))
    except Exception as exc:  # noqa: BLE001 -- hostile input: no parse, a hand-built ACK
        return Hl7Message(raw, header, problem or f"unreadable HL7: {type(exc).__name__}", text)
    return Hl7Message(raw, header, problem, text, parsed)


def _event(msg: Any, header: Header, default_tz: tzinfo) -> Hl7Result:
    if header.message_type != "ADT":
        raise _Bad(f"unsupported message type {header.message_type or '(empty)'}: send ADT")
    trigger = header.trigger or _get(msg, "EVN", 1).upper()
    if not trigger:
        raise _Bad("no trigger event in MSH-9.2 or EVN-1")
    if trigger not in USED_EVENTS:
        return Hl7Ignored(header, trigger[:10])
    at = _event_time(msg, default_tz)
    changes, notes = _changes(msg, trigger)
    return Hl7Event(header, trigger, at, changes, notes)


def parse_message(raw: bytes, *, default_tz: tzinfo = UTC) -> Hl7Result:
    """Pure: one MLLP block's content to an event, an ignored message, or a rejection with
    its reason (``read_message(raw).event(default_tz)``). Never raises."""
    return read_message(raw).event(default_tz)


# --------------------------------------------------------------------------- ACKs


def _escape(value: str, sep: str = "|", encoding: str = _STANDARD_ENCODING) -> str:
    comp, rep, esc, sub = encoding[0], encoding[1], encoding[2], encoding[3]
    out = []
    for char in _CONTROL_CHARS.sub(" ", value):
        if char == esc:
            out.append(f"{esc}E{esc}")
        elif char == sep:
            out.append(f"{esc}F{esc}")
        elif char == comp:
            out.append(f"{esc}S{esc}")
        elif char == sub:
            out.append(f"{esc}T{esc}")
        elif char == rep:
            out.append(f"{esc}R{esc}")
        else:
            out.append(char)
    return "".join(out)


def _sanitise_ack(text: str) -> str:
    """An ACK never carries framing bytes or other control characters (CR separates)."""
    return "\r".join(_CONTROL_CHARS.sub("", segment) for segment in text.split("\r") if segment)


def _ack_with_hl7(message: Hl7Message, code: str, text: str) -> str | None:
    msg, header = message.parsed, message.header
    if msg is None:
        return None
    msh = msg.segment("MSH")
    if len(msh) <= 12 or any(len(str(msh(n))) > 200 for n in (3, 4, 5, 6, 9, 11, 12)):
        return None  # too short (create_ack needs MSH-12) or carrying oversized values
    ack = msg.create_ack(
        code,
        application=str(msh(5)) or "BEDBOARD",
        facility=str(msh(6)) or None,
    )
    ack_msh = ack.segment("MSH")
    ack_msh.assign_field(datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000"), 7)
    if _is_latin1(header):
        ack_msh.assign_field("8859/1", 18)
    msa = ack.segment("MSA")
    msa.assign_field(header.control_id, 2)
    if text:
        sep, encoding = message.text[3], message.text[4:8]
        msa.assign_field(_escape(text[:500], sep, encoding), 3)
    result = _sanitise_ack(str(ack))
    if _msa_control_id(result, message.text[3]) != header.control_id:
        return None
    return result


def _msa_control_id(ack: str, sep: str) -> str | None:
    """MSA-2 of an ACK as written, read as python-hl7 would read it back (a field's text
    is what lies between its separators), without parsing the ACK again."""
    for segment in ack.split("\r"):
        fields = segment.split(sep)
        if fields[0] == "MSA":
            return fields[2] if len(fields) > 2 else ""
    return None


def _ack_by_hand(header: Header, code: str, text: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    trigger = header.trigger if header.trigger.isalnum() else ""
    msh = [
        "MSH",
        _STANDARD_ENCODING,
        _escape(header.receiving_application) or "BEDBOARD",
        _escape(header.receiving_facility),
        _escape(header.sending_application),
        _escape(header.sending_facility),
        stamp,
        "",
        f"ACK^{_escape(trigger[:10])}^ACK" if trigger else "ACK",
        uuid.uuid4().hex[:20].upper(),
        _escape(header.processing_id[:3]) or "P",
        _escape(header.version[:10]) or "2.5",
    ]
    if _is_latin1(header):
        msh += ["", "", "", "", "", "8859/1"]
    msa = ["MSA", code, _escape(header.control_id)]
    if text:
        msa.append(_escape(text[:500]))
    return _sanitise_ack("|".join(msh) + "\r" + "|".join(msa))


def build_ack(raw: bytes, code: AckCode, text: str = "") -> bytes:
    """The ACK for ``raw`` (``read_message(raw).ack(code, text)``); never raises."""
    return read_message(raw).ack(code, text)


# --------------------------------------------------------------------------- config


def _bed_entry(point_of_care: str, entry: str) -> str:
    """A configured bed: ``room^bed``, ``bed``, or the whole ``point of care^room^bed``."""
    parts = [p.strip() for p in entry.strip().split("^")]
    if len(parts) == 3 and parts[0] == point_of_care:
        parts = parts[1:]
    if len(parts) == 1:
        room, bed = "", parts[0]
    elif len(parts) == 2:
        room, bed = parts
    else:
        raise ValueError(
            f"{entry!r}: write a bed of {point_of_care} as 'room^bed', 'bed' or"
            f" '{point_of_care}^room^bed'"
        )
    if not bed or len(bed) > MAX_LOCATION_PART or len(room) > MAX_LOCATION_PART:
        raise ValueError(f"{entry!r}: a bed needs an identifier of at most 80 characters")
    return bed_key(point_of_care, room, bed)


def _production_only() -> list[ProcessingId]:
    return ["P"]


class Hl7Config(AdapterConfig):
    sending_facility: str = Field(
        min_length=1,
        max_length=200,
        description="MSH-4 (first component) of the messages this feed accepts.",
    )
    allowed_addresses: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="IP addresses or CIDR networks allowed to send for this facility; empty: any.",
    )
    beds: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Optional: known beds per point of care ('room^bed' or 'bed'), counted as staffed"
            " (and unoccupied until an event says otherwise); 'poc^room^bed' is accepted too."
            " Beds named in messages are"
            " learnt and counted too."
        ),
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone for HL7 times without a UTC offset (e.g. America/Chicago).",
    )
    processing_ids: list[ProcessingId] = Field(
        default_factory=_production_only,
        min_length=1,
        description="MSH-11 processing ids accepted (P production, T training, D debugging).",
    )

    @field_validator("sending_facility")
    @classmethod
    def _facility(cls, value: str) -> str:
        value = value.strip()
        if not value or _CONTROL_CHARS.search(value):
            raise ValueError("must be the MSH-4 value the sender uses")
        return value

    @field_validator("allowed_addresses")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        networks = []
        for item in value:
            try:
                networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return networks

    @field_validator("beds")
    @classmethod
    def _beds(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = {}
        for poc, entries in value.items():
            name = poc.strip()
            if not name or len(name) > MAX_POINT_OF_CARE:
                raise ValueError(f"{poc!r} is not a point of care")
            if len(entries) > 2000:
                raise ValueError(f"{name}: at most 2000 beds per point of care")
            keys = [_bed_entry(name, e) for e in entries]
            result[name] = sorted({k.split("^", 1)[1] for k in keys})
        return result

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @property
    def zone(self) -> tzinfo:
        return UTC if self.timezone == "UTC" else ZoneInfo(self.timezone)

    def admits(self, peer_ip: str) -> bool:
        """Whether ``peer_ip`` may send for this feed (IPv4-mapped IPv6 counts as IPv4)."""
        if not self.allowed_addresses:
            return True
        try:
            address = ipaddress.ip_address(peer_ip.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(
            address in ipaddress.ip_network(network, strict=False)
            for network in self.allowed_addresses
        )

    def declared_beds(self, point_of_care: str) -> set[str]:
        """Bed keys (``poc^room^bed``) configured for a point of care."""
        return {f"{point_of_care}^{rest}" for rest in self.beds.get(point_of_care, [])}


@register
class Hl7Adapter(Adapter):
    """HL7 v2 ADT over MLLP (listening): bed events become unit census."""

    kind: ClassVar[str] = "hl7"
    title: ClassVar[str] = "HL7 v2 ADT over MLLP"
    Config: ClassVar[type[AdapterConfig]] = Hl7Config
    polled: ClassVar[bool] = False

    @property
    def settings(self) -> Hl7Config:
        assert isinstance(self.config, Hl7Config)
        return self.config

    async def check(self) -> None:
        """Nothing to connect to: the hospital connects to bedboard's MLLP listener
        (``BEDBOARD_MLLP_LISTEN``, one per instance, which this adapter cannot see).
        The settings were validated when the adapter was built, so this passes."""
        _ = self.settings

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        """Pure. No reports (census comes from every bed's state, kept in the database);
        one rejection when the message cannot be read as a bed event."""
        result = parse_message(raw)
        if isinstance(result, Hl7Rejected):
            excerpt = redact(raw[:4096].replace(b"\x00", b""))
            return Parsed(rejected=[Rejected.of(result.header.where, result.reason, excerpt)])
        return Parsed()


__all__ = [
    "ACCEPT",
    "BED_STATUSES",
    "BLOCKED_STATUSES",
    "ERROR",
    "MAX_MESSAGE_BYTES",
    "OCCUPIED",
    "REJECT",
    "UNOCCUPIED",
    "BedChange",
    "Header",
    "Hl7Adapter",
    "Hl7Config",
    "Hl7Event",
    "Hl7Ignored",
    "Hl7Message",
    "Hl7Rejected",
    "Hl7Result",
    "build_ack",
    "parse_message",
    "parse_ts",
    "read_header",
    "read_message",
]
