-- No-bed records (after Washington's RCW 71.05.750 reports): each time a court-ordered
-- placement could not be placed, a snapshot of what was known then, for the program's
-- aggregate reporting. Written only by bedboard/nobed.py.
--
-- A record is made once per placement and trigger:
--   declared         a liaison declared "no bed found" for an open placement;
--   deadline_passed  the legal deadline passed before the person was admitted;
--   closed           a court-ordered placement (the order type is court-ordered or has a
--                    deadline) closed as order_expired or released, never admitted.
--
-- The snapshot holds no person-level text: no initials, case number, notes or decline
-- notes. placement_id links the record to its placement and is never shown in
-- aggregates. Rows are immutable (a correction would be a new row).
CREATE TABLE no_bed_reports (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id   bigint NOT NULL REFERENCES placements (id),
    trigger        text NOT NULL CHECK (trigger IN ('declared', 'deadline_passed', 'closed')),
    -- When the row was written (database clock) and when what it records happened: the
    -- declaration, the deadline itself, the closing. Aggregates count by occurred_at.
    created_at     timestamptz NOT NULL DEFAULT now(),
    occurred_at    timestamptz NOT NULL,
    county_fips    text NOT NULL REFERENCES counties (fips),
    order_type     text NOT NULL REFERENCES order_types (code),
    age_band       text NOT NULL
                     CHECK (age_band IN ('0-11', '12-17', '18-25', '26-44', '45-64', '65+', 'unknown')),
    payer          text,
    outcome        text CHECK (outcome IN ('released', 'order_expired')),
    -- Hours from the detention start to occurred_at.
    elapsed_hours  numeric(10, 2) NOT NULL,
    -- [{"facility_id", "name"}] of every facility referred, by id.
    referred       jsonb NOT NULL CHECK (jsonb_typeof(referred) = 'array'),
    -- [{"facility_id", "name", "reason"}], one per declined referral, in referral order.
    declined       jsonb NOT NULL CHECK (jsonb_typeof(declined) = 'array'),
    CONSTRAINT no_bed_reports_once_per_trigger UNIQUE (placement_id, trigger),
    CONSTRAINT no_bed_reports_outcome_only_when_closed CHECK ((trigger = 'closed') = (outcome IS NOT NULL))
);
CREATE INDEX no_bed_reports_occurred_idx ON no_bed_reports (occurred_at);

CREATE FUNCTION no_bed_reports_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no_bed_reports is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER no_bed_reports_no_update_delete
    BEFORE UPDATE OR DELETE ON no_bed_reports
    FOR EACH ROW EXECUTE FUNCTION no_bed_reports_refuse_change();
CREATE TRIGGER no_bed_reports_no_truncate
    BEFORE TRUNCATE ON no_bed_reports
    FOR EACH STATEMENT EXECUTE FUNCTION no_bed_reports_refuse_change();
