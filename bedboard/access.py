"""Who may do what: the single policy every handler asks.

``decide(principal, action, resource)`` is pure and has no I/O, so the whole access
matrix is testable as a table. Handlers call ``context.authorize`` which asks this
module, audits denials and raises the right problem (403, or 404 where existence
itself must not leak).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bedboard import outbox
from bedboard.auth import Principal, Role
from bedboard.outbox import Change


class Action(StrEnum):
    # Reference data and the directory of facilities: readable by every signed-in role.
    DIRECTORY_READ = "directory.read"
    FACILITY_CREATE = "facility.create"
    FACILITY_UPDATE = "facility.update"
    FACILITY_UPDATE_CONTACT = "facility.update_contact"
    UNIT_CREATE = "unit.create"
    UNIT_UPDATE = "unit.update"
    UNIT_UPDATE_PROFILE = "unit.update_profile"
    COURT_LIST = "court.list"
    COURT_READ = "court.read"
    COURT_CREATE = "court.create"
    COURT_UPDATE = "court.update"
    # Regions (named sets of counties): read by every signed-in role (directory.read),
    # defined by administrators.
    REGION_CREATE = "region.create"
    REGION_UPDATE = "region.update"
    REGION_DELETE = "region.delete"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"
    TOKEN_READ = "token.read"
    TOKEN_MANAGE = "token.manage"
    AUDIT_READ = "audit.read"
    # The live board and census.
    BOARD_READ = "board.read"
    CENSUS_REPORT = "census.report"
    SEARCH = "search"
    # Placements.
    ORDER_TYPE_READ = "order_type.read"
    ORDER_TYPE_UPDATE = "order_type.update"
    PLACEMENT_CREATE = "placement.create"
    PLACEMENT_LIST = "placement.list"
    PLACEMENT_READ = "placement.read"
    PLACEMENT_TIMELINE = "placement.timeline"
    PLACEMENT_WRITE = "placement.write"
    # Declaring "no bed found" (a no-bed record): the same rule as placement.write.
    PLACEMENT_NO_BED = "placement.no_bed"
    # Reading a placement's no-bed records with their corrections uses placement.no_bed;
    # correcting one (a new correction row) is this, by the same rule.
    PLACEMENT_NO_BED_CORRECT = "placement.no_bed_correct"
    REFERRAL_LIST = "referral.list"
    REFERRAL_RESPOND = "referral.respond"
    COURT_LOOKUP = "court.lookup"
    # A referral's message thread (reading it, writing to it): the liaisons and that
    # referral's facility only.
    REFERRAL_MESSAGE_READ = "referral_message.read"
    REFERRAL_MESSAGE_WRITE = "referral_message.write"
    # The escalation ladder: a placement's raised rungs, and acknowledging one.
    ESCALATION_READ = "escalation.read"
    ESCALATION_ACKNOWLEDGE = "escalation.acknowledge"
    # Issuing, listing and revoking a placement's court status links.
    COURT_LINK_MANAGE = "court_link.manage"
    # After admission: a placement's follow-up tasks and outpatient commitment (reading,
    # writing), and the task lists (everyone's, or one's own).
    FOLLOW_UP_READ = "follow_up.read"
    FOLLOW_UP_WRITE = "follow_up.write"
    FOLLOW_UP_LIST = "follow_up.list"
    # The referral packet (its summary and attachments): read by the liaison side and
    # the facilities referred; written (and attachments added or removed) by liaisons.
    PACKET_READ = "packet.read"
    PACKET_WRITE = "packet.write"
    # Facility feeds (administrators).
    FEED_READ = "feed.read"
    FEED_MANAGE = "feed.manage"
    # Program reports (each figure names the roles beyond liaisons that may read it).
    REPORT_READ = "report.read"
    # Notifications: one's own preferences and in-app alerts (every signed-in role);
    # delivery history, retries and webhook endpoints (administrators).
    NOTIFY_SELF = "notify.self"
    DELIVERY_READ = "delivery.read"
    DELIVERY_RETRY = "delivery.retry"
    WEBHOOK_MANAGE = "webhook.manage"


@dataclass(frozen=True)
class Resource:
    """What an action touches. Scope fields are filled from the stored object."""

    type: str
    id: int | None = None
    facility_id: int | None = None
    court_id: int | None = None
    # Facilities that received a referral for a placement.
    facility_ids: frozenset[int] = frozenset()
    # The placement's county (a supervisor's scope: the counties of their region); for a
    # placement being recorded or moved, the county it would be in.
    county_fips: str | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # When denied: answer 404 instead of 403 because existence itself must not leak.
    conceal: bool = False
    reason: str = ""


ALLOW = Decision(True)


def _deny(reason: str) -> Decision:
    return Decision(False, reason=reason)


def _conceal(reason: str) -> Decision:
    return Decision(False, conceal=True, reason=reason)


# Actions open to every signed-in role.
_ANY_ROLE = frozenset(
    {Action.DIRECTORY_READ, Action.BOARD_READ, Action.ORDER_TYPE_READ, Action.NOTIFY_SELF}
)
# Liaisons coordinate placements: they may do all of this to any placement.
_LIAISON = frozenset(
    {
        Action.SEARCH,
        Action.PLACEMENT_CREATE,
        Action.PLACEMENT_LIST,
        Action.PLACEMENT_READ,
        Action.PLACEMENT_TIMELINE,
        Action.PLACEMENT_WRITE,
        Action.PLACEMENT_NO_BED,
        Action.PLACEMENT_NO_BED_CORRECT,
        Action.REFERRAL_LIST,
        Action.REFERRAL_RESPOND,
        Action.REFERRAL_MESSAGE_READ,
        Action.REFERRAL_MESSAGE_WRITE,
        Action.COURT_LOOKUP,
        Action.COURT_LINK_MANAGE,
        Action.COURT_LIST,
        Action.COURT_READ,
        Action.FOLLOW_UP_READ,
        Action.FOLLOW_UP_WRITE,
        Action.FOLLOW_UP_LIST,
        Action.PACKET_READ,
        Action.PACKET_WRITE,
    }
)
# Supervisors do what liaisons do, to the placements in their region's counties
# (``_in_region``); bed search, the courts and the placement list (which shows only their
# region's) are theirs as they are a liaison's. Not theirs: the receiving facilities'
# referral list and the court lookup by case number, which reach every region.
_SUPERVISOR_ANYWHERE = frozenset(
    {Action.SEARCH, Action.PLACEMENT_LIST, Action.COURT_LIST, Action.COURT_READ}
)
_SUPERVISOR_IN_REGION = frozenset(
    {
        Action.PLACEMENT_CREATE,
        Action.PLACEMENT_READ,
        Action.PLACEMENT_TIMELINE,
        Action.PLACEMENT_WRITE,
        Action.PLACEMENT_NO_BED,
        Action.PLACEMENT_NO_BED_CORRECT,
        Action.REFERRAL_RESPOND,
        Action.REFERRAL_MESSAGE_READ,
        Action.REFERRAL_MESSAGE_WRITE,
        Action.COURT_LINK_MANAGE,
    }
)
# Who reads and acknowledges a placement's escalations (administrators always may;
# supervisors those of their region's placements). The one place this is decided.
ESCALATION_ROLES = frozenset({Role.ADMIN, Role.LIAISON, Role.SUPERVISOR})
_ESCALATION = frozenset({Action.ESCALATION_READ, Action.ESCALATION_ACKNOWLEDGE})
# Actions a facility user may take on objects of their own facilities.
_OWN_FACILITY = frozenset(
    {Action.FACILITY_UPDATE_CONTACT, Action.UNIT_UPDATE_PROFILE, Action.CENSUS_REPORT}
)


def decide(principal: Principal, action: Action, resource: Resource) -> Decision:
    """May ``principal`` do ``action`` on ``resource``?"""
    role = principal.role
    if role is Role.ADMIN:
        return ALLOW
    if action in _ANY_ROLE:
        return ALLOW
    if action in _OWN_FACILITY:
        if role is Role.FACILITY and resource.facility_id in principal.facility_ids:
            return ALLOW
        return _deny("not one of your facilities")
    if role is Role.LIAISON and action in _LIAISON:
        return ALLOW
    if role is Role.SUPERVISOR and action in _SUPERVISOR_ANYWHERE:
        return ALLOW
    if role is Role.SUPERVISOR and action in _SUPERVISOR_IN_REGION:
        return _in_region(principal, resource)
    if action in _ESCALATION:
        return _escalation(principal, resource)
    if action in (Action.PACKET_READ, Action.PACKET_WRITE):
        return _packet(principal, action, resource)
    if action is Action.REPORT_READ:
        return _report(role, resource)
    if action is Action.SEARCH:
        return _deny("bed search is for liaisons")
    if action is Action.REFERRAL_LIST:
        return ALLOW if role is Role.FACILITY else _deny("role cannot list referrals")
    if action in (
        Action.PLACEMENT_READ,
        Action.PLACEMENT_TIMELINE,
        Action.PLACEMENT_WRITE,
        Action.PLACEMENT_NO_BED,
        Action.PLACEMENT_NO_BED_CORRECT,
        Action.COURT_LINK_MANAGE,
        Action.FOLLOW_UP_READ,
        Action.FOLLOW_UP_WRITE,
    ):
        referred = role is Role.FACILITY and bool(principal.facility_ids & resource.facility_ids)
        if referred and action is Action.PLACEMENT_READ:
            return ALLOW
        if referred:
            return _deny("a receiving facility answers referrals; liaisons manage the placement")
        if role in (Role.FACILITY, Role.COURT) or resource.id is not None:
            # An existing placement answers like a missing one (no existence leak).
            return _conceal("not a placement referred to you")
        return _deny("role cannot see placements")
    if action in (
        Action.REFERRAL_RESPOND,
        Action.REFERRAL_MESSAGE_READ,
        Action.REFERRAL_MESSAGE_WRITE,
    ):
        if role is Role.FACILITY and resource.facility_id in principal.facility_ids:
            return ALLOW
        if role in (Role.FACILITY, Role.COURT) or resource.id is not None:
            return _conceal("a referral to another facility")
        return _deny("only the receiving facility answers a referral")
    if action is Action.COURT_LOOKUP:
        if (
            role is Role.COURT
            and resource.court_id is not None
            and resource.court_id == principal.court_id
        ):
            return ALLOW
        return _deny("court lookup is for court staff")
    if action is Action.COURT_LIST:
        return ALLOW if role in (Role.LIAISON, Role.COURT) else _deny("role cannot list courts")
    if action is Action.COURT_READ:
        if role is Role.LIAISON:
            return ALLOW
        if role is Role.COURT:
            if resource.id == principal.court_id:
                return ALLOW
            return _conceal("another court's record")
        return _deny("role cannot read courts")
    return _deny(f"{action.value} is for administrators")


def in_region(principal: Principal, county_fips: str | None) -> bool:
    """Whether the county is one of the supervisor's region's counties."""
    return county_fips is not None and county_fips in principal.region_counties


def _in_region(principal: Principal, resource: Resource) -> Decision:
    """A supervisor and a placement: allowed in their region's counties. Another region's
    placement answers like a missing one; recording (or moving) a placement into a county
    outside the region is refused."""
    if in_region(principal, resource.county_fips):
        return ALLOW
    if resource.id is not None:
        return _conceal("not a placement in your region")
    return _deny("the county is not in your region")


def region_scope(principal: Principal) -> frozenset[str] | None:
    """The counties a placement list is kept to: a supervisor's region's (None: every
    county, for the other roles that may list placements)."""
    return principal.region_counties if principal.role is Role.SUPERVISOR else None


def moved_to(county_fips: str) -> Resource:
    """What moving a placement to another county is checked as: recording one there
    (``placement.create``), so a supervisor keeps their placements in their region."""
    return Resource("placement", county_fips=county_fips)


def _escalation(principal: Principal, resource: Resource) -> Decision:
    """A placement's escalations: for ``ESCALATION_ROLES`` (supervisors: in their region);
    a facility it was referred to is told no (it answers referrals), anyone else is
    answered as if it did not exist."""
    if principal.role is Role.SUPERVISOR:
        return _in_region(principal, resource)
    if principal.role in ESCALATION_ROLES:
        return ALLOW
    if principal.role is Role.FACILITY and principal.facility_ids & resource.facility_ids:
        return _deny("escalations are for the liaisons coordinating the placement")
    if principal.role in (Role.FACILITY, Role.COURT) or resource.id is not None:
        return _conceal("not a placement referred to you")
    return _deny("role cannot see escalations")


def _packet(principal: Principal, action: Action, resource: Resource) -> Decision:
    """A placement's referral packet (summary and attachments), beyond liaisons and
    administrators: a supervisor reads their region's; a facility referred reads it (it
    is what the referral sends); anyone else is answered as if it did not exist."""
    if principal.role is Role.SUPERVISOR:
        seen = _in_region(principal, resource)
        if seen.allowed and action is Action.PACKET_WRITE:
            return _deny("the liaisons keep the referral packet")
        return seen
    if principal.role is Role.FACILITY and principal.facility_ids & resource.facility_ids:
        if action is Action.PACKET_READ:
            return ALLOW
        return _deny("a receiving facility reads the packet; liaisons keep it")
    if principal.role in (Role.FACILITY, Role.COURT) or resource.id is not None:
        return _conceal("not a placement referred to you")
    return _deny("role cannot see referral packets")


def _report(role: Role, resource: Resource) -> Decision:
    """Liaisons and supervisors read every figure (the whole program's, as a liaison
    does); other roles those that name them (``Figure.also``), scoped there to their own
    facilities or court."""
    from bedboard.reports import audience

    if role in (Role.LIAISON, Role.SUPERVISOR) or role in audience(
        resource.type.removeprefix("report:")
    ):
        return ALLOW
    return _deny("this report is not open to your role")


# --------------------------------------------------------------------------- live frames
# The same rules for websocket frames as for HTTP: which topics a user may subscribe
# to, and which changes of them reach the user.


def live_topics(principal: Principal) -> frozenset[str]:
    """Topics this principal may subscribe to. The board carries no health information;
    placement and referral frames carry ids and states only, filtered per user below.
    Everyone may follow ``alerts``: only their own in-app alerts reach them."""
    if principal.role is Role.VIEWER:
        return frozenset({outbox.BOARD, outbox.ALERTS})
    if principal.role is Role.COURT:
        return frozenset({outbox.BOARD, outbox.COURT, outbox.ALERTS})
    if principal.role is Role.FACILITY:
        # Their own referrals only: a placement's frames name every facility referred,
        # who accepted and others' declines, which a receiving facility may not see.
        return frozenset({outbox.BOARD, outbox.REFERRALS, outbox.ALERTS})
    if principal.role is Role.SUPERVISOR:
        # Their region's placements and referrals (filtered below); no court topic, as
        # the court lookup is not theirs.
        return frozenset({outbox.BOARD, outbox.PLACEMENTS, outbox.REFERRALS, outbox.ALERTS})
    return frozenset(
        {outbox.BOARD, outbox.PLACEMENTS, outbox.REFERRALS, outbox.COURT, outbox.ALERTS}
    )


def sees_change(principal: Principal, change: Change) -> bool:
    """Whether this change is for this principal: the same scope rules as the HTTP API."""
    data = change.payload
    if change.topic == outbox.ALERTS:
        # A person's alert is theirs alone, administrators included.
        return data.get("user_id") == principal.user_id
    if change.topic == outbox.BOARD or principal.role is Role.ADMIN:
        return True
    if principal.role is Role.SUPERVISOR and change.topic in (outbox.PLACEMENTS, outbox.REFERRALS):
        # Their region's, as a liaison's (deadline alerts: when they are its liaison).
        if not in_region(principal, data.get("county_fips")):
            return False
        return change.topic == outbox.REFERRALS or (
            not str(data.get("event", "")).startswith("deadline_")
            or data.get("liaison_id") == principal.user_id
        )
    if change.topic == outbox.PLACEMENTS:
        if principal.role is Role.LIAISON:
            # Deadline alerts go to the assigned liaison; every other change to all liaisons.
            return (
                not str(data.get("event", "")).startswith("deadline_")
                or data.get("liaison_id") == principal.user_id
            )
        return False  # a facility hears of its referrals on the referrals topic
    if change.topic == outbox.COURT:
        if principal.role is Role.LIAISON:
            return True
        return principal.role is Role.COURT and data.get("court_id") == principal.court_id
    if change.topic == outbox.REFERRALS:
        if principal.role is Role.LIAISON:
            return True
        return principal.role is Role.FACILITY and data.get("facility_id") in principal.facility_ids
    return False
