-- Roll-ups for the two report figures that read the whole census history (reporter
-- compliance and capacity over time), so a year of them answers in well under a second.
-- Written only by bedboard/reports/rollups.py, which the scheduler runs every few
-- minutes; the report pages say how old they are.
--
-- Everything is per group: a facility's active units of one age group (the filters a
-- unit figure takes: county and facility through the facility, population), and per
-- local day in the zone recorded in report_rollup_state. A group's rows cover its units
-- as they were at the refresh: when the group's units, their activity or the facility's
-- cadence change (report_rollup_groups.digest), its rows are computed again from its
-- first report.

-- The one row: when the roll-ups were last refreshed and what that refresh had seen.
CREATE TABLE report_rollup_state (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    zone           text NOT NULL,
    -- The figures include every report received before this instant, up to it.
    refreshed_at   timestamptz NOT NULL,
    -- The newest census_history id the refresh saw (history imported in bulk carries old
    -- received_at times; its new ids give it away).
    last_history_id bigint NOT NULL,
    took_ms        integer NOT NULL
);

CREATE TABLE report_rollup_groups (
    facility_id bigint NOT NULL REFERENCES facilities (id),
    population  text NOT NULL,
    digest      text NOT NULL,
    PRIMARY KEY (facility_id, population)
);

-- Capacity: the group's beds in force at the end of each local day (each unit's last
-- report of that day or, without one, its last before), for days with a unit reported.
CREATE TABLE capacity_daily (
    day         date NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    units       integer NOT NULL,
    staffed     bigint,
    occupied    bigint,
    blocked     bigint,
    available   bigint,
    PRIMARY KEY (day, facility_id, population)
);

-- Compliance: the seconds of each local day the group's units spent fresh, late and
-- stale (up to the refresh), and how those numbers were reported.
CREATE TABLE compliance_daily (
    day         date NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    fresh_s     double precision NOT NULL,
    late_s      double precision NOT NULL,
    stale_s     double precision NOT NULL,
    paths       text[] NOT NULL,
    PRIMARY KEY (day, facility_id, population)
);

-- Compliance: every report that went overdue (no next report within one cadence), from
-- began_at (its as_of plus one cadence) to the next report (ended_at; NULL while it is
-- still the unit's latest).
CREATE TABLE compliance_overdue (
    unit_id     bigint NOT NULL,
    as_of       timestamptz NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    began_at    timestamptz NOT NULL,
    ended_at    timestamptz,
    PRIMARY KEY (unit_id, as_of)
);
CREATE INDEX compliance_overdue_began_idx ON compliance_overdue (began_at);
CREATE INDEX compliance_overdue_group_idx ON compliance_overdue (facility_id, population);

-- What changed since the last refresh: reports received since (census writes stamp
-- received_at with their transaction's start). Rows arrive in time order, so a BRIN
-- index stays small and costs the census write next to nothing.
CREATE INDEX census_history_received_brin ON census_history USING brin (received_at);
