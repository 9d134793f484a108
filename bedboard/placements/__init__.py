"""Court-ordered placement requests: the state machine, referrals, bed holds, deadlines.

Every change runs in one transaction that updates the current state, appends an event
to the placement's timeline (append-only), and appends outbox events (``placements``,
``referrals`` and, when a hold changes the beds, ``board``).

A placement (``models.TRANSITIONS``)::

    open ──(a referral is accepted)──► accepted ──► in_transit ──► admitted
     ▲  │                                │  │            │
     │  └──────────────┐                 │  │            │
     └──(the accepted referral ends:     │  │            │
        declined, withdrawn, expired)────┘  │            │
        │              ▼                    ▼            ▼
        └──────────► closed (outcome: released, withdrawn, order_expired,
                             diverted_outpatient, other)

A referral::

    pending ──► accepted (holds one bed) ──► declined | withdrawn | expired
       │                                      (the bed is released; the placement
       └──► declined | withdrawn               is open again)

The last bed: a hold is ``UPDATE unit_census SET held = held + 1 WHERE available - held
> 0``, backed by ``CHECK (held <= available)``; of two racing acceptances exactly one
gets the bed and the other a 409.

Rooms: ``models`` (vocabularies, state tables, request and view models), ``errors``
(refusals), ``order_types`` (the legal rule set and deadlines), ``views`` (read
projections), ``timeline`` (events and outbox payloads per audience), ``locks`` (lock
order), ``referrals`` (refer, accept, decline, withdraw), ``record`` (create, edit, move
on, links, notes, no bed found), ``clock`` (hold expiry, deadline alerts, no-bed records of
passed deadlines), ``demo_history`` (the demo's placements moved to realistic times),
``history`` (past placements written in bulk, for a synthetic history).
No-bed records themselves are ``bedboard.nobed``'s (its table); these modules call it.
"""

from __future__ import annotations

from bedboard.outbox import COURT, PLACEMENTS, REFERRALS  # the topics placements publish to
from bedboard.placements.clock import (
    ALERTS_LOCK_KEY,
    NO_BED_LOCK_KEY,
    alert_points,
    expire_holds,
    raise_deadline_alerts,
    record_passed_deadlines,
)
from bedboard.placements.demo_history import spread_demo_history
from bedboard.placements.history import (
    LoadedHistory,
    PastEvent,
    PastPlacement,
    PastReferral,
    load_history,
)
from bedboard.placements.models import (
    DECLINE_LABELS,
    OUTCOME_LABELS,
    TERMINAL,
    TRANSITIONS,
    CourtPlacement,
    CourtPlacementList,
    DeclineIn,
    DeclineReason,
    Event,
    FacilityPlacement,
    FacilityPlacementList,
    Link,
    LinkIn,
    Needs,
    NeedsIn,
    Note,
    NoteIn,
    OrderType,
    OrderTypeList,
    OrderTypePatch,
    Outcome,
    Person,
    PersonIn,
    Placement,
    PlacementIn,
    PlacementList,
    PlacementPatch,
    PlacementSummary,
    Referral,
    ReferralsIn,
    ReferralStatus,
    Status,
    Text,
    Timeline,
    TimelineEntry,
    TransitionIn,
)
from bedboard.placements.order_types import (
    order_types,
    set_order_deadline,
)
from bedboard.placements.record import (
    NoBedDeclared,
    Recorded,
    add_link,
    add_note,
    create,
    create_once,
    declare_no_bed,
    look_up_case,
    match_person,
    transition,
    update,
)
from bedboard.placements.referrals import (
    accept,
    decline,
    refer,
    withdraw,
)
from bedboard.placements.views import (
    all_facility_ids,
    court_lookup,
    facility_view,
    get_placement,
    list_placements,
    referral_scope,
    referrals_for_facilities,
    referrals_of,
    scope,
    timeline,
)

__all__ = [
    "ALERTS_LOCK_KEY",
    "COURT",
    "DECLINE_LABELS",
    "NO_BED_LOCK_KEY",
    "OUTCOME_LABELS",
    "PLACEMENTS",
    "REFERRALS",
    "TERMINAL",
    "TRANSITIONS",
    "CourtPlacement",
    "CourtPlacementList",
    "DeclineIn",
    "DeclineReason",
    "Event",
    "FacilityPlacement",
    "FacilityPlacementList",
    "Link",
    "LinkIn",
    "LoadedHistory",
    "Needs",
    "NeedsIn",
    "NoBedDeclared",
    "Note",
    "NoteIn",
    "OrderType",
    "OrderTypeList",
    "OrderTypePatch",
    "Outcome",
    "PastEvent",
    "PastPlacement",
    "PastReferral",
    "Person",
    "PersonIn",
    "Placement",
    "PlacementIn",
    "PlacementList",
    "PlacementPatch",
    "PlacementSummary",
    "Recorded",
    "Referral",
    "ReferralStatus",
    "ReferralsIn",
    "Status",
    "Text",
    "Timeline",
    "TimelineEntry",
    "TransitionIn",
    "accept",
    "add_link",
    "add_note",
    "alert_points",
    "all_facility_ids",
    "court_lookup",
    "create",
    "create_once",
    "declare_no_bed",
    "decline",
    "expire_holds",
    "facility_view",
    "get_placement",
    "list_placements",
    "load_history",
    "look_up_case",
    "match_person",
    "order_types",
    "raise_deadline_alerts",
    "record_passed_deadlines",
    "refer",
    "referral_scope",
    "referrals_for_facilities",
    "referrals_of",
    "scope",
    "set_order_deadline",
    "spread_demo_history",
    "timeline",
    "transition",
    "update",
    "withdraw",
]
