-- Court-ordered placement requests: referrals, bed holds, timeline, links, notes, deadlines.

-- The legal rule set. Seeded with Missouri's civil commitment orders (RSMo chapter 632);
-- administrators may change deadline hours. A NULL deadline means no legal clock.
CREATE TABLE order_types (
    code            text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    label           text NOT NULL,
    statute         text NOT NULL DEFAULT '',
    deadline_hours  integer CHECK (deadline_hours BETWEEN 1 AND 24 * 400),
    court_ordered   boolean NOT NULL DEFAULT true,
    position        integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO order_types (code, label, statute, deadline_hours, court_ordered, position) VALUES
    ('emergency_96h', 'Emergency detention (up to 96 hours)', 'RSMo 632.305', 96, true, 1),
    ('petition_21_day', '21-day inpatient / 180-day outpatient petition', 'RSMo 632.330', 21 * 24, true, 2),
    ('petition_90_day', '90-day detention', 'RSMo 632.350', 90 * 24, true, 3),
    ('petition_1_year', 'Up to 1 year inpatient / 180 days outpatient', 'RSMo 632.355', 365 * 24, true, 4),
    ('voluntary', 'Voluntary (no court order)', '', NULL, false, 5);

CREATE SEQUENCE placement_reference_seq;

CREATE TABLE placements (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference           text NOT NULL UNIQUE,
    order_type          text NOT NULL REFERENCES order_types (code),
    court_id            bigint REFERENCES courts (id),
    case_number         text NOT NULL DEFAULT '',
    detention_start     timestamptz NOT NULL,
    deadline_at         timestamptz,
    county_fips         text NOT NULL REFERENCES counties (fips),
    -- The person, to the minimum necessary.
    person_initials     text NOT NULL CHECK (person_initials ~ '^[A-Z]{1,4}$'),
    person_birth_year   integer CHECK (person_birth_year BETWEEN 1900 AND 2100),
    person_age          integer CHECK (person_age BETWEEN 0 AND 130),
    person_sex          text NOT NULL CHECK (person_sex IN ('female', 'male', 'other', 'unknown')),
    -- Needs, as bed search takes them.
    population          text NOT NULL CHECK (population IN ('adult', 'adolescent', 'child', 'geriatric')),
    gender              text CHECK (gender IN ('male', 'female')),
    specialties         text[] NOT NULL DEFAULT '{}',
    security_level      text CHECK (security_level IN ('open', 'standard', 'secure', 'forensic')),
    involuntary         boolean NOT NULL DEFAULT true,
    payer               text,
    clinical_notes      text NOT NULL DEFAULT '',
    liaison_id          bigint REFERENCES users (id),
    requesting_agency   text NOT NULL DEFAULT '',
    requesting_officer  text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'accepted', 'in_transit', 'admitted', 'closed')),
    outcome             text CHECK (outcome IN ('released', 'withdrawn', 'order_expired',
                                                'diverted_outpatient', 'other')),
    outcome_note        text NOT NULL DEFAULT '',
    accepted_referral_id bigint,
    created_by          bigint REFERENCES users (id),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    accepted_at         timestamptz,
    admitted_at         timestamptz,
    closed_at           timestamptz,
    version             integer NOT NULL DEFAULT 1,
    CONSTRAINT placements_closed_has_outcome CHECK ((status = 'closed') = (outcome IS NOT NULL)),
    CONSTRAINT placements_court_order_has_court CHECK (order_type = 'voluntary' OR court_id IS NOT NULL)
);
CREATE INDEX placements_status_idx ON placements (status);
CREATE INDEX placements_court_case_idx ON placements (court_id, case_number);
CREATE INDEX placements_liaison_idx ON placements (liaison_id) WHERE status NOT IN ('admitted', 'closed');
CREATE INDEX placements_deadline_idx ON placements (deadline_at) WHERE status NOT IN ('admitted', 'closed');

CREATE TABLE referrals (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id     bigint NOT NULL REFERENCES placements (id),
    unit_id          bigint NOT NULL REFERENCES units (id),
    status           text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'accepted', 'declined', 'withdrawn', 'expired')),
    decline_reason   text CHECK (decline_reason IN (
                       'no_bed', 'acuity', 'medical_complexity', 'aggression_safety', 'age_gender_mismatch',
                       'payer', 'developmental_disability', 'substance_use', 'legal_status', 'staffing',
                       'other')),
    decline_note     text NOT NULL DEFAULT '',
    hold_active      boolean NOT NULL DEFAULT false,
    hold_expires_at  timestamptz,
    created_by       bigint REFERENCES users (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    responded_by     bigint REFERENCES users (id),
    responded_at     timestamptz,
    CONSTRAINT referrals_decline_has_reason CHECK ((status = 'declined') = (decline_reason IS NOT NULL)),
    CONSTRAINT referrals_hold_only_when_accepted CHECK (NOT hold_active OR status = 'accepted')
);
CREATE UNIQUE INDEX referrals_one_open_per_unit ON referrals (placement_id, unit_id)
    WHERE status IN ('pending', 'accepted');
CREATE INDEX referrals_unit_idx ON referrals (unit_id, status);
CREATE INDEX referrals_placement_idx ON referrals (placement_id);
CREATE INDEX referrals_hold_expiry_idx ON referrals (hold_expires_at) WHERE hold_active;

ALTER TABLE placements ADD CONSTRAINT placements_accepted_referral_fk
    FOREIGN KEY (accepted_referral_id) REFERENCES referrals (id);

-- The last bed: a hold is a conditional UPDATE (... WHERE available - held > 0); this
-- constraint makes the database itself refuse a hold beyond the beds available.
ALTER TABLE unit_census ADD CONSTRAINT unit_census_holds_within_available CHECK (held <= available);

-- Every change to a placement, append-only: its timeline.
CREATE TABLE placement_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_id      bigint REFERENCES users (id),
    actor         text NOT NULL,
    kind          text NOT NULL,
    from_state    text,
    to_state      text,
    data          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX placement_events_placement_idx ON placement_events (placement_id, id);

CREATE TRIGGER placement_events_no_update_delete
    BEFORE UPDATE OR DELETE ON placement_events
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER placement_events_no_truncate
    BEFORE TRUNCATE ON placement_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE placement_links (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    system        text NOT NULL CHECK (length(btrim(system)) BETWEEN 1 AND 100),
    external_id   text NOT NULL DEFAULT '',
    url           text NOT NULL CHECK (url ~ '^https?://'),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placement_links_placement_idx ON placement_links (placement_id);

CREATE TABLE placement_notes (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    body          text NOT NULL CHECK (length(btrim(body)) BETWEEN 1 AND 10000),
    author_id     bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX placement_notes_placement_idx ON placement_notes (placement_id);

-- Deadline alerts raised (each point once per placement).
CREATE TABLE placement_alerts (
    placement_id  bigint NOT NULL REFERENCES placements (id),
    point         text NOT NULL,
    raised_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (placement_id, point)
);

-- Idempotency-Key for POST /api/v1/placements: the first answer is replayed.
CREATE TABLE idempotency_keys (
    user_id       bigint NOT NULL REFERENCES users (id),
    key           text NOT NULL,
    request_hash  text NOT NULL,
    status        integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
