-- Foundation: reference data, facilities and units, courts, identity, audit.

CREATE TABLE counties (
    fips        text PRIMARY KEY CHECK (fips ~ '^[0-9]{5}$'),
    name        text NOT NULL,
    state       text NOT NULL DEFAULT 'MO',
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180)
);

CREATE TABLE facilities (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    kind            text NOT NULL CHECK (kind IN (
                        'psychiatric_hospital', 'general_hospital', 'state_hospital',
                        'crisis_stabilization', 'residential_treatment')),
    address         text NOT NULL DEFAULT '',
    city            text NOT NULL DEFAULT '',
    county_fips     text NOT NULL REFERENCES counties (fips),
    latitude        double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude       double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    phone_main      text NOT NULL DEFAULT '',
    phone_intake    text NOT NULL DEFAULT '',
    active          boolean NOT NULL DEFAULT true,
    report_cadence_minutes integer NOT NULL DEFAULT 720 CHECK (report_cadence_minutes BETWEEN 5 AND 10080),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX facilities_name_key ON facilities (lower(name));
CREATE INDEX facilities_county_idx ON facilities (county_fips);

CREATE TABLE units (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id           bigint NOT NULL REFERENCES facilities (id),
    name                  text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    population            text NOT NULL CHECK (population IN ('adult', 'adolescent', 'child', 'geriatric')),
    gender                text NOT NULL DEFAULT 'any' CHECK (gender IN ('male', 'female', 'any')),
    security_level        text NOT NULL DEFAULT 'standard'
                            CHECK (security_level IN ('open', 'standard', 'secure', 'forensic')),
    specialties           text[] NOT NULL DEFAULT '{}',
    accepts_involuntary   boolean NOT NULL DEFAULT true,
    accepts_court_ordered boolean NOT NULL DEFAULT true,
    payers                text[] NOT NULL DEFAULT '{}',
    licensed_beds         integer NOT NULL CHECK (licensed_beds BETWEEN 0 AND 2000),
    active                boolean NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    version               integer NOT NULL DEFAULT 1,
    UNIQUE (facility_id, name)
);
CREATE INDEX units_facility_idx ON units (facility_id);

CREATE TABLE courts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    circuit     integer NOT NULL CHECK (circuit BETWEEN 1 AND 99),
    county_fips text NOT NULL REFERENCES counties (fips),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     integer NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX courts_name_key ON courts (lower(name));

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email               text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    display_name        text NOT NULL DEFAULT '',
    role                text NOT NULL CHECK (role IN ('admin', 'liaison', 'facility', 'court', 'viewer')),
    password_hash       text,
    court_id            bigint REFERENCES courts (id),
    disabled            boolean NOT NULL DEFAULT false,
    password_changed_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    version             integer NOT NULL DEFAULT 1,
    CONSTRAINT users_court_scope CHECK ((role = 'court') = (court_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE user_facilities (
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    facility_id bigint NOT NULL REFERENCES facilities (id),
    PRIMARY KEY (user_id, facility_id)
);
CREATE INDEX user_facilities_facility_idx ON user_facilities (facility_id);

-- Browser sessions. Only a SHA-256 of the cookie value is stored.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    remote_addr  text,
    user_agent   text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- API tokens. Only a SHA-256 of the secret is stored; the prefix identifies it in lists.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed logins, for throttling across every instance.
CREATE TABLE login_failures (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text NOT NULL,
    remote_addr text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_email_idx ON login_failures (email, at);
CREATE INDEX login_failures_addr_idx ON login_failures (remote_addr, at);

-- Append-only audit trail. The trigger below makes the database refuse changes to it.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id    bigint,
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text NOT NULL DEFAULT '',
    object_id   text NOT NULL DEFAULT '',
    outcome     text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    remote_addr text,
    request_id  text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_object_idx ON audit_log (object_type, object_id);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- Who a user is for access decisions: role plus scope, in one row.
CREATE VIEW principals AS
SELECT u.id AS user_id, u.email, u.display_name, u.role, u.court_id, u.disabled, u.password_hash,
       COALESCE((SELECT array_agg(uf.facility_id ORDER BY uf.facility_id)
                   FROM user_facilities uf WHERE uf.user_id = u.id), '{}') AS facility_ids
  FROM users u;
