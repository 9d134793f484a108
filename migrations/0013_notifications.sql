-- Notifications (issue 13 §1): one mechanism that reaches people who are not looking.
-- Events (referral arrived, referral answered, …) become delivery rows, one per recipient
-- and channel; a dispatcher sends them by email, signed webhook or in-app alert, retries
-- with backoff and dead-letters what keeps failing. Nothing here holds clinical or
-- personal text: a message carries a reference, a status, facility and unit names, a
-- deadline and a link to sign in.

-- A facility's own addresses that are not a person's account (the intake desk).
CREATE TABLE facility_contacts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id  bigint NOT NULL REFERENCES facilities (id),
    purpose      text NOT NULL DEFAULT 'intake' CHECK (purpose IN ('intake', 'census')),
    email        text NOT NULL DEFAULT ''
                   CHECK (email = '' OR (email = lower(email) AND email LIKE '%_@_%')),
    phone        text NOT NULL DEFAULT '' CHECK (length(phone) <= 40),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, purpose)
);

-- Signed webhooks (Standard Webhooks): an endpoint receives the events it lists, for one
-- facility's referrals or (facility_id NULL) the whole program's.
CREATE TABLE webhook_endpoints (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url          text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
    events       text[] NOT NULL CHECK (cardinality(events) >= 1),
    facility_id  bigint REFERENCES facilities (id),
    secret       text NOT NULL CHECK (secret LIKE 'whsec_%'),
    active       boolean NOT NULL DEFAULT true,
    created_by   bigint REFERENCES users (id),
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A user's choices: which channels for which event (events absent from the map use the
-- defaults of their role), and quiet hours in the program's local time.
CREATE TABLE notify_preferences (
    user_id      bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    channels     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(channels) = 'object'),
    quiet_start  time,
    quiet_end    time,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notify_preferences_quiet_both CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- One row per recipient and channel of an event. dedupe_key (event key + recipient +
-- channel) makes a repeated event enqueue nothing.
CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    dedupe_key      text NOT NULL UNIQUE,
    event           text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook', 'in_app')),
    user_id         bigint REFERENCES users (id) ON DELETE CASCADE,
    contact_id      bigint REFERENCES facility_contacts (id) ON DELETE CASCADE,
    endpoint_id     bigint REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    address         text NOT NULL DEFAULT '',
    message         jsonb NOT NULL,
    critical        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CONSTRAINT deliveries_one_recipient CHECK (
        num_nonnulls(user_id, contact_id, endpoint_id) = 1)
);
-- The dispatcher's scan: rows due to be tried.
CREATE INDEX deliveries_due_idx ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_status_idx ON deliveries (status, id);
-- The alert banner's read: a user's in-app alerts.
CREATE INDEX deliveries_in_app_idx ON deliveries (user_id, id) WHERE channel = 'in_app';

-- A user acknowledged an in-app alert (the banner's sound stops).
CREATE TABLE notify_acks (
    delivery_id  bigint PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    acked_at     timestamptz NOT NULL DEFAULT now()
);

-- The fan-in's position in the outbox. Starts at the current head, so an upgrade does not
-- mail the last two days' referrals.
CREATE TABLE notify_cursor (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq       bigint NOT NULL
);
INSERT INTO notify_cursor (seq) SELECT seq FROM outbox_counter;
