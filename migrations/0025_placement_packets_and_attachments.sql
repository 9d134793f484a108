-- The referral packet (issue 14 §2): what a receiving unit asks for first, and the
-- documents sent with a referral (placements.packet, placements.attachments).

-- One packet per placement; every field optional (NULL: not recorded). The text fields
-- are clinical: never in a log, the timeline, the audit trail or an outbox frame. The
-- legal status itself is the placement's order type; ``legal_note`` adds to it.
CREATE TABLE placement_packets (
    placement_id          bigint PRIMARY KEY REFERENCES placements (id),
    medical_clearance     boolean,
    medical_clearance_at  timestamptz,
    toxicology            text CHECK (length(toxicology) <= 2000),
    recent_aggression     boolean,
    aggression_note       text CHECK (length(aggression_note) <= 2000),
    medications_given     text CHECK (length(medications_given) <= 2000),
    legal_note            text CHECK (length(legal_note) <= 2000),
    order_copy_received   boolean,
    pregnancy             text CHECK (pregnancy IN ('yes', 'no', 'unknown', 'not_applicable')),
    mobility_needs        text CHECK (length(mobility_needs) <= 2000),
    updated_by            bigint REFERENCES users (id),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- Documents attached to a placement: a PDF or an image, its media type detected from the
-- content. ``content`` is AES-GCM ciphertext (a 12-byte nonce, then the ciphertext and
-- tag) under a key kept outside the database (BEDBOARD_ATTACHMENT_KEY or
-- <data dir>/attachment_key). Removal keeps the row (who, when) and wipes the content.
CREATE TABLE placement_attachments (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    file_name     text NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    media_type    text NOT NULL CHECK (media_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes    bigint NOT NULL CHECK (size_bytes > 0),
    content       bytea,
    uploaded_by   bigint REFERENCES users (id),
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    removed_by    bigint REFERENCES users (id),
    removed_at    timestamptz,
    CHECK ((removed_at IS NULL) = (content IS NOT NULL))
);
CREATE INDEX placement_attachments_placement_idx ON placement_attachments (placement_id, id);
