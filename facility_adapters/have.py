"""OASIS EDXL-HAVE 1.0 census feed: a polled XML document (URL or local file).

The document is ``HospitalStatus`` with one or more ``Hospital`` elements (it may arrive
inside an EDXL-DE envelope; the ``HospitalStatus`` is found wherever it is). For the chosen
hospital, each ``HospitalBedCapacityStatus/BedCapacity`` whose ``BedType`` is
``AdultPsychiatric`` or ``PediatricPsychiatric`` becomes one report, source id = the
BedType, ``available`` = ``Capacity/AvailableCount`` (``CapacityStatus`` ``NotAvailable``
means 0 available). Other bed types are ignored. ``as_of`` is the hospital's
``LastUpdateTime`` (a ``LastUpdateTime`` inside ``HospitalBedCapacityStatus``, where a
sender puts one, wins); it must carry a time zone.

Elements are matched in the HAVE namespace ``urn:oasis:names:tc:emergency:EDXL:HAVE:1.0``
or in no namespace, whatever the prefix. The XML is parsed with defusedxml: entity
declarations and external references are refused (a rejection, never an expansion).

Several hospitals in one document: ``hospital_id`` picks one, matched against the
hospital's ``OrganizationID`` element or the CIQ identifiers inside
``OrganizationInformation`` (``xnl:OrganisationName/@xnl:ID``, ``Identifier`` text).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml  # type: ignore[import-untyped]
import defusedxml.ElementTree as SafeET  # type: ignore[import-untyped]
from pydantic import Field, model_validator
from yarl import URL

from facility_adapters.base import (
    MAX_COUNT,
    RAW_EXCERPT_CHARS,
    Adapter,
    AdapterError,
    Fetched,
    Parsed,
    SourceReport,
    register,
    safe_text,
)
from facility_adapters.fhir import instant, rejected
from facility_adapters.http import HttpSourceConfig, check_http_url

HAVE_NS = "urn:oasis:names:tc:emergency:EDXL:HAVE:1.0"
PSYCH_BED_TYPES = ("AdultPsychiatric", "PediatricPsychiatric")
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
XML_ACCEPT = "application/xml, text/xml;q=0.9, */*;q=0.1"


# =========================================================================== XML helpers


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rpartition("}")[2] if tag.startswith("{") else tag


def _is(element: Element, name: str) -> bool:
    """Is ``element`` the HAVE element ``name`` (in the HAVE namespace or in none)?"""
    tag = element.tag
    return isinstance(tag, str) and tag in (name, f"{{{HAVE_NS}}}{name}")


def _children(element: Element, name: str) -> list[Element]:
    return [child for child in element if _is(child, name)]


def _child(element: Element, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip()


def _xml_excerpt(element: Element) -> str:
    try:
        return tostring(element, encoding="unicode")[:RAW_EXCERPT_CHARS]
    except (ValueError, TypeError, RecursionError):
        return ""


def _hospital_ids(hospital: Element) -> list[str]:
    """Identifiers a hospital goes by: OrganizationID elements anywhere in its organization
    information, CIQ Identifier texts, and the ID attribute of its OrganisationName."""
    ids: list[str] = []
    scopes = [hospital, *_children(hospital, "Organization")]
    for scope in scopes:
        for info in _children(scope, "OrganizationInformation"):
            for element in info.iter():
                name = _local(element.tag)
                if name in ("OrganizationID", "OrganisationID", "Identifier", "IdentifierElement"):
                    text = _text(element)
                    if text:
                        ids.append(text)
                if name in ("OrganisationName", "OrganizationName"):
                    ids += [v.strip() for k, v in element.attrib.items() if _local(k) == "ID"]
        ids += [t for t in (_text(e) for e in _children(scope, "OrganizationID")) if t]
    return ids


def _hospitals(root: Element) -> list[Element]:
    if _is(root, "Hospital"):
        return [root]
    statuses = [e for e in root.iter() if _is(e, "HospitalStatus")]
    return [hospital for status in statuses for hospital in _children(status, "Hospital")]


def count_text(text: str | None) -> tuple[int | None, str | None]:
    """An xs:integer bed count 0..MAX_COUNT; (count, None) or (None, why)."""
    if text is None or text == "":
        return None, "AvailableCount missing"
    if not _INTEGER.fullmatch(text):
        return None, f"AvailableCount {safe_text(text, 40)!r} is not an integer"
    value = int(text)
    if not 0 <= value <= MAX_COUNT:
        return None, f"AvailableCount {value} is outside 0..{MAX_COUNT}"
    return value, None


# =========================================================================== parsing


@dataclass
class HaveParse:
    parsed: Parsed = field(default_factory=Parsed)
    last_update: str | None = None  # the hospital's LastUpdateTime, as sent
    fatal: str | None = None  # the document as a whole is unusable
    permanent: bool = False  # ... and only new settings can fix that


def _fatal(location: str, reason: str, *, permanent: bool = False) -> HaveParse:
    # No raw excerpt: a document that is not HAVE may be something that must not be shown.
    return HaveParse(
        parsed=Parsed(rejected=[rejected(location, reason)]), fatal=reason, permanent=permanent
    )


def parse_document(raw: bytes, hospital_id: str | None = None) -> HaveParse:
    """Pure: one HAVE document to reports and rejections (never raises)."""
    try:
        root = SafeET.fromstring(bytes(raw))
    except defusedxml.DefusedXmlException as exc:
        return _fatal(
            "document",
            f"refused: {type(exc).__name__} (entities and external references are not accepted)",
        )
    except ParseError as exc:
        return _fatal("document", f"not well-formed XML: {safe_text(exc, 200)}")
    except (ValueError, TypeError, RecursionError, MemoryError) as exc:
        return _fatal("document", f"unreadable XML: {type(exc).__name__}")
    try:
        return _parse_root(root, hospital_id)
    except RecursionError:
        return _fatal("document", "XML nested too deeply")


def _parse_root(root: Element, hospital_id: str | None) -> HaveParse:
    hospitals = _hospitals(root)
    if not hospitals:
        return _fatal(
            "document",
            f"no HAVE HospitalStatus/Hospital found (root element {safe_text(_local(root.tag), 80)!r})",
        )
    if hospital_id is not None:
        wanted = hospital_id.strip()
        chosen = [h for h in hospitals if wanted in _hospital_ids(h)]
        if not chosen:
            known = sorted({i for h in hospitals for i in _hospital_ids(h)})[:10]
            return _fatal(
                "document",
                f"no Hospital with id {safe_text(wanted, 100)!r} (ids here: {safe_text(known, 300)})",
                permanent=True,
            )
        if len(chosen) > 1:
            return _fatal(
                "document", f"{len(chosen)} Hospitals share id {safe_text(wanted, 100)!r}"
            )
        hospital = chosen[0]
    elif len(hospitals) > 1:
        return _fatal(
            "document",
            f"{len(hospitals)} Hospitals in the document: set hospital_id to pick one",
            permanent=True,
        )
    else:
        hospital = hospitals[0]
    return _parse_hospital(hospital)


def _parse_hospital(hospital: Element) -> HaveParse:
    result = HaveParse()
    rejects = result.parsed.rejected
    statuses = _children(hospital, "HospitalBedCapacityStatus")
    stamp = next(
        (e for s in statuses for e in _children(s, "LastUpdateTime")),
        _child(hospital, "LastUpdateTime"),
    )
    raw_stamp = _text(stamp)
    as_of = instant(raw_stamp)
    capacities = [c for s in statuses for c in _children(s, "BedCapacity")]
    by_type: dict[str, list[Element]] = {}
    for capacity in capacities:
        types = {t for t in (_text(e) for e in _children(capacity, "BedType")) if t}
        if len(types) > 1 and types & set(PSYCH_BED_TYPES):
            rejects.append(
                rejected(
                    "BedCapacity", "several BedTypes in one BedCapacity", _xml_excerpt(capacity)
                )
            )
            continue
        for bed_type in types & set(PSYCH_BED_TYPES):
            by_type.setdefault(bed_type, []).append(capacity)
    if by_type and as_of is None:
        reason = (
            "LastUpdateTime missing"
            if not raw_stamp
            else f"LastUpdateTime {safe_text(raw_stamp, 60)!r} is not a date-time with a time zone"
        )
        for bed_type in by_type:
            rejects.append(rejected(f"BedCapacity {bed_type}", reason))
        return result
    result.last_update = raw_stamp if as_of is not None else None
    for bed_type in PSYCH_BED_TYPES:
        found = by_type.get(bed_type, [])
        where = f"BedCapacity {bed_type}"
        if len(found) > 1:
            rejects.append(
                rejected(
                    where, f"BedType {bed_type} appears {len(found)} times", _xml_excerpt(found[0])
                )
            )
            continue
        if not found or as_of is None:
            continue
        available, why = _available(found[0])
        if why is not None or available is None:
            rejects.append(rejected(where, why or "no count", _xml_excerpt(found[0])))
            continue
        result.parsed.reports.append(
            SourceReport(source_id=bed_type, as_of=as_of, available=available, location=where)
        )
    return result


def _available(capacity_element: Element) -> tuple[int | None, str | None]:
    capacity = _child(capacity_element, "Capacity")
    if capacity is None:
        return None, "Capacity missing"
    status = re.sub(r"[^a-z]", "", (_text(_child(capacity, "CapacityStatus")) or "").lower())
    if status == "notavailable":
        return 0, None
    if status not in ("", "vacantavailable"):
        raw = _text(_child(capacity, "CapacityStatus"))
        return (
            None,
            f"CapacityStatus {safe_text(raw, 40)!r} is not Vacant/Available or NotAvailable",
        )
    return count_text(_text(_child(capacity, "AvailableCount")))


# =========================================================================== adapter


class HaveConfig(HttpSourceConfig):
    url: str | None = Field(
        default=None, max_length=2000, description="http(s) URL of the document."
    )
    path: str | None = Field(
        default=None,
        max_length=1000,
        description="Or an absolute path to a .xml file on the server.",
    )
    hospital_id: str | None = Field(
        default=None, max_length=200, description="Which Hospital, when the document has several."
    )

    @model_validator(mode="after")
    def _source(self) -> HaveConfig:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either url or path")
        if self.url is not None:
            self.url = check_http_url(
                self.url, sends_credentials=self.sends_credentials, field_name="url"
            )
        if self.path is not None:
            path = self.path.strip()
            if "\x00" in path or not os.path.isabs(path) or not path.lower().endswith(".xml"):
                raise ValueError("path must be an absolute path to a .xml file")
            if self.sends_credentials:
                raise ValueError("auth applies to url only")
            self.path = os.path.normpath(path)
        if self.hospital_id is not None:
            self.hospital_id = self.hospital_id.strip() or None
        return self


def _read_file(path: str, max_bytes: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise AdapterError(f"{path}: no such file (yet)", permanent=False) from None
    except (PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        raise AdapterError(
            f"{path}: {exc.strerror or type(exc).__name__}", permanent=True
        ) from None
    except OSError as exc:
        raise AdapterError(
            f"{path}: {exc.strerror or type(exc).__name__}", permanent=False
        ) from None
    if len(data) > max_bytes:
        raise AdapterError(f"{path} is larger than {max_bytes} bytes", permanent=True)
    return data


@register
class HaveAdapter(Adapter):
    kind = "have"
    title = "EDXL-HAVE 1.0 document (URL or file)"
    Config = HaveConfig
    SECRET_FIELDS = frozenset({"token", "password"})
    polled = True

    config: HaveConfig

    def __init__(self, config: HaveConfig) -> None:
        super().__init__(config)
        self.config = config

    @classmethod
    def parse(cls, raw: bytes) -> Parsed:
        return parse_document(raw).parsed

    async def _read(self) -> bytes:
        cfg = self.config
        if cfg.path is not None:
            path = str(self.local_path(cfg.path))
            return await asyncio.to_thread(_read_file, path, cfg.max_bytes)
        assert cfg.url is not None
        async with cfg.client(XML_ACCEPT) as client:
            result = await client.get(URL(cfg.url))
        return result.body

    def _parse(self, raw: bytes) -> HaveParse:
        found = parse_document(raw, self.config.hospital_id)
        if found.fatal is not None:
            source = self.config.path or safe_text(URL(self.config.url or "").with_query(None), 300)
            raise AdapterError(
                f"{source}: {found.fatal}",
                permanent=found.permanent,
                rejected=found.parsed.rejected,
            )
        return found

    async def check(self) -> None:
        """The document can be read (with the credentials) and holds the hospital."""
        self._parse(await self._read())

    async def fetch(self, cursor: str | None) -> Fetched:
        found = self._parse(await self._read())
        return Fetched(found.parsed, found.last_update or cursor)
