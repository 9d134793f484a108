-- After admission (issue 14 §4): discharge, follow-up tasks and the outpatient-commitment
-- path (placements.record for the discharge, placements.followups for the rest).

-- A placement admitted can be discharged: when, to what (the disposition), and a note
-- (clinical text, like the outcome note). Discharged is final. admitted_at stays, so the
-- reports keep counting it as admitted.
ALTER TABLE placements DROP CONSTRAINT placements_status_check;
ALTER TABLE placements
    ADD CONSTRAINT placements_status_check
        CHECK (status IN ('open', 'accepted', 'in_transit', 'admitted', 'discharged', 'closed')),
    ADD COLUMN discharged_at         timestamptz,
    ADD COLUMN discharge_disposition text CHECK (discharge_disposition IN (
                   'home_outpatient', 'outpatient_commitment', 'transfer', 'left_ama', 'other')),
    ADD COLUMN discharge_note        text NOT NULL DEFAULT ''
                   CHECK (length(discharge_note) <= 2000),
    ADD CONSTRAINT placements_discharged_has_disposition CHECK (
        (status = 'discharged') = (discharged_at IS NOT NULL AND discharge_disposition IS NOT NULL)),
    ADD CONSTRAINT placements_discharged_after_admission CHECK (
        discharged_at IS NULL OR (admitted_at IS NOT NULL AND discharged_at >= admitted_at));

-- A liaison's follow-up tasks on a placement ("call CMHC intake in 7 days"). The title and
-- the closing note are clinical text: never in a log, the timeline, the audit trail, an
-- outbox frame or a notification. ``due_all_day``: a due date without a time (due_at is
-- then the reminder's moment that day). ``reminded_at``: the reminder was enqueued.
CREATE TABLE placement_follow_ups (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    title         text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    due_at        timestamptz NOT NULL,
    due_all_day   boolean NOT NULL DEFAULT false,
    assignee_id   bigint NOT NULL REFERENCES users (id),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'done', 'cancelled')),
    note          text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    closed_by     bigint REFERENCES users (id),
    closed_at     timestamptz,
    reminded_at   timestamptz,
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX placement_follow_ups_placement_idx ON placement_follow_ups (placement_id, due_at);
CREATE INDEX placement_follow_ups_assignee_idx ON placement_follow_ups (assignee_id, due_at)
    WHERE status = 'open';
CREATE INDEX placement_follow_ups_remind_idx ON placement_follow_ups (due_at)
    WHERE status = 'open' AND reminded_at IS NULL;

-- The outpatient-commitment path (RSMo 632.330 / 632.355): the petition's court date and
-- the community mental health center (CMHC) responsible, by name (the directory has no
-- CMHCs). One per placement; recording it again changes it.
CREATE TABLE placement_commitments (
    placement_id  bigint PRIMARY KEY REFERENCES placements (id),
    court_date    date NOT NULL,
    cmhc_name     text NOT NULL CHECK (length(btrim(cmhc_name)) BETWEEN 1 AND 200),
    recorded_by   bigint REFERENCES users (id),
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
