-- The capacity-by-hour-of-week figure's roll-up (issue 12): for each group (a facility's
-- active units of one age group, as in 0009), the change in the beds in force at each top
-- of the hour where they changed. A unit's report takes effect at the first top of the hour
-- at or after its as_of (several in one hour: the last); the first report of a unit adds
-- it to the units reported. The beds in force at an instant are the sum of the changes up
-- to it, so the figure reads a year of hours from these rows without the census history.
-- Written only by bedboard/reports/rollups.py, in the zone of report_rollup_state (the
-- hours are that zone's).

CREATE TABLE capacity_hourly (
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    at          timestamptz NOT NULL,
    units       integer NOT NULL,
    staffed     bigint NOT NULL,
    occupied    bigint NOT NULL,
    blocked     bigint NOT NULL,
    available   bigint NOT NULL,
    PRIMARY KEY (facility_id, population, at)
);

-- Roll-ups built before this table have no hours: the next refresh rebuilds them all (the
-- figures are computed from the records until then).
DELETE FROM report_rollup_state;
