"""How pages name the vocabularies: "Co-occurring substance use", not "co_occurring ..."."""

from __future__ import annotations

from collections.abc import Iterable

SPECIALTY = {
    "co_occurring_substance_use": "Co-occurring substance use",
    "developmental_disability": "Developmental disability",
    "eating_disorder": "Eating disorder",
    "forensic": "Forensic",
    "medical_psychiatric": "Medical-psychiatric",
    "dementia": "Dementia",
    "trauma": "Trauma",
    "autism_spectrum": "Autism spectrum",
}
PAYER = {
    "medicaid": "Medicaid",
    "medicare": "Medicare",
    "commercial": "Commercial insurance",
    "tricare": "TRICARE",
    "uninsured": "Uninsured",
    "county_funded": "County-funded",
}
SECURITY = {
    "open": "Open unit",
    "standard": "Standard security",
    "secure": "Secure unit",
    "forensic": "Forensic security",
}
POPULATION = {
    "child": "Child (0-12)",
    "adolescent": "Adolescent (13-17)",
    "adult": "Adult (18-64)",
    "geriatric": "Geriatric (65+)",
}
UNIT_GENDER = {
    "male": "Men's or mixed units",
    "female": "Women's or mixed units",
    "mixed": "Mixed units only",
    "any": "Any unit, whatever its gender",
}
# A unit's own gender (units.gender).
UNIT_SERVES = {"male": "Men only", "female": "Women only", "any": "Mixed"}
SEX = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}
STATUS = {
    "open": "Open",
    "accepted": "Bed accepted",
    "in_transit": "In transit",
    "admitted": "Admitted",
    "discharged": "Discharged",
    "closed": "Closed",
}

VOCABULARIES: dict[str, dict[str, str]] = {
    "specialty": SPECIALTY,
    "payer": PAYER,
    "security": SECURITY,
    "population": POPULATION,
    "unit_gender": UNIT_GENDER,
    "unit_serves": UNIT_SERVES,
    "sex": SEX,
    "status": STATUS,
}


def label(value: object, vocabulary: str) -> str:
    """The page's name for ``value``; an unknown tag reads as words."""
    text = str(getattr(value, "value", value) or "")
    known = VOCABULARIES[vocabulary].get(text)
    if known is not None:
        return known
    words = text.replace("_", " ")
    return words[:1].upper() + words[1:]


def choices(values: Iterable[str], vocabulary: str) -> list[tuple[str, str]]:
    return [(v, label(v, vocabulary)) for v in values]


def county(name: str) -> str:
    """``Greene County``, but ``St. Louis City`` (an independent city, not a county)."""
    return name if name.endswith("City") else f"{name} County"


def hours(value: float) -> str:
    """``4 hours``, ``1.5 hours``, ``1 hour``."""
    text = f"{value:g}"
    return f"{text} hour" if text == "1" else f"{text} hours"
