-- A message thread per referral (issue 14 §2): the liaisons and the referred facility
-- write to each other about one referral. The body is clinical free text, under the
-- clinical-notes rules (never in a log, an outbox payload, the timeline's data, the audit
-- trail's detail or a notification). Written by placements/messages.py only.
CREATE TABLE referral_messages (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id  bigint NOT NULL REFERENCES referrals (id),
    body         text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 4000),
    sent_by      bigint NOT NULL REFERENCES users (id),
    -- Which side wrote it: a liaison (or a supervisor, an administrator) or the facility.
    side         text NOT NULL CHECK (side IN ('liaison', 'facility')),
    sent_at      timestamptz NOT NULL DEFAULT now()
);
-- A thread in order: oldest first.
CREATE INDEX referral_messages_thread_idx ON referral_messages (referral_id, sent_at, id);
