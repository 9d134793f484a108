-- The report roll-ups (0009) by need, and by the hour (issue 12).
--
-- By need: a group is a facility's active units of one age group (need '') or, of those,
-- the units that serve one need (need: a specialty code), so a needs filter reads the
-- roll-ups too instead of every census report of its period.
--
-- By the hour: the capacity-by-hour-of-week figure's roll-up. For each group, the change
-- in the beds in force at each top of the hour where they changed. A unit's report takes
-- effect at the first top of the hour at or after its as_of (several in one hour: the
-- last); a unit's first report also adds it to the units reported. The beds in force at
-- an instant are the sum of the changes up to it, so the figure reads a year of hours
-- from these rows without the census history.
--
-- Written only by bedboard/reports/rollups.py, in the zone of report_rollup_state.

ALTER TABLE report_rollup_groups ADD COLUMN need text NOT NULL DEFAULT '';
ALTER TABLE report_rollup_groups DROP CONSTRAINT report_rollup_groups_pkey,
    ADD PRIMARY KEY (facility_id, population, need);

ALTER TABLE capacity_daily ADD COLUMN need text NOT NULL DEFAULT '';
ALTER TABLE capacity_daily DROP CONSTRAINT capacity_daily_pkey,
    ADD PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE compliance_daily ADD COLUMN need text NOT NULL DEFAULT '';
ALTER TABLE compliance_daily DROP CONSTRAINT compliance_daily_pkey,
    ADD PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE compliance_overdue ADD COLUMN need text NOT NULL DEFAULT '';
ALTER TABLE compliance_overdue DROP CONSTRAINT compliance_overdue_pkey,
    ADD PRIMARY KEY (need, unit_id, as_of);
DROP INDEX compliance_overdue_group_idx;
CREATE INDEX compliance_overdue_group_idx ON compliance_overdue (facility_id, population, need);

CREATE TABLE capacity_hourly (
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    need        text NOT NULL,
    at          timestamptz NOT NULL,
    units       integer NOT NULL,
    staffed     bigint NOT NULL,
    occupied    bigint NOT NULL,
    blocked     bigint NOT NULL,
    available   bigint NOT NULL,
    PRIMARY KEY (need, facility_id, population, at)
);

-- Roll-ups built before have neither: the next refresh rebuilds them all (the figures are
-- computed from the records until then).
DELETE FROM report_rollup_state;
