-- Where the person waits for a bed, and who holds them (placements.waiting). A move is a
-- new row (the previous one ends when the next starts); admission or closing ends the
-- current one. The officer custody is the placement's: the agency, when an officer took
-- the person into custody and when the officer was released.
CREATE TABLE placement_waits (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    place         text NOT NULL CHECK (place IN ('emergency_department', 'jail', 'police_station',
                                                 'crisis_center', 'community')),
    -- The emergency department's facility, when it is one bedboard knows.
    facility_id   bigint REFERENCES facilities (id),
    started_at    timestamptz NOT NULL,
    ended_at      timestamptz,
    recorded_by   bigint REFERENCES users (id),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at IS NULL OR ended_at >= started_at),
    CHECK (facility_id IS NULL OR place = 'emergency_department')
);
CREATE UNIQUE INDEX placement_waits_current ON placement_waits (placement_id) WHERE ended_at IS NULL;
CREATE INDEX placement_waits_placement_idx ON placement_waits (placement_id, started_at);

ALTER TABLE placements
    ADD COLUMN custody_agency     text NOT NULL DEFAULT '' CHECK (length(custody_agency) <= 200),
    ADD COLUMN custody_started_at timestamptz,
    ADD COLUMN custody_ended_at   timestamptz,
    ADD CONSTRAINT placements_custody_order CHECK (
        custody_ended_at IS NULL
        OR (custody_started_at IS NOT NULL AND custody_ended_at >= custody_started_at));
