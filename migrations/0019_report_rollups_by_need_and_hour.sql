-- The report roll-ups (0009) by need, and by the hour (issue 12).
--
-- By need: a group is a facility's active units of one age group (need '') or, of those,
-- the units that serve one need (need: a specialty code), so a needs filter reads the
-- roll-ups too instead of every census report of its period. Each table is partitioned
-- by need: a figure without a needs filter reads the '' partition only, one with a needs
-- filter the other; neither scans the other's rows.
--
-- By the hour (capacity_hourly): the capacity-by-hour-of-week figure's roll-up. For each
-- group, the change in the beds in force at each top of the hour where they changed. A
-- unit's report takes effect at the first top of the hour at or after its as_of (several
-- in one hour: the last); a unit's first report also adds it to the units reported. The
-- beds in force at an instant are the sum of the changes up to it, so the figure reads a
-- year of hours from these rows without the census history.
--
-- Written only by bedboard/reports/rollups.py, in the zone of report_rollup_state. The
-- rows are derived, so the tables are made again empty and the next refresh rebuilds
-- them all (the figures are computed from the records until then).

DELETE FROM report_rollup_state;
DELETE FROM report_rollup_groups;
ALTER TABLE report_rollup_groups ADD COLUMN need text NOT NULL;
ALTER TABLE report_rollup_groups DROP CONSTRAINT report_rollup_groups_pkey,
    ADD PRIMARY KEY (facility_id, population, need);

DROP TABLE capacity_daily;
CREATE TABLE capacity_daily (
    day         date NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    need        text NOT NULL,
    units       integer NOT NULL,
    staffed     bigint,
    occupied    bigint,
    blocked     bigint,
    available   bigint,
    PRIMARY KEY (day, facility_id, population, need)
) PARTITION BY LIST (need);
CREATE TABLE capacity_daily_all PARTITION OF capacity_daily FOR VALUES IN ('');
CREATE TABLE capacity_daily_by_need PARTITION OF capacity_daily DEFAULT;

DROP TABLE compliance_daily;
CREATE TABLE compliance_daily (
    day         date NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    need        text NOT NULL,
    fresh_s     double precision NOT NULL,
    late_s      double precision NOT NULL,
    stale_s     double precision NOT NULL,
    paths       text[] NOT NULL,
    PRIMARY KEY (day, facility_id, population, need)
) PARTITION BY LIST (need);
CREATE TABLE compliance_daily_all PARTITION OF compliance_daily FOR VALUES IN ('');
CREATE TABLE compliance_daily_by_need PARTITION OF compliance_daily DEFAULT;

DROP TABLE compliance_overdue;
CREATE TABLE compliance_overdue (
    need        text NOT NULL,
    unit_id     bigint NOT NULL,
    as_of       timestamptz NOT NULL,
    facility_id bigint NOT NULL,
    population  text NOT NULL,
    began_at    timestamptz NOT NULL,
    ended_at    timestamptz,
    PRIMARY KEY (need, unit_id, as_of)
) PARTITION BY LIST (need);
CREATE TABLE compliance_overdue_all PARTITION OF compliance_overdue FOR VALUES IN ('');
CREATE TABLE compliance_overdue_by_need PARTITION OF compliance_overdue DEFAULT;
CREATE INDEX compliance_overdue_began_idx ON compliance_overdue (began_at);
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
) PARTITION BY LIST (need);
CREATE TABLE capacity_hourly_all PARTITION OF capacity_hourly FOR VALUES IN ('');
CREATE TABLE capacity_hourly_by_need PARTITION OF capacity_hourly DEFAULT;
