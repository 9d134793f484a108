"""Placement vocabularies, state tables, labels, request and view models: no I/O."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, model_validator

from bedboard.facilities import Fips, Population, SecurityLevel, Tag
from bedboard.fields import DbId, Moment
from bedboard.matching import UnitGender

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class Status(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    IN_TRANSIT = "in_transit"
    ADMITTED = "admitted"
    DISCHARGED = "discharged"
    CLOSED = "closed"


# No longer looking for a bed: admitted (and later discharged) or closed.
TERMINAL = frozenset({Status.ADMITTED, Status.DISCHARGED, Status.CLOSED})

# The predicates every list and the clock share, over ``placements p``.
UNDER_WAY_SQL = "p.status NOT IN ({})".format(", ".join(f"'{s.value}'" for s in sorted(TERMINAL)))
# Overdue: the legal deadline has passed and the placement is still under way.
OVERDUE_SQL = f"(p.deadline_at IS NOT NULL AND p.deadline_at < now() AND {UNDER_WAY_SQL})"


# What a person may ask for with POST /placements/{id}/transition, from each state.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset({Status.CLOSED}),
    Status.ACCEPTED: frozenset({Status.IN_TRANSIT, Status.CLOSED}),
    Status.IN_TRANSIT: frozenset({Status.ADMITTED, Status.CLOSED}),
    Status.ADMITTED: frozenset({Status.DISCHARGED}),
    Status.DISCHARGED: frozenset(),
    Status.CLOSED: frozenset(),
}


class Outcome(StrEnum):
    RELEASED = "released"
    WITHDRAWN = "withdrawn"
    ORDER_EXPIRED = "order_expired"
    DIVERTED_OUTPATIENT = "diverted_outpatient"
    OTHER = "other"


class Disposition(StrEnum):
    """Where a discharged person went."""

    HOME_OUTPATIENT = "home_outpatient"
    OUTPATIENT_COMMITMENT = "outpatient_commitment"
    TRANSFER = "transfer"
    LEFT_AMA = "left_ama"
    OTHER = "other"


DISPOSITION_LABELS = {
    Disposition.HOME_OUTPATIENT: "Home with outpatient follow-up",
    Disposition.OUTPATIENT_COMMITMENT: "Outpatient commitment (RSMo 632.330 / 632.355)",
    Disposition.TRANSFER: "Transfer to another facility",
    Disposition.LEFT_AMA: "Left against medical advice",
    Disposition.OTHER: "Other",
}

# A discharge time may be this far ahead of the database clock (a device's clock).
DISCHARGE_SKEW = timedelta(minutes=5)


class ReferralStatus(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    INFO_REQUESTED = "info_requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


# What a person may do to a referral, from each state. The facility acknowledges ("we are
# reviewing") or asks the liaison a question; the liaison's answer takes an
# ``info_requested`` referral back to ``acknowledged``. The clock alone moves a referral
# to ``expired``: an accepted one when its hold runs out, a pending one nobody answered
# within the program's expiry hours. An accepted referral may be ended only while its
# placement is still ``accepted``.
REFERRAL_TRANSITIONS: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.PENDING: frozenset(
        {
            ReferralStatus.ACKNOWLEDGED,
            ReferralStatus.INFO_REQUESTED,
            ReferralStatus.ACCEPTED,
            ReferralStatus.DECLINED,
            ReferralStatus.WITHDRAWN,
        }
    ),
    ReferralStatus.ACKNOWLEDGED: frozenset(
        {
            ReferralStatus.INFO_REQUESTED,
            ReferralStatus.ACCEPTED,
            ReferralStatus.DECLINED,
            ReferralStatus.WITHDRAWN,
        }
    ),
    ReferralStatus.INFO_REQUESTED: frozenset(
        {
            ReferralStatus.ACKNOWLEDGED,  # the liaison answered
            ReferralStatus.ACCEPTED,
            ReferralStatus.DECLINED,
            ReferralStatus.WITHDRAWN,
        }
    ),
    ReferralStatus.ACCEPTED: frozenset({ReferralStatus.DECLINED, ReferralStatus.WITHDRAWN}),
    ReferralStatus.DECLINED: frozenset(),
    ReferralStatus.WITHDRAWN: frozenset(),
    ReferralStatus.EXPIRED: frozenset(),
}

# Sent and not yet decided: the facility has still to accept or decline.
AWAITING = frozenset(
    {ReferralStatus.PENDING, ReferralStatus.ACKNOWLEDGED, ReferralStatus.INFO_REQUESTED}
)
# An open referral: one per unit and placement (the unique index of migration 0012).
OPEN_REFERRAL = AWAITING | {ReferralStatus.ACCEPTED}
AWAITING_SQL = "({})".format(", ".join(f"'{s.value}'" for s in sorted(AWAITING)))

# Words the pages use for a referral's state.
REFERRAL_LABELS = {
    ReferralStatus.PENDING: "Waiting for an answer",
    ReferralStatus.ACKNOWLEDGED: "Reviewing",
    ReferralStatus.INFO_REQUESTED: "Question asked",
    ReferralStatus.ACCEPTED: "Accepted",
    ReferralStatus.DECLINED: "Declined",
    ReferralStatus.WITHDRAWN: "Withdrawn",
    ReferralStatus.EXPIRED: "Expired",
}


def waited_words(since: datetime, now: datetime) -> str:
    """How long since ``since``, as a nurse would say it: "less than a minute", "1 min",
    "45 min", "1 hr", "2 hr 5 min", "1 day 3 hr". Whole minutes, rounded down."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 1:
        return "less than a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, mins = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} hr" + (f" {mins} min" if mins else "")
    days, hours = divmod(hours, 24)
    return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} hr" if hours else "")


def past_target(status: str, sent_at: datetime, target_minutes: int, now: datetime) -> bool:
    """A referral nobody at the facility has answered, past the facility's target."""
    return status == ReferralStatus.PENDING and now - sent_at >= timedelta(minutes=target_minutes)


class DeclineReason(StrEnum):
    NO_BED = "no_bed"
    ACUITY = "acuity"
    MEDICAL_COMPLEXITY = "medical_complexity"
    AGGRESSION_SAFETY = "aggression_safety"
    AGE_GENDER_MISMATCH = "age_gender_mismatch"
    PAYER = "payer"
    DEVELOPMENTAL_DISABILITY = "developmental_disability"
    SUBSTANCE_USE = "substance_use"
    LEGAL_STATUS = "legal_status"
    STAFFING = "staffing"
    OTHER = "other"


DECLINE_LABELS = {
    DeclineReason.NO_BED: "No bed",
    DeclineReason.ACUITY: "Acuity",
    DeclineReason.MEDICAL_COMPLEXITY: "Medical complexity",
    DeclineReason.AGGRESSION_SAFETY: "Aggression or safety risk",
    DeclineReason.AGE_GENDER_MISMATCH: "Age or gender mismatch",
    DeclineReason.PAYER: "Payer",
    DeclineReason.DEVELOPMENTAL_DISABILITY: "Developmental disability not served",
    DeclineReason.SUBSTANCE_USE: "Substance use not served",
    DeclineReason.LEGAL_STATUS: "Legal status not accepted",
    DeclineReason.STAFFING: "Staffing",
    DeclineReason.OTHER: "Other",
}


OUTCOME_LABELS = {
    Outcome.RELEASED: "Released",
    Outcome.WITHDRAWN: "Withdrawn",
    Outcome.ORDER_EXPIRED: "Order expired",
    Outcome.DIVERTED_OUTPATIENT: "Diverted to outpatient",
    Outcome.OTHER: "Other",
}


class PersonIn(BaseModel):
    """The person, to the minimum necessary: no names, no record numbers."""

    model_config = ConfigDict(extra="forbid")
    initials: Annotated[
        str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{1,4}$")
    ]
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age: int | None = Field(default=None, ge=0, le=130)
    sex: Literal["female", "male", "other", "unknown"]

    @model_validator(mode="after")
    def _age_or_birth_year(self) -> PersonIn:
        if self.birth_year is None and self.age is None:
            raise ValueError("give the person's age or birth year")
        return self


class NeedsIn(BaseModel):
    """What a bed must offer; the same vocabulary as bed search."""

    model_config = ConfigDict(extra="forbid")
    population: Population | None = Field(
        default=None,
        description="The age group. Unset: from the person's age (child 0-12, adolescent "
        "13-17, adult 18-64, geriatric 65+).",
    )
    gender: UnitGender | None = Field(
        default=None,
        description="Unit genders to match: male (men's or mixed units), female (women's or "
        "mixed), mixed (mixed only), any. Unset: from the person's sex (other or unknown: "
        "mixed only).",
    )
    override: StrictBool = Field(
        default=False,
        description="The liaison deliberately chose an age group or unit gender that the "
        "person's age or sex would not give (recorded on the timeline). Without it, a "
        "contradiction is a 422.",
    )
    specialties: list[Tag] = Field(default_factory=list, max_length=10)
    security_level: SecurityLevel | None = None
    involuntary: StrictBool = True
    payer: Tag | None = None


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    system: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    external_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    url: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://\S+$")
    ]


class PlacementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")]
    court_id: DbId | None = None
    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = ""
    detention_start: Moment
    county_fips: Fips
    person: PersonIn
    needs: NeedsIn
    clinical_notes: Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)] = ""
    liaison_id: DbId | None = Field(default=None, description="Default: the liaison creating it.")
    requesting_agency: Text = ""
    requesting_officer: Text = ""
    links: list[LinkIn] = Field(default_factory=list, max_length=20)


class PlacementPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_type: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,40}$")] | None = Field(
        default=None, description="A new order type; the deadline follows its rule."
    )
    court_id: DbId | None = None
    case_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = (
        None
    )
    detention_start: Moment | None = None
    county_fips: Fips | None = None
    person: PersonIn | None = None
    needs: NeedsIn | None = None
    clinical_notes: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=10000)] | None
    ) = None
    liaison_id: DbId | None = None
    requesting_agency: Text | None = None
    requesting_officer: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_only_where_allowed(cls, data: Any) -> Any:
        """Leaving a field out keeps it; ``null`` clears it, which only the court and the
        liaison may be (a placement always has a detention start, a county, a person...)."""
        if isinstance(data, dict):
            for name, value in data.items():
                if value is None and name not in ("court_id", "liaison_id"):
                    raise ValueError(f"{name} cannot be null; leave it out to keep it")
        return data


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: Literal["in_transit", "admitted", "discharged", "closed"]
    outcome: Outcome | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        default="",
        description="Clinical text. Closing: the outcome note; discharging: the discharge "
        "note; otherwise a follow-up note.",
    )
    disposition: Disposition | None = Field(
        default=None, description="Discharging only (and required): where the person went."
    )
    discharged_at: Moment | None = Field(
        default=None,
        description="Discharging only: when (default now); not before the admission, not "
        "in the future.",
    )

    @model_validator(mode="after")
    def _outcome_only_when_closing(self) -> TransitionIn:
        if self.to == "closed" and self.outcome is None:
            raise ValueError("closing needs an outcome")
        if self.to != "closed" and self.outcome is not None:
            raise ValueError("only closing takes an outcome")
        if self.to == "discharged" and self.disposition is None:
            raise ValueError("discharging needs a disposition")
        if self.to != "discharged" and (
            self.disposition is not None or self.discharged_at is not None
        ):
            raise ValueError("only discharging takes a disposition and a discharge time")
        return self


class ReferralsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_ids: list[DbId] = Field(min_length=1, max_length=20)


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: DeclineReason
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""


class QuestionIn(BaseModel):
    """A facility's question about a referral: clinical free text (the notes' rules)."""

    model_config = ConfigDict(extra="forbid")
    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
    ]


class AnswerIn(BaseModel):
    """The liaison's answer to the referral's open question: clinical free text."""

    model_config = ConfigDict(extra="forbid")
    answer: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]


class OrderTypePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    deadline_hours: int | None = Field(ge=1, le=24 * 400, description="null: no legal clock.")


class OrderType(BaseModel):
    code: str
    label: str
    statute: str
    deadline_hours: int | None
    court_ordered: bool = Field(description="A court's order: units must take court-ordered.")
    court_required: bool = Field(description="The court must be named when it is recorded.")


class OrderTypeList(BaseModel):
    items: list[OrderType]


class Person(BaseModel):
    initials: str
    birth_year: int | None
    age: int | None
    sex: str


class Needs(BaseModel):
    population: Population
    gender: UnitGender
    population_override: bool = Field(description="The age group was chosen against the age.")
    gender_override: bool = Field(description="The unit gender was chosen against the sex.")
    specialties: list[str]
    security_level: SecurityLevel | None
    involuntary: bool
    payer: str | None


class ReferralQuestion(BaseModel):
    id: int
    question: str
    asked_at: datetime
    answer: str | None
    answered_at: datetime | None


class Referral(BaseModel):
    id: int
    placement_id: int
    unit_id: int
    unit_name: str
    facility_id: int
    facility_name: str
    status: ReferralStatus
    decline_reason: DeclineReason | None
    decline_note: str
    hold_active: bool
    hold_expires_at: datetime | None
    created_at: datetime
    responded_at: datetime | None
    acknowledged_at: datetime | None = None
    info_requested_at: datetime | None = None
    info_answered_at: datetime | None = None
    first_response_at: datetime | None = Field(
        default=None,
        description="The facility's first answer of any kind (acknowledged, a question, "
        "accepted or declined).",
    )
    unanswered_expired_at: datetime | None = Field(
        default=None, description="Expired by the clock: nobody at the facility answered."
    )
    response_target_minutes: int = Field(
        default=30, description="The receiving facility's response target."
    )
    questions: list[ReferralQuestion] = Field(
        default_factory=list, description="The facility's questions and the liaison's answers."
    )


class Link(BaseModel):
    id: int
    system: str
    external_id: str
    url: str
    created_at: datetime


class Note(BaseModel):
    id: int
    body: str
    author: str
    created_at: datetime


class Event(BaseModel):
    id: int
    at: datetime
    actor: str
    kind: str
    from_state: str | None
    to_state: str | None
    data: dict[str, Any]


class Placement(BaseModel):
    """The whole record: for liaisons and administrators."""

    id: int
    reference: str
    order_type: str
    order_label: str
    statute: str
    court_ordered: bool
    court_required: bool
    court_id: int | None
    court_name: str | None
    case_number: str
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    county_fips: str
    county_name: str
    person: Person
    needs: Needs
    clinical_notes: str
    liaison_id: int | None
    liaison_email: str | None
    requesting_agency: str
    requesting_officer: str
    status: Status
    outcome: Outcome | None
    outcome_note: str
    accepted_facility_name: str | None
    accepted_unit_name: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    admitted_at: datetime | None
    closed_at: datetime | None
    discharged_at: datetime | None = None
    discharge_disposition: Disposition | None = None
    discharge_note: str = Field(default="", description="Clinical text: liaisons only.")
    alerts: list[str]
    allowed_transitions: list[Status]
    referrals: list[Referral]
    links: list[Link]
    notes: list[Note]
    version: int


class FacilityPlacement(BaseModel):
    """What a receiving facility needs to decide on a referral (and nothing else)."""

    id: int
    reference: str
    order_label: str
    statute: str
    court_ordered: bool
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    county_name: str
    person: Person
    needs: Needs
    clinical_notes: str
    status: Status
    referrals: list[Referral]
    liaison_name: str = Field(description="Who referred, to call back.")
    liaison_phone: str = Field(description="The referring liaison's call-back number.")


class TimelineEntry(BaseModel):
    at: datetime
    status: Status


class CourtPlacement(BaseModel):
    """The court's view: status and where, never needs, notes or decline reasons."""

    reference: str
    case_number: str
    court_name: str
    order_label: str
    status: Status
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    facility_name: str | None
    timeline: list[TimelineEntry]


class PlacementSummary(BaseModel):
    id: int
    reference: str
    order_label: str
    court_name: str | None
    case_number: str
    county_name: str
    person_initials: str
    population: Population
    status: Status
    detention_start: datetime
    deadline_at: datetime | None
    overdue: bool
    liaison_id: int | None
    accepted_facility_name: str | None
    pending_referrals: int
    declined_referrals: int
    unanswered_since: datetime | None = Field(
        default=None,
        description="When the oldest referral still unanswered past its facility's response "
        "target was sent.",
    )
    custody_started_at: datetime | None = Field(
        default=None, description="When an officer took the person into custody."
    )
    custody_ended_at: datetime | None = Field(
        default=None, description="When the officer was released (null while on scene)."
    )


class PlacementList(BaseModel):
    items: list[PlacementSummary]


class FacilityPlacementList(BaseModel):
    items: list[FacilityPlacement]


class CourtPlacementList(BaseModel):
    items: list[CourtPlacement]


class Timeline(BaseModel):
    placement_id: int
    items: list[Event]
