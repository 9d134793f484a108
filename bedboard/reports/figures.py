# ruff: noqa: S608 -- every statement here is composed only of constant fragments
"""The program's figures: each one SQL statement over the records, with the same ten
parameters (``filters.FILTER_CTE``). ``docs/reports.md`` defines each exactly; keep the
two in step.

Hours are decimal hours (``extract(epoch ...) / 3600``), medians and 90th percentiles
are ``percentile_cont`` (interpolated), rates are fractions 0..1 (NULL when there is
nothing to divide by), months and days are the users' local ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bedboard.auth import Role
from bedboard.freshness import STALE_AFTER_CADENCES
from bedboard.reports.filters import FILTER_CTE, in_area, rollup_in_area

Kind = Literal["text", "int", "hours", "rate", "month", "day", "beds", "mean"]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = "int"


@dataclass(frozen=True)
class Chart:
    """What the page draws: ``series`` (column keys) against the ``x`` column."""

    kind: Literal["bar", "stacked", "line"]
    x: str
    series: tuple[str, ...]
    y_title: str
    # Label only every n-th x value (0: let the chart choose), e.g. each day's midnight.
    major_every: int = 0


@dataclass(frozen=True)
class Figure:
    slug: str
    title: str
    family: str
    summary: str
    columns: tuple[Column, ...]
    chart: Chart
    body: str  # SQL after "WITH f AS (...),"; empty for a figure ``computed`` in Python
    filters: frozenset[str]  # which filters apply (the page offers only these)
    # Who may open it: liaisons and administrators always; these roles too.
    also: frozenset[Role] = field(default_factory=frozenset)
    # Named per facility: a facility user sees its own facilities by name and every
    # other facility combined in one row.
    per_facility: bool = False
    # A figure another module already aggregates (the no-bed records): its rows from
    # ``computed(conn, start, stop, zone_name, counties)`` instead of ``body`` (counties:
    # the county and region filters as one set of FIPS codes, None for all).
    computed: Computed | None = None
    # The same figure read from the roll-ups (``rollups.py``), as of their last refresh:
    # what ``reports.run`` uses once they exist in the figure's zone.
    rollup_body: str = ""

    @property
    def sql(self) -> str:
        if not self.body:
            raise ValueError(f"{self.slug} is computed in Python, not one statement")
        return f"WITH {FILTER_CTE},\n{self.body}"

    @property
    def rollup_sql(self) -> str:
        if not self.rollup_body:
            raise ValueError(f"{self.slug} has no roll-up")
        return f"WITH {FILTER_CTE},\n{self.rollup_body}"


Computed = Callable[
    [Any, datetime, datetime, str, frozenset[str] | None], Awaitable[list[Mapping[str, Any]]]
]


PLACEMENT_FILTERS = frozenset(
    {"county", "region", "court_id", "facility_id", "order_type", "population", "needs"}
)
UNIT_FILTERS = frozenset({"county", "region", "facility_id", "population", "needs"})

# The placements a placement figure counts: requested (created) in the range and matching
# the filters; with a facility, those referred to one of its units.
_PLACEMENTS = f"""
    p AS (
        SELECT pl.* FROM placements pl CROSS JOIN f
         WHERE pl.created_at >= f.start AND pl.created_at < f.stop
           AND {in_area("pl.county_fips")}
           AND (f.court IS NULL OR pl.court_id = f.court)
           AND (f.order_type IS NULL OR pl.order_type = f.order_type)
           AND (f.population IS NULL OR pl.population = f.population)
           AND (f.needs IS NULL OR f.needs = ANY(pl.specialties))
           AND (f.facility IS NULL OR EXISTS (
                 SELECT 1 FROM referrals r JOIN units u ON u.id = r.unit_id
                  WHERE r.placement_id = pl.id AND u.facility_id = f.facility))
    )"""

_HOURS = "extract(epoch FROM ({later}) - ({earlier})) / 3600.0"
# The units a unit figure counts (``u`` units, ``fac`` facilities): on the board, and
# matching the county (the facility's), facility and age group filters.
_UNITS_ON_THE_BOARD = f"""u.active AND fac.active
           AND {in_area("fac.county_fips")}
           AND (f.facility IS NULL OR fac.id = f.facility)
           AND (f.population IS NULL OR u.population = f.population)
           AND (f.needs IS NULL OR f.needs = ANY(u.specialties))"""
_MONTH = "to_char(date_trunc('month', {at} AT TIME ZONE f.zone), 'YYYY-MM')"


def _median(expr: str) -> str:
    return f"percentile_cont(0.5) WITHIN GROUP (ORDER BY {expr})"


def _p90(expr: str) -> str:
    return f"percentile_cont(0.9) WITHIN GROUP (ORDER BY {expr})"


# A facility's name as a facility user may see it: its own, or one combined row.
_FACILITY_NAME = (
    "CASE WHEN f.own IS NULL OR fac.id = ANY(f.own) THEN fac.name ELSE 'All other facilities' END"
)
_FACILITY_KEY = "CASE WHEN f.own IS NULL OR fac.id = ANY(f.own) THEN fac.id ELSE 0 END"

_FIRST_ACCEPTED = (
    "(SELECT min(e.at) FROM placement_events e"
    " WHERE e.placement_id = p.id AND e.kind = 'referral_accepted')"
)

TIME_TO_PLACEMENT = Figure(
    slug="time-to-placement",
    title="Time to placement",
    family="Placements",
    summary="How long requests took to find a bed and to be admitted, by month of request.",
    columns=(
        Column("month", "Month", "month"),
        Column("requests", "Requests"),
        Column("accepted", "Accepted"),
        Column("admitted", "Admitted"),
        Column("to_acceptance_median_h", "Request to first acceptance, median (h)", "hours"),
        Column("to_acceptance_p90_h", "Request to first acceptance, 90th percentile (h)", "hours"),
        Column("to_admission_median_h", "Request to admission, median (h)", "hours"),
        Column("to_admission_p90_h", "Request to admission, 90th percentile (h)", "hours"),
        Column("detention_to_admission_median_h", "Detention to admission, median (h)", "hours"),
        Column("admitted_before_deadline", "Admitted before the deadline", "rate"),
    ),
    chart=Chart(
        "line",
        "month",
        ("to_acceptance_median_h", "to_admission_median_h", "to_admission_p90_h"),
        "hours",
    ),
    body=f"""{_PLACEMENTS.strip()},
    t AS (
        SELECT p.*, {_FIRST_ACCEPTED} AS first_accepted_at FROM p
    )
    SELECT {_MONTH.format(at="t.created_at")} AS month,
           count(*) AS requests,
           count(t.first_accepted_at) AS accepted,
           count(t.admitted_at) AS admitted,
           {_median(_HOURS.format(later="t.first_accepted_at", earlier="t.created_at"))}
             AS to_acceptance_median_h,
           {_p90(_HOURS.format(later="t.first_accepted_at", earlier="t.created_at"))}
             AS to_acceptance_p90_h,
           {_median(_HOURS.format(later="t.admitted_at", earlier="t.created_at"))}
             AS to_admission_median_h,
           {_p90(_HOURS.format(later="t.admitted_at", earlier="t.created_at"))}
             AS to_admission_p90_h,
           {_median(_HOURS.format(later="t.admitted_at", earlier="t.detention_start"))}
             AS detention_to_admission_median_h,
           (count(*) FILTER (WHERE t.admitted_at IS NOT NULL AND t.admitted_at <= t.deadline_at))::float8
             / NULLIF(count(*) FILTER (WHERE t.deadline_at IS NOT NULL), 0)
             AS admitted_before_deadline
      FROM t CROSS JOIN f
     GROUP BY 1 ORDER BY 1
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT}),
)

# Where the people admitted went (``placements.discharge_disposition``), as the pages say.
_DISPOSITION_LABELS = {
    "home_outpatient": "Home with outpatient follow-up",
    "outpatient_commitment": "Outpatient commitment",
    "transfer": "Transfer to another facility",
    "left_ama": "Left against medical advice",
    "other": "Other",
}
_DISPOSITION = (
    "CASE p.discharge_disposition "
    + " ".join(f"WHEN '{code}' THEN '{label}'" for code, label in _DISPOSITION_LABELS.items())
    + " END"
)

DISCHARGES = Figure(
    slug="discharges",
    title="Discharges by disposition",
    family="Placements",
    summary=(
        "Where the people admitted went when they were discharged, for the requests of "
        "the period: how many went each way, and their stay from admission to discharge."
    ),
    columns=(
        Column("disposition", "Disposition", "text"),
        Column("discharges", "Discharges"),
        Column("share_of_discharges", "Share of discharges", "rate"),
        Column("stay_median_h", "Admission to discharge, median (h)", "hours"),
    ),
    chart=Chart("bar", "disposition", ("discharges",), "discharges"),
    body=f"""{_PLACEMENTS.strip()}
    SELECT {_DISPOSITION} AS disposition,
           count(*) AS discharges,
           count(*)::float8 / NULLIF(sum(count(*)) OVER (), 0) AS share_of_discharges,
           {_median(_HOURS.format(later="p.discharged_at", earlier="p.admitted_at"))}
             AS stay_median_h
      FROM p CROSS JOIN f
     WHERE p.discharged_at IS NOT NULL
     GROUP BY p.discharge_disposition
     ORDER BY count(*) DESC, 1
""",
    filters=PLACEMENT_FILTERS,
)

# The county of a placement (where the person was detained, ``placements.county_fips``).
_COUNTY_NAME = "COALESCE(co.name, 'No county recorded')"

# Placements ended (admitted or closed) and their hours from detention to that end.
_WAITING = f"""{_PLACEMENTS.strip()},
    w AS (
        SELECT p.created_at, p.county_fips,
               COALESCE(NULLIF(btrim(p.requesting_agency), ''), 'Not recorded') AS agency,
               {_HOURS.format(later="COALESCE(p.admitted_at, p.closed_at)", earlier="p.detention_start")}
                 AS hours
          FROM p WHERE COALESCE(p.admitted_at, p.closed_at) IS NOT NULL
    )"""
_WAITING_COLUMNS = (
    Column("placements", "Placements ended"),
    Column("waiting_median_h", "Waiting, median (h)", "hours"),
    Column("waiting_p90_h", "Waiting, 90th percentile (h)", "hours"),
    Column("waiting_total_h", "Waiting, total (h)", "hours"),
)
_WAITING_FIGURES = f"""
           count(*) AS placements,
           {_median("w.hours")} AS waiting_median_h,
           {_p90("w.hours")} AS waiting_p90_h,
           sum(w.hours) AS waiting_total_h"""

CUSTODY_HOURS = Figure(
    slug="custody-hours",
    title="Custody and waiting hours",
    family="Placements",
    summary=(
        "Hours from the start of detention to admission (or, without one, to the close), "
        "by requesting agency and month."
    ),
    columns=(
        Column("month", "Month", "month"),
        Column("agency", "Requesting agency", "text"),
        *_WAITING_COLUMNS,
    ),
    chart=Chart("bar", "month", ("waiting_median_h", "waiting_p90_h"), "hours"),
    body=f"""{_WAITING}
    SELECT {_MONTH.format(at="w.created_at")} AS month, w.agency,{_WAITING_FIGURES}
      FROM w CROSS JOIN f
     GROUP BY 1, 2 ORDER BY 1, 2
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.COURT}),
)

CUSTODY_BY_COUNTY = Figure(
    slug="custody-hours-by-county",
    title="Custody and waiting hours by county",
    family="Placements",
    summary=(
        "Hours from the start of detention to admission (or, without one, to the close), "
        "by the county the person was detained in."
    ),
    columns=(Column("county", "County", "text"), *_WAITING_COLUMNS),
    chart=Chart("bar", "county", ("waiting_median_h", "waiting_p90_h"), "hours"),
    body=f"""{_WAITING}
    SELECT {_COUNTY_NAME} AS county,{_WAITING_FIGURES}
      FROM w CROSS JOIN f LEFT JOIN counties co ON co.fips = w.county_fips
     GROUP BY 1 ORDER BY 1
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.COURT}),
)

WAITING_PLACES = Figure(
    slug="waiting-places",
    title="Waiting and boarding hours by place",
    family="Placements",
    summary=(
        "Where people waited for a bed (emergency department, jail, police station, crisis "
        "center, home or community) and for how long, for the requests in the period."
    ),
    columns=(
        Column("place", "Waiting place", "text"),
        Column("placements", "Requests"),
        Column("stays", "Stays"),
        Column("still_waiting", "Still waiting"),
        Column("stay_median_h", "Stay, median (h)", "hours"),
        Column("stay_p90_h", "Stay, 90th percentile (h)", "hours"),
        Column("total_h", "Total (h)", "hours"),
    ),
    chart=Chart("bar", "place", ("stay_median_h", "stay_p90_h"), "hours"),
    body=f"""{_PLACEMENTS.strip()},
    s AS (
        -- each stay of each request's waiting history (a move starts a new one); a stay
        -- still running has no length yet
        SELECT w.place, w.placement_id,
               {_HOURS.format(later="w.ended_at", earlier="w.started_at")} AS hours
          FROM placement_waits w JOIN p ON p.id = w.placement_id
    )
    SELECT s.place, count(DISTINCT s.placement_id) AS placements, count(*) AS stays,
           count(*) FILTER (WHERE s.hours IS NULL) AS still_waiting,
           {_median("s.hours")} AS stay_median_h, {_p90("s.hours")} AS stay_p90_h,
           sum(s.hours) AS total_h
      FROM s
     GROUP BY s.place ORDER BY sum(s.hours) DESC NULLS LAST, s.place
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.COURT}),
)

# The referrals a referral figure counts: sent in the range, to units matching the filters
# (county: the facility's), for placements matching the placement filters.
_REFERRALS = f"""
    r AS (
        SELECT rf.*, fac.id AS facility_id, {_FACILITY_NAME} AS facility,
               {_FACILITY_KEY} AS facility_key
          FROM referrals rf
          JOIN units u ON u.id = rf.unit_id
          JOIN facilities fac ON fac.id = u.facility_id
          JOIN placements pl ON pl.id = rf.placement_id
         CROSS JOIN f
         WHERE rf.created_at >= f.start AND rf.created_at < f.stop
           AND {in_area("fac.county_fips")}
           AND (f.facility IS NULL OR fac.id = f.facility)
           AND (f.population IS NULL OR u.population = f.population)
           AND (f.court IS NULL OR pl.court_id = f.court)
           AND (f.order_type IS NULL OR pl.order_type = f.order_type)
           AND (f.needs IS NULL OR f.needs = ANY(pl.specialties))
    )"""

REFERRALS = Figure(
    slug="referrals",
    title="Referrals and response times",
    family="Referrals",
    summary=(
        "Referrals each facility received, how many it accepted and declined, and how long "
        "it took to respond."
    ),
    columns=(
        Column("facility", "Facility", "text"),
        Column("referrals", "Referrals"),
        Column("accepted", "Accepted"),
        Column("declined", "Declined"),
        Column("never_answered", "Never answered"),
        Column("acceptance_rate", "Acceptance rate", "rate"),
        Column("decline_rate", "Decline rate", "rate"),
        Column("response_median_h", "Response time, median (h)", "hours"),
        Column("response_p90_h", "Response time, 90th percentile (h)", "hours"),
    ),
    chart=Chart("stacked", "facility", ("accepted", "declined", "never_answered"), "referrals"),
    body=f"""{_REFERRALS.strip()},
    answers AS (
        -- the facility's first answer to each referral, from the timeline (a referral's
        -- own row keeps only its last state: an acceptance that fell through is withdrawn)
        SELECT (e.data->>'referral_id')::bigint AS referral_id, min(e.at) AS answered_at,
               bool_or(e.kind = 'referral_accepted') AS accepted
          FROM placement_events e
         WHERE e.placement_id IN (SELECT r.placement_id FROM r)
           AND e.kind IN ('referral_accepted', 'referral_declined')
         GROUP BY 1
    ),
    responses AS (
        -- the first response of any kind: "we are reviewing", a question, an acceptance
        -- or a decline (referrals.first_response_at; referrals sent before it existed
        -- have only the timeline's answer)
        SELECT r.*, a.accepted, LEAST(r.first_response_at, a.answered_at) AS responded_first_at
          FROM r LEFT JOIN answers a ON a.referral_id = r.id
    )
    SELECT min(r.facility) AS facility,
           count(*) AS referrals,
           count(*) FILTER (WHERE r.accepted) AS accepted,
           count(*) FILTER (WHERE r.status = 'declined') AS declined,
           count(*) FILTER (WHERE r.responded_first_at IS NULL) AS never_answered,
           (count(*) FILTER (WHERE r.accepted))::float8 / NULLIF(count(*), 0) AS acceptance_rate,
           (count(*) FILTER (WHERE r.status = 'declined'))::float8 / NULLIF(count(*), 0)
             AS decline_rate,
           {_median(_HOURS.format(later="r.responded_first_at", earlier="r.created_at"))}
             AS response_median_h,
           {_p90(_HOURS.format(later="r.responded_first_at", earlier="r.created_at"))}
             AS response_p90_h
      FROM responses r
     GROUP BY r.facility_key ORDER BY r.facility_key = 0, min(r.facility)
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY}),
    per_facility=True,
)

DECLINES = Figure(
    slug="declines",
    title="Declines by reason",
    family="Referrals",
    summary=(
        "Why facilities declined referrals: each reason, per facility, age group and the "
        "person's needs."
    ),
    columns=(
        Column("reason", "Reason", "text"),
        Column("facility", "Facility", "text"),
        Column("population", "Age group", "text"),
        Column("needs", "Needs", "text"),
        Column("declines", "Declines"),
        Column("share_of_declines", "Share of all declines", "rate"),
    ),
    chart=Chart("bar", "reason", ("declines",), "declines"),
    body=f"""{_REFERRALS.strip()},
    d AS (
        -- the person's needs profile: their needs (specialty codes) in order, or none
        SELECT r.decline_reason AS reason, r.facility, r.facility_key, pl.population,
               COALESCE(NULLIF(array_to_string(ARRAY(
                   SELECT DISTINCT n FROM unnest(pl.specialties) AS n ORDER BY n), ', '), ''),
                 'none') AS needs
          FROM r JOIN placements pl ON pl.id = r.placement_id
         WHERE r.status = 'declined'
    )
    SELECT d.reason, min(d.facility) AS facility, d.population, d.needs, count(*) AS declines,
           count(*)::float8 / NULLIF(sum(count(*)) OVER (), 0) AS share_of_declines
      FROM d
     GROUP BY d.reason, d.facility_key, d.population, d.needs
     ORDER BY count(*) DESC, d.reason, min(d.facility), d.population, d.needs
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY}),
    per_facility=True,
)

# How requests ended: the counts every outcome figure gives (per month, county or court).
_OUTCOME_COLUMNS = (
    Column("requests", "Requests"),
    Column("admitted", "Admitted"),
    Column("released", "Released without a bed"),
    Column("order_expired", "Order expired"),
    Column("withdrawn", "Withdrawn"),
    Column("diverted_outpatient", "Diverted to outpatient"),
    Column("other", "Other"),
    Column("still_open", "Still open"),
    Column("no_bed_rate", "Closed without a bed", "rate"),
)
_OUTCOME_SERIES = (
    "admitted",
    "released",
    "order_expired",
    "withdrawn",
    "diverted_outpatient",
    "other",
    "still_open",
)
_OUTCOME_COUNTS = """
           count(*) AS requests,
           count(*) FILTER (WHERE p.admitted_at IS NOT NULL) AS admitted,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.outcome = 'released') AS released,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.outcome = 'order_expired')
             AS order_expired,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.outcome = 'withdrawn') AS withdrawn,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.outcome = 'diverted_outpatient')
             AS diverted_outpatient,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.outcome = 'other') AS other,
           count(*) FILTER (WHERE p.admitted_at IS NULL AND p.status <> 'closed') AS still_open,
           (count(*) FILTER (WHERE p.admitted_at IS NULL
                               AND p.outcome IN ('released', 'order_expired')))::float8
             / NULLIF(count(*), 0) AS no_bed_rate"""

OUTCOMES = Figure(
    slug="outcomes",
    title="Outcomes",
    family="Placements",
    summary=(
        "How requests ended, by month of request: admitted, or closed without a bed "
        "(released, order expired) or otherwise."
    ),
    columns=(Column("month", "Month", "month"), *_OUTCOME_COLUMNS),
    chart=Chart("stacked", "month", _OUTCOME_SERIES, "requests"),
    body=f"""{_PLACEMENTS.strip()}
    SELECT {_MONTH.format(at="p.created_at")} AS month,{_OUTCOME_COUNTS}
      FROM p CROSS JOIN f
     GROUP BY 1 ORDER BY 1
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT}),
)

OUTCOMES_BY_COUNTY = Figure(
    slug="outcomes-by-county",
    title="Outcomes by county",
    family="Placements",
    summary=(
        "How requests ended, by the county the person was detained in: admitted, or "
        "closed without a bed (released, order expired) or otherwise."
    ),
    columns=(Column("county", "County", "text"), *_OUTCOME_COLUMNS),
    chart=Chart("stacked", "county", _OUTCOME_SERIES, "requests"),
    body=f"""{_PLACEMENTS.strip()}
    SELECT {_COUNTY_NAME} AS county,{_OUTCOME_COUNTS}
      FROM p CROSS JOIN f LEFT JOIN counties co ON co.fips = p.county_fips
     GROUP BY 1 ORDER BY count(*) DESC, 1
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT}),
)

OUTCOMES_BY_COURT = Figure(
    slug="outcomes-by-court",
    title="Outcomes by court",
    family="Placements",
    summary=(
        "How requests ended, by the court that ordered them: admitted, or closed without "
        "a bed (released, order expired) or otherwise."
    ),
    columns=(Column("court", "Court", "text"), *_OUTCOME_COLUMNS),
    chart=Chart("stacked", "court", _OUTCOME_SERIES, "requests"),
    body=f"""{_PLACEMENTS.strip()}
    SELECT COALESCE(c.name, 'No court') AS court,{_OUTCOME_COUNTS}
      FROM p CROSS JOIN f LEFT JOIN courts c ON c.id = p.court_id
     GROUP BY 1 ORDER BY count(*) DESC, 1
""",
    filters=PLACEMENT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT}),
)

PROGRAM_COUNTS = Figure(
    slug="program-counts",
    title="Program counts",
    family="Placements",
    summary="Placement requests per month, by court, requesting agency and liaison.",
    columns=(
        Column("month", "Month", "month"),
        Column("court", "Court", "text"),
        Column("agency", "Requesting agency", "text"),
        Column("liaison", "Liaison", "text"),
        Column("placements", "Requests"),
    ),
    chart=Chart("bar", "month", ("placements",), "requests"),
    body=f"""{_PLACEMENTS.strip()}
    SELECT {_MONTH.format(at="p.created_at")} AS month,
           COALESCE(c.name, 'No court') AS court,
           COALESCE(NULLIF(btrim(p.requesting_agency), ''), 'Not recorded') AS agency,
           COALESCE(NULLIF(btrim(us.display_name), ''), us.email, 'Unassigned') AS liaison,
           count(*) AS placements
      FROM p CROSS JOIN f
      LEFT JOIN courts c ON c.id = p.court_id
      LEFT JOIN users us ON us.id = p.liaison_id
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
""",
    filters=PLACEMENT_FILTERS,
)

# Reporter compliance: each unit's reports in the range, and the one before it; the time
# from each report to the next (or to the end of the range, or now) is fresh for one
# cadence, late up to STALE_AFTER_CADENCES cadences, then stale. Before a unit's first
# report ever, its time counts as never reported.
_INTERVALS = f"""
    span AS (
        SELECT f.start, LEAST(f.stop, now()) AS stop FROM f
    ), units_in AS (
        -- a unit counts from when it is known: created, or its first report if earlier
        -- (history loaded from before the unit was registered)
        SELECT u.id, fac.id AS facility_id, {_FACILITY_NAME} AS facility,
               {_FACILITY_KEY} AS facility_key,
               make_interval(mins => fac.report_cadence_minutes) AS cadence,
               GREATEST(span.start, LEAST(u.created_at, (
                   SELECT min(h.as_of) FROM census_history h WHERE h.unit_id = u.id)))
                 AS unit_start
          FROM units u JOIN facilities fac ON fac.id = u.facility_id CROSS JOIN f
         CROSS JOIN span
         WHERE {_UNITS_ON_THE_BOARD}
    ), reports AS (
        -- each unit's reports in the period and the one in force at its start, carrying
        -- the unit's own columns (no join back to units_in: a CTE's row estimate is 1)
        SELECT ui.id AS unit_id, ui.facility_key, ui.facility, ui.cadence, ui.unit_start,
               h.as_of, h.source
          FROM units_in ui CROSS JOIN span
          JOIN census_history h ON h.unit_id = ui.id
           AND h.as_of >= span.start AND h.as_of < span.stop
        UNION ALL
        SELECT ui.id, ui.facility_key, ui.facility, ui.cadence, ui.unit_start,
               before.as_of, before.source
          FROM units_in ui CROSS JOIN span
          CROSS JOIN LATERAL (
              SELECT h.as_of, h.source FROM census_history h
               WHERE h.unit_id = ui.id AND h.as_of < span.start
               ORDER BY h.as_of DESC LIMIT 1) before
    ), intervals AS (
        SELECT r.*, GREATEST(r.as_of, r.unit_start) AS from_at,
               LEAST(COALESCE(lead(r.as_of) OVER w, span.stop), span.stop) AS to_at
          FROM reports r CROSS JOIN span
        WINDOW w AS (PARTITION BY r.unit_id ORDER BY r.as_of)
    ), parts AS (
        SELECT i.facility_key, i.facility, i.unit_id, i.source,
               -- the share of [from_at, to_at) in each state, by the age since as_of
               GREATEST(LEAST(i.to_at, i.as_of + i.cadence) - i.from_at, interval '0')
                 AS fresh,
               GREATEST(LEAST(i.to_at, i.as_of + i.cadence * {STALE_AFTER_CADENCES})
                        - GREATEST(i.from_at, i.as_of + i.cadence), interval '0') AS late,
               GREATEST(i.to_at - GREATEST(i.from_at, i.as_of + i.cadence * {STALE_AFTER_CADENCES}),
                        interval '0') AS stale,
               (i.to_at - i.as_of > i.cadence) AS overdue,
               GREATEST(i.to_at - (i.as_of + i.cadence), interval '0') AS overdue_for
          FROM intervals i
         WHERE i.to_at > i.from_at
    )"""

# The roll-ups' period: up to their refresh (``t``), in whole local days.
_ROLLUP_SPAN = """
    span AS MATERIALIZED (
        SELECT f.start, LEAST(f.stop, s.refreshed_at) AS stop, s.refreshed_at AS t,
               (f.start AT TIME ZONE f.zone)::date AS first_day,
               ((LEAST(f.stop, s.refreshed_at) - interval '1 microsecond')
                 AT TIME ZONE f.zone)::date AS last_day
          FROM f CROSS JOIN report_rollup_state s
    )"""

# The units the compliance figure counts, and when each starts counting: as ``_INTERVALS``.
_COMPLIANCE_UNITS = f"""
    units_in AS MATERIALIZED (
        SELECT u.id, fac.id AS facility_id, u.population, {_FACILITY_NAME} AS facility,
               {_FACILITY_KEY} AS facility_key,
               GREATEST(span.start, LEAST(u.created_at, (
                   SELECT min(h.as_of) FROM census_history h WHERE h.unit_id = u.id)))
                 AS unit_start
          FROM units u JOIN facilities fac ON fac.id = u.facility_id CROSS JOIN f
         CROSS JOIN span
         WHERE {_UNITS_ON_THE_BOARD}
    )"""

_COMPLIANCE_TOTALS = """
    totals AS MATERIALIZED (
        SELECT ui.facility_key, min(ui.facility) AS facility, count(*) AS units,
               sum(extract(epoch FROM span.stop - ui.unit_start)) AS seconds
          FROM units_in ui CROSS JOIN span
         WHERE ui.unit_start < span.stop
         GROUP BY ui.facility_key
    )"""

_COMPLIANCE_SELECT = """
    SELECT t.facility, t.units,
           COALESCE(s.fresh, 0) / NULLIF(t.seconds, 0) AS fresh,
           COALESCE(s.late, 0) / NULLIF(t.seconds, 0) AS late,
           COALESCE(s.stale, 0) / NULLIF(t.seconds, 0) AS stale,
           GREATEST(t.seconds - COALESCE(s.fresh + s.late + s.stale, 0), 0)
             / NULLIF(t.seconds, 0) AS never,
           COALESCE(s.overdue_episodes, 0) AS overdue_episodes,
           s.overdue_median_h,
           COALESCE(s.reporting_paths, '') AS reporting_paths,
           COALESCE(n.nudges, 0) AS nudges,
           COALESCE(ph.phone_checks, 0) AS phone_confirmations
      FROM totals t LEFT JOIN sums s ON s.facility_key = t.facility_key
      LEFT JOIN (
          -- the reminders (nudges) sent to the facility in the period
          SELECT k.facility_key, count(*) AS nudges
            FROM nudges nu CROSS JOIN span
            JOIN (SELECT DISTINCT facility_id, facility_key FROM units_in) k
              ON k.facility_id = nu.facility_id
           WHERE nu.created_at >= span.start AND nu.created_at < span.stop
           GROUP BY k.facility_key
      ) n ON n.facility_key = t.facility_key
      LEFT JOIN (
          -- "no bed" heard by a liaison on the phone (census_phone_checks): counted here,
          -- never as a report
          SELECT k.facility_key, count(*) AS phone_checks
            FROM census_phone_checks pc CROSS JOIN span
            JOIN (SELECT DISTINCT facility_id, facility_key FROM units_in) k
              ON k.facility_id = pc.facility_id
           WHERE pc.observed_at >= span.start AND pc.observed_at < span.stop
           GROUP BY k.facility_key
      ) ph ON ph.facility_key = t.facility_key
     ORDER BY t.facility_key = 0, t.facility
"""

_EPISODE_HOURS = (
    "extract(epoch FROM LEAST(COALESCE(o.ended_at, span.t), span.stop) - o.began_at) / 3600.0"
)

# The roll-ups are filtered with the parameters themselves ($1 and $2 the period, $3 the
# zone, $4 county, $6 facility, $8 age group, $9 the viewer's own facilities, $10 the
# region's counties), not through
# ``f``: planned for each call (``force_custom_plan``), the conditions fold to constants
# and the row estimates stay true, so the planner scans and hashes instead of probing
# per group.
_ROLLUP_DAYS = """c.day >= ($1::timestamptz AT TIME ZONE $3::text)::date
           AND c.day < ($2::timestamptz AT TIME ZONE $3::text)::date
           AND c.day <= (SELECT last_day FROM span)
           AND ($6::bigint IS NULL OR c.facility_id = $6::bigint)
           AND ($8::text IS NULL OR c.population = $8::text)
           AND c.need = COALESCE($11::text, '')"""
_ROLLUP_FACILITY_KEY = (
    "CASE WHEN $9::bigint[] IS NULL OR {id} = ANY($9::bigint[]) THEN {id} ELSE 0 END"
)

_COMPLIANCE_ROLLUP = f"""{_ROLLUP_SPAN.strip()},
    {_COMPLIANCE_UNITS.strip()},
    {_COMPLIANCE_TOTALS.strip()},
    by_group AS MATERIALIZED (
        SELECT c.facility_id, c.population, c.paths, sum(c.fresh_s) AS fresh,
               sum(c.late_s) AS late, sum(c.stale_s) AS stale
          FROM compliance_daily c
         WHERE {_ROLLUP_DAYS}
         GROUP BY c.facility_id, c.population, c.paths
    ), keyed AS MATERIALIZED (
        -- the groups still on the board, under the facility keys this viewer sees
        SELECT g.facility_key, b.paths, b.fresh, b.late, b.stale
          FROM by_group b
          JOIN (SELECT DISTINCT facility_id, population, facility_key FROM units_in) g
            ON g.facility_id = b.facility_id AND g.population = b.population
    ), seconds AS MATERIALIZED (
        SELECT facility_key, sum(fresh) AS fresh, sum(late) AS late, sum(stale) AS stale
          FROM keyed GROUP BY facility_key
    ), paths AS MATERIALIZED (
        SELECT k.facility_key, string_agg(DISTINCT p.path, ', ') AS reporting_paths
          FROM keyed k CROSS JOIN LATERAL unnest(k.paths) AS p(path)
         GROUP BY k.facility_key
    ), episodes AS MATERIALIZED (
        -- an episode overlapping the period, its length cut at the period's end
        SELECT {_ROLLUP_FACILITY_KEY.format(id="o.facility_id")} AS facility_key,
               count(*) AS overdue_episodes, {_median(_EPISODE_HOURS)} AS overdue_median_h
          FROM compliance_overdue o CROSS JOIN span
          JOIN facilities fac ON fac.id = o.facility_id
         WHERE fac.active AND {rollup_in_area("fac.county_fips")}
           AND ($6::bigint IS NULL OR o.facility_id = $6::bigint)
           AND ($8::text IS NULL OR o.population = $8::text)
           AND o.need = COALESCE($11::text, '')
           AND o.began_at < LEAST(COALESCE(o.ended_at, span.t), span.stop)
           AND COALESCE(o.ended_at, span.t) > span.start
         GROUP BY 1
    ), sums AS MATERIALIZED (
        -- (materialized, as the CTEs above: each is a few hundred rows the planner cannot
        -- count, and joined in a nested loop it would be computed again for every row)
        SELECT s.facility_key, s.fresh, s.late, s.stale, e.overdue_episodes,
               e.overdue_median_h, p.reporting_paths
          FROM seconds s LEFT JOIN episodes e USING (facility_key)
          LEFT JOIN paths p USING (facility_key)
    )
    {_COMPLIANCE_SELECT.strip()}
"""

COMPLIANCE = Figure(
    slug="compliance",
    title="Reporter compliance",
    family="Capacity",
    summary=(
        "For each facility, the share of time its units' numbers were fresh, late or stale "
        "against its reporting cadence, its overdue episodes, how it reports, the "
        "reminders (nudges) it was sent, and the times a liaison heard “no bed” from it by "
        "phone (counted apart: never a report)."
    ),
    columns=(
        Column("facility", "Facility", "text"),
        Column("units", "Units"),
        Column("fresh", "Fresh", "rate"),
        Column("late", "Late", "rate"),
        Column("stale", "Stale", "rate"),
        Column("never", "Never reported", "rate"),
        Column("overdue_episodes", "Overdue episodes"),
        Column("overdue_median_h", "Overdue episode, median length (h)", "hours"),
        Column("reporting_paths", "Reported by", "text"),
        Column("nudges", "Reminders sent"),
        Column("phone_confirmations", "Phone confirmations (no bed)"),
    ),
    chart=Chart("stacked", "facility", ("fresh", "late", "stale", "never"), "share of time"),
    body=f"""{_INTERVALS.strip()},
    {_COMPLIANCE_TOTALS.strip()},
    sums AS (
        SELECT facility_key,
               sum(extract(epoch FROM fresh)) AS fresh, sum(extract(epoch FROM late)) AS late,
               sum(extract(epoch FROM stale)) AS stale,
               count(*) FILTER (WHERE overdue) AS overdue_episodes,
               {_median("extract(epoch FROM overdue_for) / 3600.0")}
                 FILTER (WHERE overdue) AS overdue_median_h,
               string_agg(DISTINCT CASE WHEN source LIKE 'feed:%' THEN 'feed'
                                        ELSE source END, ', ') AS reporting_paths
          FROM parts GROUP BY facility_key
    )
    {_COMPLIANCE_SELECT.strip()}
""",
    rollup_body=_COMPLIANCE_ROLLUP,
    filters=UNIT_FILTERS,
    also=frozenset({Role.FACILITY}),
    per_facility=True,
)

CAPACITY = Figure(
    slug="capacity",
    title="Capacity over time",
    family="Capacity",
    summary=(
        "Staffed, occupied, blocked and free beds each day (each unit's last report of the "
        "day), with occupancy."
    ),
    columns=(
        Column("day", "Day", "day"),
        Column("units_reported", "Units reported"),
        Column("staffed", "Staffed", "beds"),
        Column("occupied", "Occupied", "beds"),
        Column("blocked", "Blocked", "beds"),
        Column("available", "Available", "beds"),
        Column("occupancy", "Occupancy", "rate"),
    ),
    chart=Chart("line", "day", ("staffed", "occupied", "available"), "beds"),
    body=f"""
    units_in AS (
        SELECT u.id FROM units u JOIN facilities fac ON fac.id = u.facility_id CROSS JOIN f
         WHERE {_UNITS_ON_THE_BOARD}
    ), days AS (
        SELECT d::date AS day
          FROM f CROSS JOIN generate_series(
                 date_trunc('day', f.start AT TIME ZONE f.zone),
                 date_trunc('day', (LEAST(f.stop, now()) - interval '1 microsecond')
                                   AT TIME ZONE f.zone),
                 interval '1 day') AS d
    ), daily_last AS (
        -- each unit's last report of each local day (up to the period's end): in force
        -- from the end of that day until the end of the day of its successor
        SELECT DISTINCT ON (h.unit_id, (h.as_of AT TIME ZONE f.zone)::date)
               h.unit_id, (h.as_of AT TIME ZONE f.zone)::date AS day,
               h.staffed, h.occupied, h.blocked, h.available
          FROM units_in ui JOIN census_history h ON h.unit_id = ui.id CROSS JOIN f
         WHERE h.as_of < f.stop
         ORDER BY h.unit_id, (h.as_of AT TIME ZONE f.zone)::date, h.as_of DESC
    ), spans AS (
        SELECT d.*, lead(d.day) OVER (PARTITION BY d.unit_id ORDER BY d.day) AS next_day
          FROM daily_last d
    ), deltas AS (
        -- +values on the first day a report is in force, -values on the day after its last
        SELECT s.day, 1 AS units, s.staffed, s.occupied, s.blocked, s.available FROM spans s
        UNION ALL
        SELECT s.next_day, -1, -s.staffed, -s.occupied, -s.blocked, -s.available
          FROM spans s WHERE s.next_day IS NOT NULL
    ), per_day AS (
        SELECT day, sum(units) AS units, sum(staffed) AS staffed, sum(occupied) AS occupied,
               sum(blocked) AS blocked, sum(available) AS available
          FROM deltas GROUP BY day
    ), running AS (
        SELECT d.day,
               sum(p.units) OVER w AS units_reported, sum(p.staffed) OVER w AS staffed,
               sum(p.occupied) OVER w AS occupied, sum(p.blocked) OVER w AS blocked,
               sum(p.available) OVER w AS available
          FROM (SELECT day FROM days UNION SELECT day FROM per_day) d
          LEFT JOIN per_day p ON p.day = d.day
        WINDOW w AS (ORDER BY d.day)
    )
    SELECT r.day, COALESCE(r.units_reported, 0) AS units_reported,
           COALESCE(r.staffed, 0) AS staffed, COALESCE(r.occupied, 0) AS occupied,
           COALESCE(r.blocked, 0) AS blocked, COALESCE(r.available, 0) AS available,
           r.occupied::float8 / NULLIF(r.staffed, 0) AS occupancy
      FROM running r JOIN days d ON d.day = r.day
     ORDER BY r.day
""",
    rollup_body=f"""{_ROLLUP_SPAN.strip()},
    days AS (
        SELECT d::date AS day
          FROM span CROSS JOIN generate_series(
                 span.first_day::timestamp, span.last_day::timestamp, interval '1 day') AS d
    ), per_day AS (
        SELECT c.day, sum(c.units) AS units_reported, sum(c.staffed) AS staffed,
               sum(c.occupied) AS occupied, sum(c.blocked) AS blocked,
               sum(c.available) AS available
          FROM capacity_daily c JOIN facilities fac ON fac.id = c.facility_id
         WHERE {_ROLLUP_DAYS}
           AND fac.active AND {rollup_in_area("fac.county_fips")}
         GROUP BY c.day
    )
    SELECT d.day, COALESCE(p.units_reported, 0) AS units_reported,
           COALESCE(p.staffed, 0) AS staffed, COALESCE(p.occupied, 0) AS occupied,
           COALESCE(p.blocked, 0) AS blocked, COALESCE(p.available, 0) AS available,
           p.occupied::float8 / NULLIF(p.staffed, 0) AS occupancy
      FROM days d LEFT JOIN per_day p ON p.day = d.day
     ORDER BY d.day
""",
    filters=UNIT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT, Role.VIEWER}),
)


# The instant a census report takes effect in the hourly figures: the first top of the
# hour (in the zone) at or after its as_of.
EFFECTIVE_HOUR = (
    "(date_trunc('hour', {as_of} - interval '1 microsecond', {zone}) + interval '1 hour')"
)

# Capacity by hour of the week, from ``changes`` (at, units, staffed, occupied, blocked,
# available: the change in the beds in force at each top of the hour) and ``span``
# (start, stop): the beds in force at every top of the hour of the period (the changes
# up to it summed; those before the period's start count at its start), averaged over
# the hours of each weekday and hour of the day. 168 rows, Monday 00:00 first.
_BY_HOUR_OF_WEEK = """
    per_at AS (
        SELECT GREATEST(c.at, span.start) AS at, sum(c.units) AS units,
               sum(c.staffed) AS staffed, sum(c.occupied) AS occupied,
               sum(c.blocked) AS blocked, sum(c.available) AS available
          FROM changes c CROSS JOIN span
         WHERE c.at < span.stop
         GROUP BY 1
    ), samples AS (
        SELECT t.t, COALESCE(sum(p.units) OVER w, 0) AS units,
               COALESCE(sum(p.staffed) OVER w, 0) AS staffed,
               COALESCE(sum(p.occupied) OVER w, 0) AS occupied,
               COALESCE(sum(p.blocked) OVER w, 0) AS blocked,
               COALESCE(sum(p.available) OVER w, 0) AS available
          FROM span CROSS JOIN generate_series(
                 span.start, span.stop - interval '1 microsecond', interval '1 hour') AS t(t)
          LEFT JOIN per_at p ON p.at = t.t
        WINDOW w AS (ORDER BY t.t)
    ), by_slot AS (
        SELECT extract(isodow FROM s.t AT TIME ZONE f.zone)::int AS dow,
               extract(hour FROM s.t AT TIME ZONE f.zone)::int AS hour,
               count(*) AS samples, avg(s.units) AS units_reported,
               avg(s.staffed) AS staffed, avg(s.occupied) AS occupied,
               avg(s.blocked) AS blocked, avg(s.available) AS available,
               sum(s.occupied)::float8 / NULLIF(sum(s.staffed), 0) AS occupancy
          FROM samples s CROSS JOIN f
         GROUP BY 1, 2
    )
    SELECT (ARRAY['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'])[d.dow]
             || ' ' || lpad(h.hour::text, 2, '0') || ':00' AS slot,
           COALESCE(b.samples, 0) AS samples, b.units_reported, b.staffed, b.occupied,
           b.blocked, b.available, b.occupancy
      FROM generate_series(1, 7) AS d(dow) CROSS JOIN generate_series(0, 23) AS h(hour)
      LEFT JOIN by_slot b ON b.dow = d.dow AND b.hour = h.hour
     ORDER BY d.dow, h.hour
"""

CAPACITY_BY_HOUR = Figure(
    slug="capacity-by-hour",
    title="Capacity by hour of the week",
    family="Capacity",
    summary=(
        "Staffed, occupied, blocked and free beds at each hour of the week (each unit's "
        "latest report at the top of the hour), averaged over the period."
    ),
    columns=(
        Column("slot", "Hour of the week", "text"),
        Column("samples", "Hours averaged"),
        Column("units_reported", "Units reported, mean", "mean"),
        Column("staffed", "Staffed, mean", "mean"),
        Column("occupied", "Occupied, mean", "mean"),
        Column("blocked", "Blocked, mean", "mean"),
        Column("available", "Available, mean", "mean"),
        Column("occupancy", "Occupancy", "rate"),
    ),
    chart=Chart("line", "slot", ("staffed", "occupied", "available"), "beds (mean)", 24),
    body=f"""
    units_in AS (
        SELECT u.id FROM units u JOIN facilities fac ON fac.id = u.facility_id CROSS JOIN f
         WHERE {_UNITS_ON_THE_BOARD}
    ), span AS MATERIALIZED (
        SELECT f.start, LEAST(f.stop, now()) AS stop FROM f
    ), effective AS (
        -- each unit's reports by the instant they take effect (of several, the last)
        SELECT DISTINCT ON (h.unit_id, e.at) h.unit_id, e.at, h.staffed, h.occupied,
               h.blocked, h.available
          FROM units_in ui JOIN census_history h ON h.unit_id = ui.id CROSS JOIN span
          CROSS JOIN f
          CROSS JOIN LATERAL (SELECT {EFFECTIVE_HOUR.format(as_of="h.as_of", zone="f.zone")} AS at) e
         WHERE h.as_of < span.stop
         ORDER BY h.unit_id, e.at, h.as_of DESC
    ), changes AS (
        SELECT at, CASE WHEN lag(at) OVER w IS NULL THEN 1 ELSE 0 END AS units,
               COALESCE(staffed, 0) - COALESCE(lag(staffed) OVER w, 0) AS staffed,
               COALESCE(occupied, 0) - COALESCE(lag(occupied) OVER w, 0) AS occupied,
               blocked - COALESCE(lag(blocked) OVER w, 0) AS blocked,
               available - COALESCE(lag(available) OVER w, 0) AS available
          FROM effective
        WINDOW w AS (PARTITION BY unit_id ORDER BY at)
    ),
    {_BY_HOUR_OF_WEEK.strip()}
""",
    rollup_body=f"""{_ROLLUP_SPAN.strip()},
    changes AS (
        SELECT c.at, c.units, c.staffed, c.occupied, c.blocked, c.available
          FROM capacity_hourly c JOIN facilities fac ON fac.id = c.facility_id
         CROSS JOIN span
         WHERE c.at < span.stop
           AND ($6::bigint IS NULL OR c.facility_id = $6::bigint)
           AND ($8::text IS NULL OR c.population = $8::text)
           AND c.need = COALESCE($11::text, '')
           AND fac.active AND {rollup_in_area("fac.county_fips")}
    ),
    {_BY_HOUR_OF_WEEK.strip()}
""",
    filters=UNIT_FILTERS,
    also=frozenset({Role.FACILITY, Role.COURT, Role.VIEWER}),
)


def _counts(counts: Mapping[str, int], labels: Mapping[str, str] | None = None) -> str:
    return ", ".join(f"{(labels or {}).get(k, k)} {n}" for k, n in counts.items())


def _facilities(found: Any) -> str:
    return ", ".join(f"{f.name} ({f.count})" for f in found)


async def _no_bed_by_county_month(
    conn: Any, start: datetime, stop: datetime, zone_name: str, counties: frozenset[str] | None
) -> list[Mapping[str, Any]]:
    from bedboard import nobed

    return [
        {
            "month": row.month.strftime("%Y-%m"),
            "county": row.county_name,
            "placements": row.count,
            "refusing_facilities": _facilities(row.refusing_facilities),
            "reasons": _counts(row.reasons, _REASON_LABELS),
            "triggers": _counts(row.triggers, _TRIGGER_LABELS),
        }
        for row in await nobed.by_county_month(conn, start, stop, zone_name)
        if counties is None or row.county_fips in counties
    ]


async def _no_bed_quarters(
    conn: Any, start: datetime, stop: datetime, zone_name: str, counties: frozenset[str] | None
) -> list[Mapping[str, Any]]:
    from bedboard import nobed

    out: list[Mapping[str, Any]] = []
    for q in await nobed.quarterly_totals(conn, start, stop, zone_name):
        # (the statewide columns are left empty for a county or a region: they are not its)
        statewide = counties is None
        found = [c for c in q.counties if statewide or c.county_fips in (counties or ())]
        if not found:
            continue
        out.append(
            {
                "quarter": f"{q.year} Q{q.quarter}",
                "placements": sum(c.count for c in found),
                "counties": ", ".join(f"{c.county_name} ({c.count})" for c in found),
                "refusing_facilities": _facilities(q.refusing_facilities) if statewide else "",
                "reasons": _counts(q.reasons, _REASON_LABELS) if statewide else "",
            }
        )
    return out


_TRIGGER_LABELS = {
    "declared": "declared by a liaison",
    "deadline_passed": "deadline passed",
    "closed": "closed without a bed",
}
_REASON_LABELS = {
    "no_bed": "no bed",
    "acuity": "acuity",
    "medical_complexity": "medical complexity",
    "aggression_safety": "aggression or safety",
    "age_gender_mismatch": "age or gender mismatch",
    "payer": "payer",
    "developmental_disability": "developmental disability",
    "substance_use": "substance use",
    "legal_status": "legal status",
    "staffing": "staffing",
    "other": "other",
}

NO_BED = Figure(
    slug="no-bed",
    title="No bed found, by county and month",
    family="No bed found",
    summary=(
        "Court-ordered placements for which no bed was found (declared by a liaison, past "
        "the deadline unadmitted, or closed without admission), by county and month, with "
        "the facilities that declined and why."
    ),
    columns=(
        Column("month", "Month", "month"),
        Column("county", "County", "text"),
        Column("placements", "Placements without a bed"),
        Column("refusing_facilities", "Facilities that declined (placements)", "text"),
        Column("reasons", "Decline reasons (referrals)", "text"),
        Column("triggers", "How it was recorded", "text"),
    ),
    chart=Chart("bar", "month", ("placements",), "placements"),
    body="",
    filters=frozenset({"county", "region"}),
    computed=_no_bed_by_county_month,
)

NO_BED_QUARTERS = Figure(
    slug="no-bed-quarterly",
    title="No bed found, quarterly totals",
    family="No bed found",
    summary="The same records by calendar quarter, statewide (or for one county).",
    columns=(
        Column("quarter", "Quarter", "text"),
        Column("placements", "Placements without a bed"),
        Column("counties", "Counties (placements)", "text"),
        Column("refusing_facilities", "Facilities that declined (placements)", "text"),
        Column("reasons", "Decline reasons (referrals)", "text"),
    ),
    chart=Chart("bar", "quarter", ("placements",), "placements"),
    body="",
    filters=frozenset({"county", "region"}),
    computed=_no_bed_quarters,
)

FIGURES: dict[str, Figure] = {
    figure.slug: figure
    for figure in (
        TIME_TO_PLACEMENT,
        CUSTODY_HOURS,
        CUSTODY_BY_COUNTY,
        WAITING_PLACES,
        OUTCOMES,
        OUTCOMES_BY_COUNTY,
        OUTCOMES_BY_COURT,
        DISCHARGES,
        PROGRAM_COUNTS,
        REFERRALS,
        DECLINES,
        COMPLIANCE,
        CAPACITY,
        CAPACITY_BY_HOUR,
        NO_BED,
        NO_BED_QUARTERS,
    )
}
