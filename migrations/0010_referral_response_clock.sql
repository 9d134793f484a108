-- The referral response clock (issue 13 §4): a facility acknowledges ("we are reviewing")
-- or asks the liaison a question before it answers; each facility has a response target;
-- a referral nobody answered expires after the program's expiry hours.

-- The facility's response target: a pending referral older than this shows "no answer for
-- N min" to the liaison. Set by administrators.
ALTER TABLE facilities
    ADD COLUMN response_target_minutes integer NOT NULL DEFAULT 30
        CHECK (response_target_minutes BETWEEN 5 AND 1440);

ALTER TABLE referrals DROP CONSTRAINT referrals_status_check;
ALTER TABLE referrals ADD CONSTRAINT referrals_status_check
    CHECK (status IN ('pending', 'acknowledged', 'info_requested', 'accepted', 'declined',
                      'withdrawn', 'expired'));

ALTER TABLE referrals
    -- "We are reviewing": the first acknowledgement (kept when a question follows).
    ADD COLUMN acknowledged_at    timestamptz,
    ADD COLUMN acknowledged_by    bigint REFERENCES users (id),
    -- The latest question asked and the latest answer given (the texts are in
    -- referral_questions, under the clinical-notes rules).
    ADD COLUMN info_requested_at  timestamptz,
    ADD COLUMN info_answered_at   timestamptz,
    -- The facility's first answer of any kind: acknowledged, a question, accepted or
    -- declined (never a withdrawal or an expiry). Set once.
    ADD COLUMN first_response_at  timestamptz,
    -- Expired by the clock because nobody at the facility answered.
    ADD COLUMN unanswered_expired_at timestamptz;

DROP INDEX referrals_one_open_per_unit;
CREATE UNIQUE INDEX referrals_one_open_per_unit ON referrals (placement_id, unit_id)
    WHERE status IN ('pending', 'acknowledged', 'info_requested', 'accepted');
-- The clock's and the nudges' scan: referrals nobody has answered yet.
CREATE INDEX referrals_unanswered_idx ON referrals (created_at) WHERE status = 'pending';

-- A facility's question about a referral and the liaison's answer: clinical free text,
-- read and written under the same rules as a placement's clinical notes (never in a log,
-- an outbox payload, the timeline's data or the audit trail's detail).
CREATE TABLE referral_questions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id  bigint NOT NULL REFERENCES referrals (id),
    question     text NOT NULL CHECK (length(btrim(question)) BETWEEN 1 AND 2000),
    asked_by     bigint REFERENCES users (id),
    asked_at     timestamptz NOT NULL DEFAULT now(),
    answer       text CHECK (answer IS NULL OR length(btrim(answer)) BETWEEN 1 AND 4000),
    answered_by  bigint REFERENCES users (id),
    answered_at  timestamptz,
    CONSTRAINT referral_questions_answer_has_time CHECK ((answer IS NULL) = (answered_at IS NULL))
);
CREATE INDEX referral_questions_referral_idx ON referral_questions (referral_id, id);
-- One open question per referral at a time.
CREATE UNIQUE INDEX referral_questions_one_open ON referral_questions (referral_id)
    WHERE answered_at IS NULL;

-- Response-target nudges claimed (each threshold once per referral), for the notifier.
CREATE TABLE referral_nudges (
    referral_id  bigint NOT NULL REFERENCES referrals (id),
    threshold    text NOT NULL,
    raised_at    timestamptz NOT NULL,
    PRIMARY KEY (referral_id, threshold)
);
