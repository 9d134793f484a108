-- Corrections of no-bed records (bedboard issue 12): the snapshot in no_bed_reports stays
-- as it was frozen; a correction is a new row here. Written only by bedboard/nobed.py.
--
--   retract  the record is not a no-bed (entered in error, admitted elsewhere): the
--            aggregates leave it out;
--   amend    the snapshot's coded fields as corrected. Each amendment carries the whole
--            corrected set (county, order type, age band, payer), so it stands alone.
--
-- A correction of a correction is simply a later row: for each record, the row with the
-- highest id wins (rows of one record are written under the record's row lock, so id
-- order is the order they were made in). Only codes, never free text: nothing clinical.
CREATE TABLE no_bed_corrections (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The record corrected. Not a FOREIGN KEY: a table referenced by one cannot be
    -- TRUNCATEd, and PostgreSQL says so before no_bed_reports' own trigger can refuse
    -- with 'append-only'. Records are never deleted, so the insert trigger below (the
    -- record must exist) is all a key would check.
    no_bed_report_id  bigint NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    corrected_by      bigint NOT NULL REFERENCES users (id),
    kind              text NOT NULL CHECK (kind IN ('retract', 'amend')),
    reason            text NOT NULL
                        CHECK (reason IN ('entered_in_error', 'wrong_county', 'wrong_order_type',
                                          'admitted_elsewhere', 'other')),
    county_fips       text REFERENCES counties (fips),
    order_type        text REFERENCES order_types (code),
    age_band          text
                        CHECK (age_band IN ('0-11', '12-17', '18-25', '26-44', '45-64', '65+', 'unknown')),
    payer             text,
    -- A retraction changes no field; an amendment names every coded field (payer may be
    -- NULL: not recorded).
    CONSTRAINT no_bed_corrections_fields_by_kind CHECK (
        CASE kind
            WHEN 'retract' THEN county_fips IS NULL AND order_type IS NULL
                                AND age_band IS NULL AND payer IS NULL
            ELSE county_fips IS NOT NULL AND order_type IS NOT NULL AND age_band IS NOT NULL
        END),
    CONSTRAINT no_bed_corrections_reason_by_kind CHECK (
        CASE kind
            WHEN 'retract' THEN reason IN ('entered_in_error', 'admitted_elsewhere', 'other')
            ELSE reason IN ('entered_in_error', 'wrong_county', 'wrong_order_type', 'other')
        END)
);
CREATE INDEX no_bed_corrections_report_idx ON no_bed_corrections (no_bed_report_id, id);

CREATE FUNCTION no_bed_corrections_check_report() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM no_bed_reports WHERE id = NEW.no_bed_report_id) THEN
        RAISE EXCEPTION 'no_bed_corrections: no no-bed record %', NEW.no_bed_report_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER no_bed_corrections_report_exists
    BEFORE INSERT ON no_bed_corrections
    FOR EACH ROW EXECUTE FUNCTION no_bed_corrections_check_report();

CREATE FUNCTION no_bed_corrections_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'no_bed_corrections is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER no_bed_corrections_no_update_delete
    BEFORE UPDATE OR DELETE ON no_bed_corrections
    FOR EACH ROW EXECUTE FUNCTION no_bed_corrections_refuse_change();
CREATE TRIGGER no_bed_corrections_no_truncate
    BEFORE TRUNCATE ON no_bed_corrections
    FOR EACH STATEMENT EXECUTE FUNCTION no_bed_corrections_refuse_change();
