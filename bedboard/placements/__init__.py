"""Court-ordered placement requests: the state machine, referrals, bed holds, deadlines.

Every change runs in one transaction that updates the current state, appends an event
to the placement's timeline (append-only), and appends outbox events (``placements``,
``referrals`` and, when a hold changes the beds, ``board``).

A placement (``models.TRANSITIONS``)::

    open ──(a referral is accepted)──► accepted ──► in_transit ──► admitted ──► discharged
     ▲  │                                │  │            │          (disposition)
     │  └──────────────┐                 │  │            │
     └──(the accepted referral ends:     │  │            │
        declined, withdrawn, expired)────┘  │            │
        │              ▼                    ▼            ▼
        └──────────► closed (outcome: released, withdrawn, order_expired,
                             diverted_outpatient, other)

A referral (``models.REFERRAL_TRANSITIONS``)::

    pending ──► acknowledged ◄──(the liaison answers)── info_requested
       │  │          │  └──────(the facility asks)──────────►  │
       │  └──────────┼──────(the facility asks)───────────────►│
       │             ▼                                          ▼
       ├───────► accepted (holds one bed) ──► declined | withdrawn | expired
       │           (from pending, acknowledged     (the bed is released; the
       │            or info_requested)              placement is open again)
       ├──► declined | withdrawn  (from any state awaiting an answer)
       └──► expired  (the clock: nobody answered within BEDBOARD_REFERRAL_EXPIRE_HOURS)

The last bed: a hold is ``UPDATE unit_census SET held = held + 1 WHERE available - held
> 0``, backed by ``CHECK (held <= available)``; of two racing acceptances exactly one
gets the bed and the other a 409.

Rooms: ``models`` (vocabularies, state tables, request and view models), ``errors``
(refusals), ``order_types`` (the legal rule set and deadlines), ``views`` (read
projections), ``timeline`` (events and outbox payloads per audience), ``locks`` (lock
order), ``referrals`` (refer, refer to all that fit, acknowledge, ask, answer, accept,
decline, withdraw), ``record`` (create, edit, move on, links, notes, no bed found),
``clock`` (holds about to run out, hold expiry, deadline alerts, no-bed records of passed
deadlines, unanswered referrals' expiry, response-target nudges), ``escalation`` (the escalation ladder before
the deadline: each order type's rungs, raising and passing them on, acknowledgements;
callers use ``placements.escalation.run`` and the rest of that module), ``demo_history``
(the demo's placements moved to realistic times),
``history`` (past placements written in bulk, for a synthetic history), ``repeat``
(repeat involvement: a person's earlier placements by a keyed fingerprint of name and
date of birth, never the values), ``waiting`` (where the person waits, officer custody),
``followups`` (after admission: follow-up tasks and their reminders' claims, the
outpatient-commitment path), ``messages`` (a referral's message thread with its facility).
No-bed records themselves are ``bedboard.nobed``'s (its table); these modules call it.
"""

from __future__ import annotations

from bedboard.outbox import COURT, PLACEMENTS, REFERRALS  # the topics placements publish to
from bedboard.placements import escalation, followups
from bedboard.placements.clock import (
    ALERTS_LOCK_KEY,
    NO_BED_LOCK_KEY,
    NUDGE_THRESHOLDS,
    DeadlineAlert,
    HoldExpired,
    HoldExpiring,
    ResponseNudge,
    alert_points,
    deadline_alerts,
    due_response_nudges,
    expire_holds,
    expire_unanswered,
    expired_holds,
    holds_expiring,
    raise_deadline_alerts,
    record_passed_deadlines,
)
from bedboard.placements.demo_history import spread_demo_history
from bedboard.placements.history import (
    LoadedHistory,
    PastEvent,
    PastPlacement,
    PastReferral,
    draw_waits,
    load_history,
)
from bedboard.placements.models import (
    AWAITING,
    DECLINE_LABELS,
    DISPOSITION_LABELS,
    OPEN_REFERRAL,
    OUTCOME_LABELS,
    REFERRAL_LABELS,
    REFERRAL_TRANSITIONS,
    TERMINAL,
    TRANSITIONS,
    UNDER_WAY_SQL,
    AnswerIn,
    CourtPlacement,
    CourtPlacementList,
    DeclineIn,
    DeclineReason,
    Disposition,
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
    QuestionIn,
    Referral,
    ReferralQuestion,
    ReferralsIn,
    ReferralStatus,
    Status,
    Text,
    Timeline,
    TimelineEntry,
    TransitionIn,
    past_target,
    waited_words,
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
    acknowledge,
    answer,
    ask,
    decline,
    refer,
    refer_all,
    withdraw,
)
from bedboard.placements.views import (
    all_facility_ids,
    court_lookup,
    court_view,
    facility_view,
    get_placement,
    list_placements,
    referral_resource,
    referral_scope,
    referrals_for_facilities,
    referrals_of,
    scope,
    timeline,
)

__all__ = [
    "ALERTS_LOCK_KEY",
    "AWAITING",
    "COURT",
    "DECLINE_LABELS",
    "DISPOSITION_LABELS",
    "NO_BED_LOCK_KEY",
    "NUDGE_THRESHOLDS",
    "OPEN_REFERRAL",
    "OUTCOME_LABELS",
    "PLACEMENTS",
    "REFERRALS",
    "REFERRAL_LABELS",
    "REFERRAL_TRANSITIONS",
    "TERMINAL",
    "TRANSITIONS",
    "UNDER_WAY_SQL",
    "AnswerIn",
    "CourtPlacement",
    "CourtPlacementList",
    "DeadlineAlert",
    "DeclineIn",
    "DeclineReason",
    "Disposition",
    "Event",
    "FacilityPlacement",
    "FacilityPlacementList",
    "HoldExpired",
    "HoldExpiring",
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
    "QuestionIn",
    "Recorded",
    "Referral",
    "ReferralQuestion",
    "ReferralStatus",
    "ReferralsIn",
    "ResponseNudge",
    "Status",
    "Text",
    "Timeline",
    "TimelineEntry",
    "TransitionIn",
    "accept",
    "acknowledge",
    "add_link",
    "add_note",
    "alert_points",
    "all_facility_ids",
    "answer",
    "ask",
    "court_lookup",
    "court_view",
    "create",
    "create_once",
    "deadline_alerts",
    "declare_no_bed",
    "decline",
    "draw_waits",
    "due_response_nudges",
    "escalation",
    "expire_holds",
    "expire_unanswered",
    "expired_holds",
    "facility_view",
    "followups",
    "get_placement",
    "holds_expiring",
    "list_placements",
    "load_history",
    "look_up_case",
    "match_person",
    "order_types",
    "past_target",
    "raise_deadline_alerts",
    "record_passed_deadlines",
    "refer",
    "refer_all",
    "referral_resource",
    "referral_scope",
    "referrals_for_facilities",
    "referrals_of",
    "scope",
    "set_order_deadline",
    "spread_demo_history",
    "timeline",
    "transition",
    "update",
    "waited_words",
    "withdraw",
]
