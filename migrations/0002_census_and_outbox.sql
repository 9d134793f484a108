-- Live bed board: current census per unit, its history, freshness state, and the outbox.

-- The current census of each unit. `available` is derived from staffed/occupied/blocked,
-- or reported directly; `held` counts beds held by accepted placements. Beds free for a
-- new placement: GREATEST(available - held, 0).
CREATE TABLE unit_census (
    unit_id      bigint PRIMARY KEY REFERENCES units (id),
    staffed      integer CHECK (staffed BETWEEN 0 AND 2000),
    occupied     integer CHECK (occupied BETWEEN 0 AND 2000),
    blocked      integer NOT NULL DEFAULT 0 CHECK (blocked BETWEEN 0 AND 2000),
    available    integer NOT NULL CHECK (available BETWEEN 0 AND 2000),
    held         integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    as_of        timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    source       text NOT NULL,
    reported_by  bigint REFERENCES users (id),
    CONSTRAINT unit_census_occupied_le_staffed CHECK (occupied IS NULL OR occupied <= staffed),
    CONSTRAINT unit_census_blocked_fits CHECK (staffed IS NULL OR blocked <= staffed - occupied),
    CONSTRAINT unit_census_counts_together CHECK ((staffed IS NULL) = (occupied IS NULL))
);

-- Every applied report, for trends and audits.
CREATE TABLE census_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id     bigint NOT NULL REFERENCES units (id),
    staffed     integer,
    occupied    integer,
    blocked     integer NOT NULL,
    available   integer NOT NULL,
    as_of       timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    source      text NOT NULL,
    reported_by bigint REFERENCES users (id)
);
CREATE INDEX census_history_unit_as_of_idx ON census_history (unit_id, as_of);

-- The last freshness state published for each unit, so changes are published once.
CREATE TABLE unit_freshness (
    unit_id    bigint PRIMARY KEY REFERENCES units (id),
    state      text NOT NULL CHECK (state IN ('fresh', 'late', 'stale', 'never')),
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- Outbox: every change others should see, in commit order. `seq` comes from the one-row
-- counter below, updated in the writing transaction: the row lock makes writers take
-- sequence numbers in the order they commit, so a reader of `seq > last` never skips a
-- row that commits late.
CREATE TABLE outbox_counter (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint NOT NULL
);
INSERT INTO outbox_counter (seq) VALUES (0);

CREATE TABLE board_outbox (
    seq     bigint PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    topic   text NOT NULL,
    payload jsonb NOT NULL
);
CREATE INDEX board_outbox_at_idx ON board_outbox (at);

-- Search: filter units by population and facility location quickly.
CREATE INDEX units_population_idx ON units (population) WHERE active;
CREATE INDEX facilities_lat_lon_idx ON facilities (latitude, longitude) WHERE active;
