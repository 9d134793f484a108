-- Facility feeds: census arriving by itself from FHIR servers, HL7 v2 ADT feeds, CSV drops
-- and EDXL-HAVE documents.

CREATE TABLE feeds (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id       bigint NOT NULL REFERENCES facilities (id),
    kind              text NOT NULL CHECK (kind ~ '^[a-z0-9_]{1,20}$'),
    name              text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    config            jsonb NOT NULL DEFAULT '{}',
    -- Credentials; never shown back by the API or pages.
    secrets           jsonb NOT NULL DEFAULT '{}',
    enabled           boolean NOT NULL DEFAULT true,
    poll_interval_s   integer NOT NULL DEFAULT 300 CHECK (poll_interval_s BETWEEN 10 AND 86400),
    cursor            text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1
);
CREATE INDEX feeds_facility_idx ON feeds (facility_id);

-- The source's identifiers for the facility's units.
CREATE TABLE feed_mappings (
    feed_id    bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    source_id  text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 200),
    unit_id    bigint NOT NULL REFERENCES units (id),
    PRIMARY KEY (feed_id, source_id)
);

-- How each feed is doing.
CREATE TABLE feed_status (
    feed_id               bigint PRIMARY KEY REFERENCES feeds (id) ON DELETE CASCADE,
    state                 text NOT NULL DEFAULT 'new' CHECK (state IN ('new', 'ok', 'failing', 'stopped')),
    last_attempt_at       timestamptz,
    last_success_at       timestamptz,
    last_error            text,
    last_error_at         timestamptz,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    reports_applied       bigint NOT NULL DEFAULT 0,
    next_attempt_at       timestamptz
);

-- Identifiers the source sent that map to no unit: shown on the feed's page.
CREATE TABLE feed_unmapped (
    feed_id     bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    source_id   text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    times       bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (feed_id, source_id)
);

-- What a feed sent that could not be applied, with the reason.
CREATE TABLE feed_quarantine (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    feed_id      bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    received_at  timestamptz NOT NULL DEFAULT now(),
    location     text NOT NULL,
    reason       text NOT NULL,
    raw          text NOT NULL DEFAULT ''
);
CREATE INDEX feed_quarantine_feed_idx ON feed_quarantine (feed_id, id DESC);

-- HL7 v2: messages seen (duplicates are acknowledged, not applied twice) and bed state.
CREATE TABLE hl7_messages (
    sending_facility  text NOT NULL,
    control_id        text NOT NULL,
    feed_id           bigint REFERENCES feeds (id) ON DELETE CASCADE,
    received_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sending_facility, control_id)
);
CREATE INDEX hl7_messages_received_idx ON hl7_messages (received_at);

CREATE TABLE hl7_beds (
    feed_id        bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    bed            text NOT NULL,        -- point of care ^ room ^ bed
    point_of_care  text NOT NULL,        -- the unit, in the source's terms
    status         text NOT NULL CHECK (status IN ('O', 'U', 'C', 'H', 'I', 'K')),
    last_event_at  timestamptz NOT NULL,
    PRIMARY KEY (feed_id, bed)
);

-- A facility fed by a failing feed shows it on the board.
CREATE INDEX feed_status_state_idx ON feed_status (state);
