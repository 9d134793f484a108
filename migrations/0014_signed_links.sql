-- Reaching people without a password (issue 13 §3 and §5): signed links for a court's
-- view of one placement and for a facility's census nudge, the nudges made, and each
-- court's calendar secret.

-- One row per signed link. The token itself is never stored: only its SHA-256, so a
-- reader of the database cannot open a link. `subject_id` is the placement
-- (court_status) or the facility (census_nudge).
CREATE TABLE signed_links (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose     text NOT NULL CHECK (purpose IN ('court_status', 'census_nudge')),
    subject_id  bigint NOT NULL,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    single_use  boolean NOT NULL,
    revoked_at  timestamptz,
    revoked_by  bigint REFERENCES users (id),
    used_at     timestamptz,
    token_hash  bytea NOT NULL UNIQUE,
    CHECK (expires_at > created_at)
);
CREATE INDEX signed_links_subject_idx ON signed_links (purpose, subject_id);

-- A nudge to a facility whose numbers became late: one row per attempt of one overdue
-- episode (`late_since`: when the facility's oldest unit report went past its cadence).
CREATE TABLE nudges (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id bigint NOT NULL REFERENCES facilities (id),
    late_since  timestamptz NOT NULL,
    attempt     integer NOT NULL CHECK (attempt >= 1),
    link_id     bigint NOT NULL REFERENCES signed_links (id),
    created_at  timestamptz NOT NULL,
    UNIQUE (facility_id, late_since, attempt)
);
CREATE INDEX nudges_facility_idx ON nudges (facility_id, created_at DESC);

-- A court's calendar feed secret (SHA-256 only; shown once to the administrator who
-- rotates it).
CREATE TABLE court_calendars (
    court_id    bigint PRIMARY KEY REFERENCES courts (id),
    secret_hash bytea NOT NULL UNIQUE,
    rotated_at  timestamptz NOT NULL,
    rotated_by  bigint REFERENCES users (id)
);
