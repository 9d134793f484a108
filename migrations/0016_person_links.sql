-- Repeat involvement without storing identity (placements.repeat). A liaison may enter a
-- person's full name and date of birth once; only an HMAC of their normalized form, keyed
-- by a server-side key kept outside the database (BEDBOARD_PERSON_LINK_KEY or
-- <data dir>/person_link_key), is stored. The raw values are never stored.
CREATE TABLE person_keys (
    placement_id  bigint PRIMARY KEY REFERENCES placements (id),
    person_key    bytea NOT NULL CHECK (octet_length(person_key) = 32),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_keys_key_idx ON person_keys (person_key);

-- A placement linked by a liaison to an earlier placement of the same person.
CREATE TABLE person_links (
    placement_id  bigint NOT NULL REFERENCES placements (id),
    earlier_id    bigint NOT NULL REFERENCES placements (id),
    linked_by     bigint REFERENCES users (id),
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (placement_id, earlier_id),
    CHECK (placement_id <> earlier_id)
);
CREATE INDEX person_links_earlier_idx ON person_links (earlier_id);
