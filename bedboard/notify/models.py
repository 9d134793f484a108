"""What a notification is, with no I/O: the events, the channels, the message (never
clinical or personal text) and the recipient of one delivery."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from bedboard.auth import Role


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    IN_APP = "in_app"


# Channels a person chooses for themselves; webhooks are endpoints administrators add.
USER_CHANNELS = (Channel.IN_APP, Channel.EMAIL)


class Event(StrEnum):
    REFERRAL_ARRIVED = "referral_arrived"
    REFERRAL_ANSWERED = "referral_answered"  # accepted, declined or a question asked
    HOLD_EXPIRING = "hold_expiring"  # a warning before a bed hold runs out
    HOLD_EXPIRED = "hold_expired"  # a bed hold ran out and the bed was released
    DEADLINE_APPROACHING = "deadline_approaching"
    DEADLINE_PASSED = "deadline_passed"
    ESCALATION = "escalation"  # a rung of the escalation ladder, to acknowledge
    REFERRAL_UNANSWERED = "referral_unanswered"  # past the facility's response target
    CENSUS_NUDGE = "census_nudge"  # the facility's numbers are late: a one-time link
    COURT_UPDATE = "court_update"  # to the court clerk's address: accepted, admitted, …
    FOLLOW_UP_DUE = "follow_up_due"  # a liaison's follow-up task on a placement is due
    REFERRAL_MESSAGE = "referral_message"  # a message on a referral's thread, to the other side


@dataclass(frozen=True)
class EventInfo:
    label: str
    # Roles that may subscribe to the event (administrators may subscribe to every event).
    roles: frozenset[Role]
    # The channels a role gets when the user has not chosen.
    defaults: dict[Role, tuple[Channel, ...]]
    # Critical events reach people during their quiet hours and repeat their sound.
    critical: bool


# A supervisor may be a placement's liaison too (one they recorded, or were assigned):
# the liaison's events reach them for those placements, with a liaison's defaults.
_LIAISON = frozenset({Role.LIAISON, Role.SUPERVISOR, Role.ADMIN})

EVENTS: dict[Event, EventInfo] = {
    Event.REFERRAL_ARRIVED: EventInfo(
        "A referral arrived for your facility",
        frozenset({Role.FACILITY, Role.ADMIN}),
        {Role.FACILITY: (Channel.EMAIL,)},
        critical=False,
    ),
    Event.REFERRAL_ANSWERED: EventInfo(
        "A facility answered your referral (accepted, declined or asked a question)",
        _LIAISON,
        {Role.LIAISON: (Channel.IN_APP,), Role.SUPERVISOR: (Channel.IN_APP,)},
        critical=False,
    ),
    Event.HOLD_EXPIRING: EventInfo(
        "A held bed is about to be released",
        _LIAISON,
        {Role.LIAISON: (Channel.IN_APP,), Role.SUPERVISOR: (Channel.IN_APP,)},
        critical=False,
    ),
    Event.HOLD_EXPIRED: EventInfo(
        "A held bed was released",
        _LIAISON,
        {Role.LIAISON: (Channel.IN_APP,)},
        critical=False,
    ),
    Event.DEADLINE_APPROACHING: EventInfo(
        "A legal deadline is approaching",
        _LIAISON,
        {
            Role.LIAISON: (Channel.IN_APP, Channel.EMAIL),
            Role.SUPERVISOR: (Channel.IN_APP, Channel.EMAIL),
        },
        critical=True,
    ),
    Event.DEADLINE_PASSED: EventInfo(
        "A legal deadline passed before admission",
        _LIAISON,
        {
            Role.LIAISON: (Channel.IN_APP, Channel.EMAIL),
            Role.SUPERVISOR: (Channel.IN_APP, Channel.EMAIL),
        },
        critical=True,
    ),
    Event.ESCALATION: EventInfo(
        "An escalation before a legal deadline needs acknowledging",
        frozenset({Role.LIAISON, Role.SUPERVISOR, Role.ADMIN, Role.COURT}),
        {
            Role.LIAISON: (Channel.IN_APP, Channel.EMAIL),
            Role.SUPERVISOR: (Channel.IN_APP, Channel.EMAIL),
            Role.ADMIN: (Channel.IN_APP, Channel.EMAIL),
            Role.COURT: (Channel.EMAIL,),
        },
        critical=True,
    ),
    Event.REFERRAL_UNANSWERED: EventInfo(
        "A referral to your facility is still waiting for an answer",
        frozenset({Role.FACILITY, Role.ADMIN}),
        {Role.FACILITY: (Channel.IN_APP, Channel.EMAIL)},
        critical=False,
    ),
    Event.CENSUS_NUDGE: EventInfo(
        "Your facility's bed numbers are late",
        frozenset({Role.FACILITY, Role.ADMIN}),
        {Role.FACILITY: (Channel.EMAIL,)},
        critical=False,
    ),
    # No person subscribes: it goes to the court's clerk address (courts.clerk_email) and to
    # the webhooks that list it.
    Event.COURT_UPDATE: EventInfo(
        "A placement of your court changed status",
        frozenset(),
        {},
        critical=False,
    ),
    # To the task's assignee (a liaison, or an administrator given the task).
    Event.FOLLOW_UP_DUE: EventInfo(
        "A follow-up task is due",
        _LIAISON,
        {
            Role.LIAISON: (Channel.IN_APP, Channel.EMAIL),
            Role.ADMIN: (Channel.IN_APP, Channel.EMAIL),
        },
        critical=False,
    ),
    # To the other side of a referral's thread: the placement's liaison when the facility
    # wrote; the facility's users and intake address when a liaison did.
    Event.REFERRAL_MESSAGE: EventInfo(
        "A new message on a referral's thread",
        _LIAISON | {Role.FACILITY},
        {
            Role.LIAISON: (Channel.IN_APP,),
            Role.SUPERVISOR: (Channel.IN_APP,),
            Role.FACILITY: (Channel.IN_APP, Channel.EMAIL),
        },
        critical=False,
    ),
}


def events_for(role: Role) -> list[Event]:
    """The events a user of this role may subscribe to, in display order."""
    return [e for e in Event if role in EVENTS[e].roles]


def default_channels(event: Event, role: Role) -> tuple[Channel, ...]:
    return EVENTS[event].defaults.get(role, ())


REFERENCE = re.compile(r"^PL-[0-9]{4}-[0-9]{6}$")
# A message is built from these fields only; the pattern keeps a stray free-text value
# (a clinical note, initials) from ever reaching a subject line.
_NAME = r"^[^\r\n]{0,200}$"


class Message(BaseModel):
    """What every channel sends: a reference, a status, facility and unit names, a
    deadline and a link to sign in. Never clinical or personal text (no initials, ages,
    notes): build messages with the functions below, which take only these fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Event
    subject: str = Field(pattern=_NAME)
    body: str = Field(max_length=2000)
    link_path: str = Field(pattern=r"^/[A-Za-z0-9/_\-?=&.]*$")
    # The placement's reference; empty for a message about a facility (a census nudge).
    reference: str = Field(default="", pattern=r"^(PL-[0-9]{4}-[0-9]{6})?$")
    status: str = Field(pattern=r"^[a-z_]{1,40}$")
    facility: str = Field(default="", pattern=_NAME)
    unit: str = Field(default="", pattern=_NAME)
    deadline_at: datetime | None = None
    # The link opens without signing in (a one-time census link); otherwise it goes
    # through the sign-in page.
    direct_link: bool = False


def _deadline_line(deadline: datetime | None, shown: str) -> str:
    return f"Legal deadline: {shown}\n" if deadline is not None else ""


def referral_arrived(
    *,
    reference: str,
    facility: str,
    unit: str,
    deadline_at: datetime | None,
    deadline_shown: str = "",
) -> Message:
    """Referral sent → the receiving facility. ``deadline_shown`` is the deadline as
    people read it (local time)."""
    return Message(
        event=Event.REFERRAL_ARRIVED,
        subject=f"New referral {reference} for {unit}",
        body=(
            f"A placement referral {reference} arrived for {facility}, {unit}.\n"
            f"{_deadline_line(deadline_at, deadline_shown)}"
            "Sign in to bedboard to review it and answer."
        ),
        link_path="/referrals",
        reference=reference,
        status="pending",
        facility=facility,
        unit=unit,
        deadline_at=deadline_at,
    )


ANSWER_WORDS = {
    "accepted": "accepted",
    "declined": "declined",
    "info_requested": "asked a question about",
}


def referral_answered(
    *,
    reference: str,
    placement_id: int,
    status: str,
    facility: str,
    unit: str,
    deadline_at: datetime | None,
    deadline_shown: str = "",
) -> Message:
    """Referral accepted, declined or questioned → the placement's liaison."""
    word = ANSWER_WORDS[status]
    return Message(
        event=Event.REFERRAL_ANSWERED,
        subject=f"{facility} {word} referral {reference}",
        body=(
            f"{facility}, {unit} {word} the referral of placement {reference}.\n"
            f"{_deadline_line(deadline_at, deadline_shown)}"
            "Sign in to bedboard to see the placement."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status=status,
        facility=facility,
        unit=unit,
        deadline_at=deadline_at,
    )


@dataclass(frozen=True)
class Recipient:
    """One destination of one delivery: a user (in-app or their email), a facility
    contact (email) or a webhook endpoint. ``quiet_until`` is when the user's quiet hours
    end, if they are in them now (critical events do not wait)."""

    channel: Channel
    address: str = ""
    user_id: int | None = None
    contact_id: int | None = None
    endpoint_id: int | None = None
    quiet_until: datetime | None = None

    @property
    def who(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.contact_id is not None:
            return f"contact:{self.contact_id}"
        if self.endpoint_id is not None:
            return f"endpoint:{self.endpoint_id}"
        return f"address:{self.address}"  # a configured address (the state's on-call)


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class Delivery(BaseModel):
    """A delivery as administrators see it (the message, never more)."""

    id: int
    event: Event
    channel: Channel
    recipient: str  # user:12, contact:3, endpoint:5
    address: str
    reference: str
    subject: str
    critical: bool
    status: Status
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class Alert(BaseModel):
    """An in-app alert a user has not acknowledged yet (the banner)."""

    id: int
    event: Event
    subject: str
    link_path: str
    reference: str
    critical: bool
    created_at: datetime


class Preferences(BaseModel):
    """A user's choices: channels per event, quiet hours (local time, ``HH:MM``)."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[Event, list[Channel]]
    quiet_start: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    quiet_end: str | None = Field(default=None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


AUDIENCE_WORDS = {
    "supervisor": "the region's supervisor",
    "liaison": "the liaison",
    "state_on_call": "the state's on-call",
    "state_hospital": "the state hospital's intake",
    "court": "the court clerk",
}


def escalation_raised(
    *,
    reference: str,
    placement_id: int,
    position: int,
    audiences: list[str],
    deadline_at: datetime | None,
    deadline_shown: str,
    ack_by_shown: str,
    passed_on: bool,
    offer_wider_search: bool,
) -> Message:
    """A rung of the escalation ladder → its audiences: acknowledge on the placement page."""
    who = ", ".join(AUDIENCE_WORDS.get(a, a) for a in audiences)
    wider = (
        "Refer to every unit that fits, or search a wider radius.\n" if offer_wider_search else ""
    )
    again = " (the previous step was not acknowledged)" if passed_on else ""
    return Message(
        event=Event.ESCALATION,
        subject=f"Escalation {position} for {reference}: no bed yet{again}",
        body=(
            f"Placement {reference} has no admission yet and needs {who}.{again}\n"
            f"{_deadline_line(deadline_at, deadline_shown)}{wider}"
            f"Acknowledge by {ack_by_shown} on the placement page, or it goes to the next step."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status="escalated",
        deadline_at=deadline_at,
    )


def referral_unanswered(
    *, reference: str, facility: str, unit: str, waited_minutes: int
) -> Message:
    """A pending referral past the facility's response target → its intake."""
    return Message(
        event=Event.REFERRAL_UNANSWERED,
        subject=f"Referral {reference} for {unit} waiting {waited_minutes} min",
        body=(
            f"The referral {reference} to {facility}, {unit} has had no answer for "
            f"{waited_minutes} minutes. Sign in to bedboard to say you are reviewing it, "
            "ask a question, accept or decline."
        ),
        link_path="/referrals",
        reference=reference,
        status="pending",
        facility=facility,
        unit=unit,
    )


def census_nudge(*, facility: str, link_path: str, expires_shown: str, attempt: int) -> Message:
    """A facility's numbers are late → its census contacts, with a one-time form link."""
    return Message(
        event=Event.CENSUS_NUDGE,
        subject=f"{facility}: your bed numbers are late"
        + (f" (reminder {attempt})" if attempt > 1 else ""),
        body=(
            f"Liaisons looking for a bed cannot trust {facility}'s numbers: they are late.\n"
            f"Report the numbers in 15 seconds with the link below, no password needed. It works "
            f"once, until {expires_shown}."
        ),
        link_path=link_path,
        status="late",
        facility=facility,
        direct_link=True,
    )


def census_late(*, facility: str, attempt: int) -> Message:
    """A facility's numbers are late → its webhooks (a system, not a person): the census
    form through the sign-in page, not the one-time link."""
    return Message(
        event=Event.CENSUS_NUDGE,
        subject=f"{facility}: your bed numbers are late"
        + (f" (reminder {attempt})" if attempt > 1 else ""),
        body=(
            f"Liaisons looking for a bed cannot trust {facility}'s numbers: they are late.\n"
            "Report them through the census interface or on the census form."
        ),
        link_path="/census",
        status="late",
        facility=facility,
    )


def deadline_alert(
    *,
    reference: str,
    placement_id: int,
    point: str,
    deadline_at: datetime,
    deadline_shown: str,
) -> Message:
    """A deadline point reached (``24h``… before it, or ``passed``) → the placement's
    liaison."""
    if point == "passed":
        return Message(
            event=Event.DEADLINE_PASSED,
            subject=f"Legal deadline passed for {reference}",
            body=(
                f"The legal deadline of placement {reference} passed before admission.\n"
                f"{_deadline_line(deadline_at, deadline_shown)}"
                "Sign in to bedboard to see the placement."
            ),
            link_path=f"/placements/{placement_id}",
            reference=reference,
            status="deadline_passed",
            deadline_at=deadline_at,
        )
    hours = point.removesuffix("h")
    return Message(
        event=Event.DEADLINE_APPROACHING,
        subject=f"{hours} hours to the legal deadline of {reference}",
        body=(
            f"Placement {reference} has no admission yet and its legal deadline is "
            f"{hours} hours away.\n{_deadline_line(deadline_at, deadline_shown)}"
            "Sign in to bedboard to see the placement."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status="deadline_approaching",
        deadline_at=deadline_at,
    )


def hold_expiring(
    *, reference: str, placement_id: int, facility: str, unit: str, expires_shown: str
) -> Message:
    """A bed hold runs out soon → the placement's liaison, before the bed is released."""
    return Message(
        event=Event.HOLD_EXPIRING,
        subject=f"Hold on {unit} for {reference} ends at {expires_shown}",
        body=(
            f"The bed held at {facility}, {unit} for placement {reference} is released at "
            f"{expires_shown} unless the placement moves on (in transit keeps the bed).\n"
            "Sign in to bedboard to see the placement."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status="hold_expiring",
        facility=facility,
        unit=unit,
    )


def hold_expired(*, reference: str, placement_id: int, facility: str, unit: str) -> Message:
    """A bed hold ran out and the bed was released → the placement's liaison."""
    return Message(
        event=Event.HOLD_EXPIRED,
        subject=f"Hold on {unit} released for {reference}",
        body=(
            f"The bed held at {facility}, {unit} for placement {reference} was released: "
            "the hold ran out. The placement is open again.\n"
            "Sign in to bedboard to refer again."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status="hold_expired",
        facility=facility,
        unit=unit,
    )


# The placement changes a court's clerk hears of (the ``placements`` outbox event names),
# and how the message says each.
COURT_UPDATES = {
    "accepted": ("a bed was accepted", "A facility accepted a referral of placement {ref}."),
    "admitted": ("admitted", "Placement {ref} was admitted."),
    "closed": ("closed", "Placement {ref} was closed."),
    "deadline_passed": (
        "legal deadline passed",
        "The legal deadline of placement {ref} passed before admission.",
    ),
}


def court_update(
    *,
    reference: str,
    change: str,
    status: str,
    facility: str,
    deadline_at: datetime | None,
    deadline_shown: str,
) -> Message:
    """A placement of the court accepted, admitted, closed or past its deadline → the
    court clerk's address. ``facility`` is the accepted facility when the court's own view
    shows it (accepted, in transit, admitted), else "". Links to the court's case lookup."""
    short, sentence = COURT_UPDATES[change]
    at = f"Facility: {facility}\n" if facility else ""
    return Message(
        event=Event.COURT_UPDATE,
        subject=f"Placement {reference}: {short}",
        body=(
            f"{sentence.format(ref=reference)}\n"
            f"Status: {status.replace('_', ' ')}\n"
            f"{at}{_deadline_line(deadline_at, deadline_shown)}"
            "Sign in to bedboard and look up the case number for the details."
        ),
        link_path="/court",
        reference=reference,
        status=status,
        facility=facility,
        deadline_at=deadline_at,
    )


def follow_up_due(*, reference: str, placement_id: int, due_shown: str) -> Message:
    """A follow-up task's time came → its assignee. Never the task's title (clinical
    text): the placement's reference, that a task is due, when, and the link."""
    return Message(
        event=Event.FOLLOW_UP_DUE,
        subject=f"A follow-up task is due for {reference}",
        body=(
            f"A follow-up task on placement {reference} is due: {due_shown}.\n"
            "Sign in to bedboard to see it and mark it done."
        ),
        link_path=f"/placements/{placement_id}",
        reference=reference,
        status="follow_up_due",
    )


def referral_message(
    *, reference: str, placement_id: int, facility: str, unit: str, to_facility: bool
) -> Message:
    """A message on a referral's thread → the other side. Never the message's text (clinical):
    the referral, the placement's reference and the link. The facility's link goes to its
    referrals, the liaison's to the placement."""
    return Message(
        event=Event.REFERRAL_MESSAGE,
        subject=f"New message on referral to {facility} for placement {reference}",
        body=(
            f"New message on referral to {facility} ({unit}) for placement {reference}.\n"
            "Sign in to bedboard to read it and reply."
        ),
        link_path="/referrals" if to_facility else f"/placements/{placement_id}",
        reference=reference,
        status="message",
        facility=facility,
        unit=unit,
    )
