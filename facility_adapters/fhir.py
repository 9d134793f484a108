"""FHIR R4 census feed, polled over HTTPS.

Two ways to read a hospital's census from its FHIR server (``mode``):

``locations``
    ``GET {base}/Location?physical-type=bd`` (following ``Bundle.link`` ``next`` pages up to
    ``max_pages``). Each bed Location carries ``operationalStatus``, a Coding from HL7 v2
    table 0116 (O occupied, U unoccupied, C closed, H housekeeping, I isolated,
    K contaminated), and names its unit through ``partOf`` (``Location/<unit id>``); the
    unit's Location id is the source id. Per unit: staffed = beds counted, occupied = O,
    blocked = C + H + I + K (so available = U). A bed whose ``Location.status`` is
    ``inactive`` is not counted; a ``suspended`` bed that is not occupied counts as
    blocked; a bed without a usable operationalStatus counts as blocked (never offered as
    available) and is reported to the quarantine.

    ``as_of`` is the newest ``meta.lastUpdated`` among the unit's beds (``as_of_source =
    "last_updated"``, the default), else ``Bundle.timestamp`` of the first page, else
    (``fetch`` only) the HTTP ``Date`` header, else bedboard's clock. With
    ``"retrieved"`` it is ``Bundle.timestamp``, else the ``Date`` header or the clock
    (``parse`` alone: the newest ``meta.lastUpdated``). ``parse`` alone has no clock: it
    rejects a unit it cannot date.

    The cursor is the newest ``meta.lastUpdated`` seen. A census needs every bed of a
    unit, so whenever beds are read, all of them are; the cursor only lets a poll stop
    early: ``GET {base}/Location?physical-type=bd&_lastUpdated=gt<cursor>&_summary=count``
    first, and when ``total`` is 0 nothing changed and no report is made. A server that
    cannot answer that (400, 404, 405, 422, 501, or 200 without a total) gets a full read, and
    every ``full_read_every``-th poll reads in full anyway: a deleted bed, or a change
    committed with a timestamp older than the cursor, leaves no newer ``lastUpdated``.
    (The cursor stored is ``<lastUpdated>`` or ``<lastUpdated>;skipped=<n>``.)

``measure_report``
    ``GET {base}/MeasureReport?_sort=-period&_count=10`` (plus ``measure_report_params``,
    e.g. ``subject``), then the newest ``complete`` MeasureReport (by ``date``, else
    ``period.end``). Groups coded by LOINC in the NHSN bed capacity shape (US SAFR /
    SANER): 112531-9 adult psychiatric occupied, 112530-1 adult psychiatric unoccupied,
    112529-3 pediatric psychiatric occupied, 112528-5 pediatric psychiatric unoccupied. A
    group's value is its ``initial-population`` count (or its only population's count),
    else ``measureScore.value``. Source ids ``adult_psychiatric`` and
    ``pediatric_psychiatric``: staffed = occupied + unoccupied, blocked 0.

``parse(raw)`` takes one JSON document (a Bundle of Locations or MeasureReports, or one
MeasureReport) and detects which it is. HTTP (settings, client, failures) is
``facility_adapters.http``, shared with ``have`` and ``csv``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from yarl import URL

from facility_adapters.base import (
    MAX_COUNT,
    RAW_EXCERPT_CHARS,
    Adapter,
    AdapterError,
    Fetched,
    Parsed,
    Rejected,
    SourceReport,
    register,
    safe_text,
)
from facility_adapters.http import Client, HttpSourceConfig, check_http_url, shown

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def rejected(location: str, reason: str, raw: object = "") -> Rejected:
    """A quarantine entry whose every field is safe to store."""
    return Rejected.of(safe_text(location, 200), safe_text(reason, 500), safe_text(raw, 2000))


# =========================================================================== FHIR values

V2_0116 = frozenset(
    {"http://terminology.hl7.org/CodeSystem/v2-0116", "http://hl7.org/fhir/v2/0116"}
)
PHYSICAL_TYPE = frozenset(
    {
        "http://terminology.hl7.org/CodeSystem/location-physical-type",
        "http://hl7.org/fhir/location-physical-type",
    }
)
LOINC = "http://loinc.org"
MEASURE_POPULATION = frozenset({"http://terminology.hl7.org/CodeSystem/measure-population"})
BED_STATUSES = frozenset("OUCHIK")  # O occupied, U unoccupied; C, H, I, K block the bed

# LOINC code -> (source id, which count)
PSYCH_GROUPS: dict[str, tuple[str, str]] = {
    "112531-9": ("adult_psychiatric", "occupied"),
    "112530-1": ("adult_psychiatric", "unoccupied"),
    "112529-3": ("pediatric_psychiatric", "occupied"),
    "112528-5": ("pediatric_psychiatric", "unoccupied"),
}

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_LOCATION_REF = re.compile(
    r"(?:^|/)Location/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(raw: bytes) -> tuple[Any, str | None]:
    """Decode JSON strictly (UTF-8, no NaN/Infinity); (value, None) or (None, reason)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        return None, "not bytes"
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 ({exc.reason} at byte {exc.start})"
    try:
        return json.loads(text.removeprefix("\ufeff"), parse_constant=_reject_constant), None
    except RecursionError:
        return None, "JSON nested too deeply"
    except ValueError as exc:  # JSONDecodeError, huge integers, NaN
        return None, f"not JSON: {safe_text(exc, 200)}"


_INSTANT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,12})?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)


def instant(value: object) -> datetime | None:
    """A timestamp with seconds and a zone (FHIR instant, xs:dateTime with a zone) as an
    aware UTC datetime; None for anything else (dates alone, no zone, out of range)."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _INSTANT.fullmatch(text):
        return None
    whole, dot, rest = text.partition(".")
    if dot:  # Python keeps microseconds: drop digits beyond six, keep the zone
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{whole}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.astimezone(UTC) if parsed.utcoffset() is not None else None
    except (ValueError, OverflowError):
        return None


def excerpt(value: object) -> str:
    """A short JSON rendering of ``value`` for the quarantine (never raises)."""
    try:
        text = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        return ""
    return text[:RAW_EXCERPT_CHARS]


def _codings(concept: object) -> Iterator[dict[str, Any]]:
    """The Codings of a CodeableConcept (or a bare Coding)."""
    if not isinstance(concept, dict):
        return
    codings = concept.get("coding")
    if isinstance(codings, list):
        yield from (c for c in codings if isinstance(c, dict))
    elif "code" in concept:
        yield concept


def _has_code(concept: object, code: str, systems: frozenset[str] | None) -> bool:
    return any(
        c.get("code") == code
        and (systems is None or c.get("system") in systems or "system" not in c)
        for c in _codings(concept)
    )


def count_value(value: object) -> tuple[int | None, str | None]:
    """A bed count from JSON: a whole number 0..MAX_COUNT; (count, None) or (None, why)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None, f"count {excerpt(value)[:40]} is not a number"
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None, f"count {value!r} is not a whole number"
        value = int(value)
    if not 0 <= value <= MAX_COUNT:
        return None, f"count {value if abs(value) < 10**12 else '(huge)'} is outside 0..{MAX_COUNT}"
    return value, None


def _entries(doc: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    entries = doc.get("entry")
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            search = entry.get("search")
            if isinstance(search, dict) and search.get("mode") == "include":
                continue  # resources pulled in by _include are context, not results
            yield index, entry["resource"]


# =========================================================================== parsing


@dataclass
class FhirParse:
    """What a FHIR document yielded, plus what ``fetch`` needs beyond ``Parsed``."""

    parsed: Parsed = field(default_factory=Parsed)
    newest: str | None = None  # the newest meta.lastUpdated / MeasureReport.date, as sent
    fatal: str | None = None  # the document as a whole is unusable


def parse_document(
    raw: bytes,
    *,
    as_of_source: Literal["last_updated", "retrieved"] = "last_updated",
    fallback_as_of: datetime | None = None,
) -> FhirParse:
    """Pure: one FHIR JSON document to reports and rejections (never raises)."""
    doc, problem = load_json(raw)
    if problem is not None:
        return _fatal("document", problem, raw[:RAW_EXCERPT_CHARS])
    return parse_resource(doc, as_of_source=as_of_source, fallback_as_of=fallback_as_of)


def parse_resource(
    doc: object,
    *,
    as_of_source: Literal["last_updated", "retrieved"] = "last_updated",
    fallback_as_of: datetime | None = None,
) -> FhirParse:
    if not isinstance(doc, dict):
        return _fatal("document", "not a FHIR resource (a JSON object)", excerpt(doc))
    kind = doc.get("resourceType")
    if kind == "MeasureReport":
        return _parse_measure_reports([(0, doc)])
    if kind == "OperationOutcome":
        return _fatal("OperationOutcome", "the server sent an OperationOutcome", excerpt(doc))
    if kind != "Bundle":
        return _fatal("document", f"resourceType {excerpt(kind)[:60]} is not a Bundle", "")
    resources = list(_entries(doc))
    measure_reports = [(i, r) for i, r in resources if r.get("resourceType") == "MeasureReport"]
    locations = [(i, r) for i, r in resources if r.get("resourceType") == "Location"]
    result = FhirParse()
    for index, resource in resources:
        if resource.get("resourceType") == "OperationOutcome":
            issues = resource.get("issue")
            if isinstance(issues, list) and any(
                isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in issues
            ):
                result.parsed.rejected.append(
                    rejected(f"entry {index}", "the server reported an error", excerpt(resource))
                )
    if measure_reports:
        found = _parse_measure_reports(measure_reports)
        result.parsed.reports += found.parsed.reports
        result.parsed.rejected += found.parsed.rejected
        result.newest = found.newest
    if locations or not measure_reports:
        timestamp = instant(doc.get("timestamp"))
        found = _parse_locations(
            locations,
            retrieved=timestamp or fallback_as_of,
            prefer_retrieved=as_of_source == "retrieved",
        )
        result.parsed.reports += found.parsed.reports
        result.parsed.rejected += found.parsed.rejected
        result.newest = result.newest or found.newest
    return result


def _fatal(location: str, reason: str, raw: object) -> FhirParse:
    return FhirParse(parsed=Parsed(rejected=[rejected(location, reason, raw)]), fatal=reason)


@dataclass
class _Unit:
    beds: int = 0
    occupied: int = 0
    blocked: int = 0
    newest: datetime | None = None
    unknown: list[str] = field(default_factory=list)


def _parse_locations(
    resources: list[tuple[int, dict[str, Any]]],
    *,
    retrieved: datetime | None,
    prefer_retrieved: bool,
) -> FhirParse:
    result = FhirParse()
    rejects = result.parsed.rejected
    beds: dict[str, tuple[datetime | None, dict[str, Any]]] = {}
    newest_seen: tuple[datetime, str] | None = None
    non_beds = 0
    for index, resource in resources:
        if not (
            _has_code(resource.get("physicalType"), "bd", PHYSICAL_TYPE)
            or _has_code(resource.get("form"), "bd", PHYSICAL_TYPE)
        ):
            non_beds += 1
            continue
        bed_id = resource.get("id")
        if not isinstance(bed_id, str) or not _FHIR_ID.fullmatch(bed_id):
            rejects.append(
                rejected(f"entry {index}", "bed Location without a valid id", excerpt(resource))
            )
            continue
        meta = resource.get("meta")
        raw_updated = meta.get("lastUpdated") if isinstance(meta, dict) else None
        updated = instant(raw_updated)
        if updated is not None and (newest_seen is None or updated > newest_seen[0]):
            newest_seen = (updated, str(raw_updated).strip())
        kept = beds.get(bed_id)
        if kept is None or (updated is not None and (kept[0] is None or updated > kept[0])):
            beds[bed_id] = (updated, resource)
    if non_beds and not beds:
        rejects.append(
            rejected(
                "Bundle",
                f"{non_beds} Location(s) but none with physicalType 'bd' (bed); nothing to count",
            )
        )
    units: dict[str, _Unit] = {}
    for bed_id, (updated, resource) in beds.items():
        where = f"Location/{bed_id}"
        part_of = resource.get("partOf")
        reference = part_of.get("reference") if isinstance(part_of, dict) else None
        match = _LOCATION_REF.search(reference) if isinstance(reference, str) else None
        if match is None:
            rejects.append(
                rejected(
                    where, "bed without partOf Location/<unit id>: unit unknown", excerpt(resource)
                )
            )
            continue
        status = resource.get("status")
        if status == "inactive":
            continue  # no longer in use: not a staffed bed
        unit = units.setdefault(match.group(1), _Unit())
        unit.beds += 1
        if updated is not None and (unit.newest is None or updated > unit.newest):
            unit.newest = updated
        operational = resource.get("operationalStatus")
        code = operational.get("code") if isinstance(operational, dict) else None
        system = operational.get("system") if isinstance(operational, dict) else None
        known = (
            isinstance(code, str) and code in BED_STATUSES and (system is None or system in V2_0116)
        )
        if known and code == "O":
            unit.occupied += 1
        elif known and code == "U" and status != "suspended":
            pass  # available
        else:
            unit.blocked += 1
            if not known:
                unit.unknown.append(bed_id)
    for unit_id, unit in sorted(units.items()):
        where = f"Location/{unit_id}"
        if unit.unknown:
            listed = ", ".join(unit.unknown[:10]) + (" ..." if len(unit.unknown) > 10 else "")
            rejects.append(
                rejected(
                    where,
                    f"{len(unit.unknown)} bed(s) without an HL7 v2-0116 operationalStatus"
                    f" (O, U, C, H, I, K), counted as blocked: {listed}",
                )
            )
        if unit.beds > MAX_COUNT:
            rejects.append(rejected(where, f"{unit.beds} beds is more than {MAX_COUNT}"))
            continue
        as_of = (retrieved or unit.newest) if prefer_retrieved else (unit.newest or retrieved)
        if as_of is None:
            rejects.append(
                rejected(
                    where, "cannot date the census: no meta.lastUpdated and no Bundle.timestamp"
                )
            )
            continue
        result.parsed.reports.append(
            SourceReport(
                source_id=unit_id,
                as_of=as_of,
                staffed=unit.beds,
                occupied=unit.occupied,
                blocked=unit.blocked,
                location=where,
            )
        )
    result.newest = newest_seen[1] if newest_seen else None
    return result


def _report_date(resource: dict[str, Any]) -> tuple[datetime | None, str | None]:
    raw = resource.get("date")
    when = instant(raw)
    if when is not None:
        return when, str(raw).strip()
    period = resource.get("period")
    raw = period.get("end") if isinstance(period, dict) else None
    when = instant(raw)
    return (when, str(raw).strip()) if when is not None else (None, None)


def group_value(group: dict[str, Any]) -> tuple[int | None, str | None]:
    """A MeasureReport group's count: initial-population count (or the only population's),
    else measureScore.value. (None, None) when absent (e.g. a data-absent-reason)."""
    listed = group.get("population")
    populations = [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    chosen = next(
        (
            p
            for p in populations
            if _has_code(p.get("code"), "initial-population", MEASURE_POPULATION)
        ),
        None,
    )
    if chosen is None and len(populations) == 1:
        chosen = populations[0]
    if chosen is not None and "count" in chosen:
        return count_value(chosen["count"])
    score = group.get("measureScore")
    if isinstance(score, dict) and "value" in score:
        return count_value(score["value"])
    return None, None


def _parse_measure_reports(resources: list[tuple[int, dict[str, Any]]]) -> FhirParse:
    result = FhirParse()
    rejects = result.parsed.rejected
    candidates: list[tuple[datetime, str, int, dict[str, Any]]] = []
    for index, resource in resources:
        if resource.get("status") != "complete":
            continue  # pending or in error: not a census
        when, raw_when = _report_date(resource)
        if when is None or raw_when is None:
            rid = resource.get("id")
            where = f"MeasureReport/{rid}" if isinstance(rid, str) else f"entry {index}"
            rejects.append(
                rejected(where, "MeasureReport without a date (or period.end) with a time zone")
            )
            continue
        candidates.append((when, raw_when, index, resource))
    if not candidates:
        if not rejects:
            rejects.append(rejected("Bundle", "no complete MeasureReport to read"))
        return result
    when, raw_when, index, report = max(candidates, key=lambda c: (c[0], -c[2]))
    rid = report.get("id")
    where = (
        f"MeasureReport/{rid}"
        if isinstance(rid, str) and _FHIR_ID.fullmatch(rid)
        else f"entry {index}"
    )
    result.newest = raw_when
    values: dict[str, dict[str, int]] = {}
    seen: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    groups = report.get("group")
    for group in groups if isinstance(groups, list) else []:
        if not isinstance(group, dict):
            continue
        codes = {
            c.get("code")
            for c in _codings(group.get("code"))
            if c.get("system") == LOINC and isinstance(c.get("code"), str)
        }
        for code in sorted(c for c in codes if c in PSYCH_GROUPS):
            source_id, which = PSYCH_GROUPS[code]
            seen[code] = seen.get(code, 0) + 1
            value, why = group_value(group)
            if why is not None:
                problems.setdefault(source_id, []).append(f"LOINC {code}: {why}")
            elif value is not None:
                values.setdefault(source_id, {})[which] = value
    for code, times in seen.items():
        if times > 1:
            source_id = PSYCH_GROUPS[code][0]
            problems.setdefault(source_id, []).append(f"LOINC {code} appears {times} times")
    for source_id in ("adult_psychiatric", "pediatric_psychiatric"):
        if source_id in problems:
            rejects.append(rejected(f"{where} {source_id}", "; ".join(problems[source_id])))
            continue
        counts = values.get(source_id, {})
        if not counts:
            continue  # the hospital reports no such beds
        if len(counts) == 1:
            missing = "unoccupied" if "occupied" in counts else "occupied"
            rejects.append(rejected(f"{where} {source_id}", f"{missing} count missing"))
            continue
        staffed = counts["occupied"] + counts["unoccupied"]
        if staffed > MAX_COUNT:
            rejects.append(
                rejected(f"{where} {source_id}", f"{staffed} beds is more than {MAX_COUNT}")
            )
            continue
        result.parsed.reports.append(
            SourceReport(
                source_id=source_id,
                as_of=when,
                staffed=staffed,
                occupied=counts["occupied"],
                blocked=0,
                location=safe_text(f"{where} {source_id}", 200),
            )
        )
    return result


# =========================================================================== adapter

_SKIPPED = ";skipped="


# How far past the fetch time a stored cursor may be (clock skew between servers).
CURSOR_SKEW = timedelta(minutes=5)


def within_horizon(stamp: str | None, fetched_at: datetime) -> str | None:
    """``stamp`` if it may be a cursor: no later than the fetch time plus the skew. One bed
    dated in the future must not become the cursor, or every later real change (all
    older than it) would be skipped for as long as that bed exists."""
    when = instant(stamp) if stamp else None
    if when is None or when > fetched_at + CURSOR_SKEW:
        return None
    return stamp


def split_cursor(cursor: str | None) -> tuple[str | None, int]:
    """The locations cursor: the newest meta.lastUpdated seen, and how many polls in a row
    were skipped since the last full read (``<instant>;skipped=<n>``)."""
    if not cursor:
        return None, 0
    since, _, count = cursor.partition(_SKIPPED)
    if instant(since) is None:
        return None, 0
    return since, int(count) if re.fullmatch(r"[0-9]{1,5}", count) else 0


def join_cursor(since: str | None, skipped: int) -> str | None:
    if since is None:
        return None
    return since if skipped == 0 else f"{since}{_SKIPPED}{skipped}"


class FhirConfig(HttpSourceConfig):
    base_url: str = Field(
        max_length=2000, description="The FHIR server's base URL, e.g. https://ehr.example.org/fhir"
    )
    mode: Literal["locations", "measure_report"] = "locations"
    max_pages: int = Field(default=50, ge=1, le=1000, description="Bundle pages read per poll.")
    page_size: int = Field(default=200, ge=1, le=1000, description="_count asked per page.")
    use_cursor: bool = Field(
        default=True, description="Ask first whether any bed changed since the last poll."
    )
    full_read_every: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Read every bed at least every this many polls, changed or not.",
    )
    as_of_source: Literal["last_updated", "retrieved"] = "last_updated"
    measure_report_params: dict[str, str] = Field(
        default_factory=dict, description="Extra MeasureReport search parameters (e.g. subject)."
    )

    @field_validator("measure_report_params")
    @classmethod
    def _params(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > 20:
            raise ValueError("at most 20 parameters")
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-.:]{0,99}", key):
                raise ValueError(f"parameter name {key[:100]!r} is not a FHIR search parameter")
            if len(item) > 1000 or _CONTROL.search(item):
                raise ValueError(f"parameter {key} has an unusable value")
        return value

    @model_validator(mode="after")
    def _url(self) -> FhirConfig:
        checked = check_http_url(
            self.base_url, sends_credentials=self.sends_credentials, field_name="base_url"
        )
        if URL(checked).query_string:
            raise ValueError("base_url must not have a ?query")
        self.base_url = checked.rstrip("/")
        return self


FHIR_JSON = "application/fhir+json, application/json;q=0.9"


@register
class FhirAdapter(Adapter):
    kind = "fhir"
    title = "FHIR R4 (bed Locations or bed capacity MeasureReports)"
    Config = FhirConfig
    SECRET_FIELDS = frozenset({"token", "password"})
    polled = True

    config: FhirConfig

    def __init__(self, config: FhirConfig) -> None:
        super().__init__(config)
        self.config = config

    # ------------------------------------------------------------------ contract

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        return parse_document(raw).parsed

    async def check(self) -> None:
        """The server answers /metadata with a CapabilityStatement, and (with the
        credentials, since /metadata is often public) the resource this feed reads."""
        cfg = self.config
        async with cfg.client(FHIR_JSON) as client:
            result = await client.get(self._url("metadata"))
            doc, problem = load_json(result.body)
            if (
                problem is not None
                or not isinstance(doc, dict)
                or (doc.get("resourceType") != "CapabilityStatement")
            ):
                raise AdapterError(
                    f"{shown(self._url('metadata'))} did not return a CapabilityStatement:"
                    " is base_url the FHIR base?",
                    permanent=True,
                )
            if cfg.mode == "locations":
                url = self._url("Location", {"physical-type": "bd", "_count": "1"})
            else:
                url = self._url("MeasureReport", {**cfg.measure_report_params, "_count": "1"})
            result = await client.get(url)
            self._bundle(result.body, url)

    async def fetch(self, cursor: str | None) -> Fetched:
        cfg = self.config
        async with cfg.client(FHIR_JSON) as client:
            if cfg.mode == "measure_report":
                return await self._fetch_measure_reports(client, cursor)
            return await self._fetch_locations(client, cursor)

    # ------------------------------------------------------------------ helpers

    def _url(self, path: str, params: Mapping[str, str] | None = None) -> URL:
        url = URL(f"{self.config.base_url}/{path}")
        return url.with_query(dict(params)) if params else url

    def _bundle(self, body: bytes, url: URL) -> dict[str, Any]:
        doc, problem = load_json(body)
        if problem is None and not (isinstance(doc, dict) and doc.get("resourceType") == "Bundle"):
            problem = "not a FHIR Bundle"
        if problem is not None or not isinstance(doc, dict):
            text = body[:RAW_EXCERPT_CHARS].decode("utf-8", "replace")
            raise AdapterError(
                f"{shown(url)}: {problem}: {safe_text(text, 200)}",
                permanent=False,
                rejected=[rejected(shown(url), problem or "not a FHIR Bundle", text)],
            )
        return doc

    async def _changed_since(self, client: Client, cursor: str) -> int | None:
        """How many beds changed after the cursor; None when the server cannot say."""
        url = self._url(
            "Location",
            {"physical-type": "bd", "_lastUpdated": f"gt{cursor}", "_summary": "count"},
        )
        result = await client.get(url, accept_status=frozenset({200, 400, 404, 405, 422, 501}))
        if result.status != 200:
            return None
        doc, problem = load_json(result.body)
        total = doc.get("total") if problem is None and isinstance(doc, dict) else None
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            return None
        return total

    async def _fetch_locations(self, client: Client, cursor: str | None) -> Fetched:
        cfg = self.config
        since, skipped = split_cursor(cursor)
        since = within_horizon(since, datetime.now(UTC))  # a cursor stored before this rule
        if (
            since is not None
            and cfg.use_cursor
            and cfg.as_of_source == "last_updated"
            and skipped + 1 < cfg.full_read_every
            and await self._changed_since(client, since) == 0
        ):
            return Fetched(Parsed(), join_cursor(since, skipped + 1))
        first = self._url("Location", {"physical-type": "bd", "_count": str(cfg.page_size)})
        entries: list[Any] = []
        timestamp: object = None
        server_date: datetime | None = None
        url: URL | None = first
        seen: set[str] = set()
        pages = 0
        while url is not None:
            if pages >= cfg.max_pages:
                raise AdapterError(
                    f"the bed list has more than {cfg.max_pages} pages; raise max_pages"
                    " (or page_size) so every bed of every unit is counted",
                    permanent=True,
                )
            seen.add(str(url))
            result = await client.get(url)
            pages += 1
            bundle = self._bundle(result.body, url)
            if pages == 1:
                timestamp = bundle.get("timestamp")
                server_date = result.date
            page_entries = bundle.get("entry")
            if isinstance(page_entries, list):
                entries.extend(page_entries)
            url = self._next_page(bundle, url, seen)
        combined = {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": timestamp,
            "entry": entries,
        }
        found = parse_resource(
            combined,
            as_of_source=cfg.as_of_source,
            fallback_as_of=server_date or datetime.now(UTC),
        )
        newest = within_horizon(found.newest, server_date or datetime.now(UTC))
        return Fetched(found.parsed, join_cursor(newest or since, 0))

    def _next_page(self, bundle: dict[str, Any], current: URL, seen: set[str]) -> URL | None:
        links = bundle.get("link")
        for link in links if isinstance(links, list) else []:
            if not isinstance(link, dict) or link.get("relation") != "next":
                continue
            target = link.get("url")
            if not isinstance(target, str) or not target:
                return None
            try:
                url = current.join(URL(target))
            except (ValueError, TypeError):
                raise AdapterError(
                    "the server sent an unusable next-page link", permanent=False
                ) from None
            base = URL(self.config.base_url)
            if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
                raise AdapterError(
                    f"the next-page link points to {shown(url)}, not to {shown(base)};"
                    " fix the server's base URL (bedboard sends credentials only to base_url)",
                    permanent=True,
                )
            if str(url) in seen:
                raise AdapterError("the server's next-page links loop", permanent=True)
            return url
        return None

    async def _fetch_measure_reports(self, client: Client, cursor: str | None) -> Fetched:
        cfg = self.config
        params = {"_sort": "-period", "_count": "10", **cfg.measure_report_params}
        url = self._url("MeasureReport", params)
        result = await client.get(url)
        bundle = self._bundle(result.body, url)
        reports = [
            (index, resource)
            for index, resource in _entries(bundle)
            if resource.get("resourceType") == "MeasureReport"
        ]
        found = _parse_measure_reports(reports)
        newest = within_horizon(found.newest, result.date or datetime.now(UTC))
        return Fetched(found.parsed, newest or cursor)
