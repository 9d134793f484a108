CREATE FUNCTION public.audit_log_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION public.bump_directory_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE directory_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.bump_feed_routing_version() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    UPDATE feed_routing_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE FUNCTION public.no_bed_corrections_check_report() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM no_bed_reports WHERE id = NEW.no_bed_report_id) THEN
        RAISE EXCEPTION 'no_bed_corrections: no no-bed record %', NEW.no_bed_report_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE FUNCTION public.no_bed_corrections_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'no_bed_corrections is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE FUNCTION public.no_bed_reports_refuse_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    RAISE EXCEPTION 'no_bed_reports is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TABLE public.api_tokens (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    name text DEFAULT ''::text NOT NULL,
    prefix text NOT NULL,
    token_hash bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_used_at timestamp with time zone,
    revoked_at timestamp with time zone
);

ALTER TABLE public.api_tokens ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.api_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.audit_log (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor_id bigint,
    actor text NOT NULL,
    action text NOT NULL,
    object_type text DEFAULT ''::text NOT NULL,
    object_id text DEFAULT ''::text NOT NULL,
    outcome text NOT NULL,
    remote_addr text,
    request_id text,
    detail jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT audit_log_outcome_check CHECK ((outcome = ANY (ARRAY['success'::text, 'failure'::text, 'denied'::text])))
);

ALTER TABLE public.audit_log ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.audit_log_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.board_outbox (
    seq bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    topic text NOT NULL,
    payload jsonb NOT NULL
);

CREATE TABLE public.capacity_daily (
    day date NOT NULL,
    facility_id bigint NOT NULL,
    population text NOT NULL,
    need text NOT NULL,
    units integer NOT NULL,
    staffed bigint,
    occupied bigint,
    blocked bigint,
    available bigint
)
PARTITION BY LIST (need);

CREATE TABLE public.capacity_daily_all (
    day date CONSTRAINT capacity_daily_day_not_null NOT NULL,
    facility_id bigint CONSTRAINT capacity_daily_facility_id_not_null NOT NULL,
    population text CONSTRAINT capacity_daily_population_not_null NOT NULL,
    need text CONSTRAINT capacity_daily_need_not_null NOT NULL,
    units integer CONSTRAINT capacity_daily_units_not_null NOT NULL,
    staffed bigint,
    occupied bigint,
    blocked bigint,
    available bigint
);

CREATE TABLE public.capacity_daily_by_need (
    day date CONSTRAINT capacity_daily_day_not_null NOT NULL,
    facility_id bigint CONSTRAINT capacity_daily_facility_id_not_null NOT NULL,
    population text CONSTRAINT capacity_daily_population_not_null NOT NULL,
    need text CONSTRAINT capacity_daily_need_not_null NOT NULL,
    units integer CONSTRAINT capacity_daily_units_not_null NOT NULL,
    staffed bigint,
    occupied bigint,
    blocked bigint,
    available bigint
);

CREATE TABLE public.capacity_hourly (
    facility_id bigint NOT NULL,
    population text NOT NULL,
    need text NOT NULL,
    at timestamp with time zone NOT NULL,
    units integer NOT NULL,
    staffed bigint NOT NULL,
    occupied bigint NOT NULL,
    blocked bigint NOT NULL,
    available bigint NOT NULL
)
PARTITION BY LIST (need);

CREATE TABLE public.capacity_hourly_all (
    facility_id bigint CONSTRAINT capacity_hourly_facility_id_not_null NOT NULL,
    population text CONSTRAINT capacity_hourly_population_not_null NOT NULL,
    need text CONSTRAINT capacity_hourly_need_not_null NOT NULL,
    at timestamp with time zone CONSTRAINT capacity_hourly_at_not_null NOT NULL,
    units integer CONSTRAINT capacity_hourly_units_not_null NOT NULL,
    staffed bigint CONSTRAINT capacity_hourly_staffed_not_null NOT NULL,
    occupied bigint CONSTRAINT capacity_hourly_occupied_not_null NOT NULL,
    blocked bigint CONSTRAINT capacity_hourly_blocked_not_null NOT NULL,
    available bigint CONSTRAINT capacity_hourly_available_not_null NOT NULL
);

CREATE TABLE public.capacity_hourly_by_need (
    facility_id bigint CONSTRAINT capacity_hourly_facility_id_not_null NOT NULL,
    population text CONSTRAINT capacity_hourly_population_not_null NOT NULL,
    need text CONSTRAINT capacity_hourly_need_not_null NOT NULL,
    at timestamp with time zone CONSTRAINT capacity_hourly_at_not_null NOT NULL,
    units integer CONSTRAINT capacity_hourly_units_not_null NOT NULL,
    staffed bigint CONSTRAINT capacity_hourly_staffed_not_null NOT NULL,
    occupied bigint CONSTRAINT capacity_hourly_occupied_not_null NOT NULL,
    blocked bigint CONSTRAINT capacity_hourly_blocked_not_null NOT NULL,
    available bigint CONSTRAINT capacity_hourly_available_not_null NOT NULL
);

CREATE TABLE public.census_history (
    id bigint NOT NULL,
    unit_id bigint NOT NULL,
    staffed integer,
    occupied integer,
    blocked integer NOT NULL,
    available integer NOT NULL,
    as_of timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    source text NOT NULL,
    reported_by bigint
);

ALTER TABLE public.census_history ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.census_history_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.census_phone_checks (
    id bigint NOT NULL,
    facility_id bigint NOT NULL,
    unit_id bigint,
    observed_at timestamp with time zone DEFAULT now() NOT NULL,
    recorded_by bigint,
    placement_id bigint,
    source text DEFAULT 'phone'::text NOT NULL,
    CONSTRAINT census_phone_checks_source_check CHECK ((source = 'phone'::text))
);

ALTER TABLE public.census_phone_checks ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.census_phone_checks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.compliance_daily (
    day date NOT NULL,
    facility_id bigint NOT NULL,
    population text NOT NULL,
    need text NOT NULL,
    fresh_s double precision NOT NULL,
    late_s double precision NOT NULL,
    stale_s double precision NOT NULL,
    paths text[] NOT NULL
)
PARTITION BY LIST (need);

CREATE TABLE public.compliance_daily_all (
    day date CONSTRAINT compliance_daily_day_not_null NOT NULL,
    facility_id bigint CONSTRAINT compliance_daily_facility_id_not_null NOT NULL,
    population text CONSTRAINT compliance_daily_population_not_null NOT NULL,
    need text CONSTRAINT compliance_daily_need_not_null NOT NULL,
    fresh_s double precision CONSTRAINT compliance_daily_fresh_s_not_null NOT NULL,
    late_s double precision CONSTRAINT compliance_daily_late_s_not_null NOT NULL,
    stale_s double precision CONSTRAINT compliance_daily_stale_s_not_null NOT NULL,
    paths text[] CONSTRAINT compliance_daily_paths_not_null NOT NULL
);

CREATE TABLE public.compliance_daily_by_need (
    day date CONSTRAINT compliance_daily_day_not_null NOT NULL,
    facility_id bigint CONSTRAINT compliance_daily_facility_id_not_null NOT NULL,
    population text CONSTRAINT compliance_daily_population_not_null NOT NULL,
    need text CONSTRAINT compliance_daily_need_not_null NOT NULL,
    fresh_s double precision CONSTRAINT compliance_daily_fresh_s_not_null NOT NULL,
    late_s double precision CONSTRAINT compliance_daily_late_s_not_null NOT NULL,
    stale_s double precision CONSTRAINT compliance_daily_stale_s_not_null NOT NULL,
    paths text[] CONSTRAINT compliance_daily_paths_not_null NOT NULL
);

CREATE TABLE public.compliance_overdue (
    need text NOT NULL,
    unit_id bigint NOT NULL,
    as_of timestamp with time zone NOT NULL,
    facility_id bigint NOT NULL,
    population text NOT NULL,
    began_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone
)
PARTITION BY LIST (need);

CREATE TABLE public.compliance_overdue_all (
    need text CONSTRAINT compliance_overdue_need_not_null NOT NULL,
    unit_id bigint CONSTRAINT compliance_overdue_unit_id_not_null NOT NULL,
    as_of timestamp with time zone CONSTRAINT compliance_overdue_as_of_not_null NOT NULL,
    facility_id bigint CONSTRAINT compliance_overdue_facility_id_not_null NOT NULL,
    population text CONSTRAINT compliance_overdue_population_not_null NOT NULL,
    began_at timestamp with time zone CONSTRAINT compliance_overdue_began_at_not_null NOT NULL,
    ended_at timestamp with time zone
);

CREATE TABLE public.compliance_overdue_by_need (
    need text CONSTRAINT compliance_overdue_need_not_null NOT NULL,
    unit_id bigint CONSTRAINT compliance_overdue_unit_id_not_null NOT NULL,
    as_of timestamp with time zone CONSTRAINT compliance_overdue_as_of_not_null NOT NULL,
    facility_id bigint CONSTRAINT compliance_overdue_facility_id_not_null NOT NULL,
    population text CONSTRAINT compliance_overdue_population_not_null NOT NULL,
    began_at timestamp with time zone CONSTRAINT compliance_overdue_began_at_not_null NOT NULL,
    ended_at timestamp with time zone
);

CREATE TABLE public.counties (
    fips text NOT NULL,
    name text NOT NULL,
    state text DEFAULT 'MO'::text NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    CONSTRAINT counties_fips_check CHECK ((fips ~ '^[0-9]{5}$'::text)),
    CONSTRAINT counties_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT counties_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision)))
);

CREATE TABLE public.court_calendars (
    court_id bigint NOT NULL,
    secret_hash bytea NOT NULL,
    rotated_at timestamp with time zone NOT NULL,
    rotated_by bigint
);

CREATE TABLE public.courts (
    id bigint NOT NULL,
    name text NOT NULL,
    circuit integer NOT NULL,
    county_fips text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    clerk_email text,
    CONSTRAINT courts_circuit_check CHECK (((circuit >= 1) AND (circuit <= 99))),
    CONSTRAINT courts_clerk_email_check CHECK (((clerk_email IS NULL) OR ((clerk_email = lower(clerk_email)) AND (length(clerk_email) <= 254) AND (clerk_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'::text)))),
    CONSTRAINT courts_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200)))
);

ALTER TABLE public.courts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.courts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.deliveries (
    id bigint NOT NULL,
    dedupe_key text NOT NULL,
    event text NOT NULL,
    channel text NOT NULL,
    user_id bigint,
    contact_id bigint,
    endpoint_id bigint,
    address text DEFAULT ''::text NOT NULL,
    message jsonb NOT NULL,
    critical boolean DEFAULT false NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    last_error text,
    created_at timestamp with time zone NOT NULL,
    sent_at timestamp with time zone,
    CONSTRAINT deliveries_channel_check CHECK ((channel = ANY (ARRAY['email'::text, 'webhook'::text, 'in_app'::text]))),
    CONSTRAINT deliveries_one_recipient CHECK (((num_nonnulls(user_id, contact_id, endpoint_id) = 1) OR ((num_nonnulls(user_id, contact_id, endpoint_id) = 0) AND (channel = 'email'::text) AND (address <> ''::text)))),
    CONSTRAINT deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'dead'::text])))
);

ALTER TABLE public.deliveries ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.directory_version (
    only_row boolean DEFAULT true NOT NULL,
    version bigint NOT NULL,
    CONSTRAINT directory_version_only_row_check CHECK (only_row)
);

CREATE TABLE public.escalation_rungs (
    order_type text NOT NULL,
    "position" integer NOT NULL,
    hours_before integer NOT NULL,
    audiences text[] NOT NULL,
    only_without_acceptance boolean DEFAULT true NOT NULL,
    offer_wider_search boolean DEFAULT false NOT NULL,
    ack_minutes integer NOT NULL,
    CONSTRAINT escalation_rungs_ack_minutes_check CHECK ((ack_minutes > 0)),
    CONSTRAINT escalation_rungs_audiences_check CHECK (((cardinality(audiences) >= 1) AND (audiences <@ ARRAY['supervisor'::text, 'liaison'::text, 'state_on_call'::text, 'state_hospital'::text, 'court'::text]))),
    CONSTRAINT escalation_rungs_hours_before_check CHECK ((hours_before >= 0)),
    CONSTRAINT escalation_rungs_position_check CHECK (("position" >= 1))
);

CREATE TABLE public.escalations (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    "position" integer NOT NULL,
    audiences text[] NOT NULL,
    offer_wider_search boolean DEFAULT false NOT NULL,
    raised_at timestamp with time zone NOT NULL,
    ack_due_at timestamp with time zone NOT NULL,
    acknowledged_at timestamp with time zone,
    acknowledged_by bigint,
    escalated_at timestamp with time zone,
    escalated_from integer,
    CONSTRAINT escalations_ack_has_time CHECK (((acknowledged_by IS NULL) OR (acknowledged_at IS NOT NULL)))
);

ALTER TABLE public.escalations ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.escalations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.facilities (
    id bigint NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    address text DEFAULT ''::text NOT NULL,
    city text DEFAULT ''::text NOT NULL,
    county_fips text NOT NULL,
    latitude double precision NOT NULL,
    longitude double precision NOT NULL,
    phone_main text DEFAULT ''::text NOT NULL,
    phone_intake text DEFAULT ''::text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    report_cadence_minutes integer DEFAULT 720 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    response_target_minutes integer DEFAULT 30 NOT NULL,
    CONSTRAINT facilities_kind_check CHECK ((kind = ANY (ARRAY['psychiatric_hospital'::text, 'general_hospital'::text, 'state_hospital'::text, 'crisis_stabilization'::text, 'residential_treatment'::text]))),
    CONSTRAINT facilities_latitude_check CHECK (((latitude >= ('-90'::integer)::double precision) AND (latitude <= (90)::double precision))),
    CONSTRAINT facilities_longitude_check CHECK (((longitude >= ('-180'::integer)::double precision) AND (longitude <= (180)::double precision))),
    CONSTRAINT facilities_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT facilities_report_cadence_minutes_check CHECK (((report_cadence_minutes >= 5) AND (report_cadence_minutes <= 10080))),
    CONSTRAINT facilities_response_target_minutes_check CHECK (((response_target_minutes >= 5) AND (response_target_minutes <= 1440)))
);

ALTER TABLE public.facilities ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.facilities_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.facility_contacts (
    id bigint NOT NULL,
    facility_id bigint NOT NULL,
    purpose text DEFAULT 'intake'::text NOT NULL,
    email text DEFAULT ''::text NOT NULL,
    phone text DEFAULT ''::text NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT facility_contacts_email_check CHECK (((email = ''::text) OR ((email = lower(email)) AND (email ~~ '%_@_%'::text)))),
    CONSTRAINT facility_contacts_phone_check CHECK ((length(phone) <= 40)),
    CONSTRAINT facility_contacts_purpose_check CHECK ((purpose = ANY (ARRAY['intake'::text, 'census'::text])))
);

ALTER TABLE public.facility_contacts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.facility_contacts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.feed_mappings (
    feed_id bigint NOT NULL,
    source_id text NOT NULL,
    unit_id bigint NOT NULL,
    CONSTRAINT feed_mappings_source_id_check CHECK (((length(source_id) >= 1) AND (length(source_id) <= 200)))
);

CREATE TABLE public.feed_quarantine (
    id bigint NOT NULL,
    feed_id bigint NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    location text NOT NULL,
    reason text NOT NULL,
    raw text DEFAULT ''::text NOT NULL
);

ALTER TABLE public.feed_quarantine ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.feed_quarantine_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.feed_routing_version (
    only_row boolean DEFAULT true NOT NULL,
    version bigint NOT NULL,
    CONSTRAINT feed_routing_version_only_row_check CHECK (only_row)
);

CREATE TABLE public.feed_status (
    feed_id bigint NOT NULL,
    state text DEFAULT 'new'::text NOT NULL,
    last_attempt_at timestamp with time zone,
    last_success_at timestamp with time zone,
    last_error text,
    last_error_at timestamp with time zone,
    consecutive_failures integer DEFAULT 0 NOT NULL,
    reports_applied bigint DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone,
    CONSTRAINT feed_status_state_check CHECK ((state = ANY (ARRAY['new'::text, 'ok'::text, 'failing'::text, 'stopped'::text])))
);

CREATE TABLE public.feed_unmapped (
    feed_id bigint NOT NULL,
    source_id text NOT NULL,
    first_seen timestamp with time zone DEFAULT now() NOT NULL,
    last_seen timestamp with time zone DEFAULT now() NOT NULL,
    times bigint DEFAULT 1 NOT NULL
);

CREATE TABLE public.feeds (
    id bigint NOT NULL,
    facility_id bigint NOT NULL,
    kind text NOT NULL,
    name text NOT NULL,
    config jsonb DEFAULT '{}'::jsonb NOT NULL,
    secrets jsonb DEFAULT '{}'::jsonb NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    poll_interval_s integer DEFAULT 300 NOT NULL,
    cursor text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT feeds_kind_check CHECK ((kind ~ '^[a-z0-9_]{1,20}$'::text)),
    CONSTRAINT feeds_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT feeds_poll_interval_s_check CHECK (((poll_interval_s >= 10) AND (poll_interval_s <= 86400)))
);

ALTER TABLE public.feeds ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.feeds_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.hl7_beds (
    feed_id bigint NOT NULL,
    bed text NOT NULL,
    point_of_care text NOT NULL,
    status text NOT NULL,
    last_event_at timestamp with time zone NOT NULL,
    CONSTRAINT hl7_beds_status_check CHECK ((status = ANY (ARRAY['O'::text, 'U'::text, 'C'::text, 'H'::text, 'I'::text, 'K'::text])))
);

CREATE TABLE public.hl7_messages (
    sending_facility text NOT NULL,
    control_id text NOT NULL,
    feed_id bigint,
    received_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.idempotency_keys (
    user_id bigint NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    response jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.login_failures (
    id bigint NOT NULL,
    email text NOT NULL,
    remote_addr text NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.login_failures ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.login_failures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.no_bed_corrections (
    id bigint NOT NULL,
    no_bed_report_id bigint NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    corrected_by bigint NOT NULL,
    kind text NOT NULL,
    reason text NOT NULL,
    county_fips text,
    order_type text,
    age_band text,
    payer text,
    CONSTRAINT no_bed_corrections_age_band_check CHECK ((age_band = ANY (ARRAY['0-11'::text, '12-17'::text, '18-25'::text, '26-44'::text, '45-64'::text, '65+'::text, 'unknown'::text]))),
    CONSTRAINT no_bed_corrections_fields_by_kind CHECK (
CASE kind
    WHEN 'retract'::text THEN ((county_fips IS NULL) AND (order_type IS NULL) AND (age_band IS NULL) AND (payer IS NULL))
    ELSE ((county_fips IS NOT NULL) AND (order_type IS NOT NULL) AND (age_band IS NOT NULL))
END),
    CONSTRAINT no_bed_corrections_kind_check CHECK ((kind = ANY (ARRAY['retract'::text, 'amend'::text]))),
    CONSTRAINT no_bed_corrections_reason_by_kind CHECK (
CASE kind
    WHEN 'retract'::text THEN (reason = ANY (ARRAY['entered_in_error'::text, 'admitted_elsewhere'::text, 'other'::text]))
    ELSE (reason = ANY (ARRAY['entered_in_error'::text, 'wrong_county'::text, 'wrong_order_type'::text, 'other'::text]))
END),
    CONSTRAINT no_bed_corrections_reason_check CHECK ((reason = ANY (ARRAY['entered_in_error'::text, 'wrong_county'::text, 'wrong_order_type'::text, 'admitted_elsewhere'::text, 'other'::text])))
);

ALTER TABLE public.no_bed_corrections ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.no_bed_corrections_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.no_bed_reports (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    trigger text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    occurred_at timestamp with time zone NOT NULL,
    county_fips text NOT NULL,
    order_type text NOT NULL,
    age_band text NOT NULL,
    payer text,
    outcome text,
    elapsed_hours numeric(10,2) NOT NULL,
    referred jsonb NOT NULL,
    declined jsonb NOT NULL,
    CONSTRAINT no_bed_reports_age_band_check CHECK ((age_band = ANY (ARRAY['0-11'::text, '12-17'::text, '18-25'::text, '26-44'::text, '45-64'::text, '65+'::text, 'unknown'::text]))),
    CONSTRAINT no_bed_reports_declined_check CHECK ((jsonb_typeof(declined) = 'array'::text)),
    CONSTRAINT no_bed_reports_outcome_check CHECK ((outcome = ANY (ARRAY['released'::text, 'order_expired'::text]))),
    CONSTRAINT no_bed_reports_outcome_only_when_closed CHECK (((trigger = 'closed'::text) = (outcome IS NOT NULL))),
    CONSTRAINT no_bed_reports_referred_check CHECK ((jsonb_typeof(referred) = 'array'::text)),
    CONSTRAINT no_bed_reports_trigger_check CHECK ((trigger = ANY (ARRAY['declared'::text, 'deadline_passed'::text, 'closed'::text])))
);

ALTER TABLE public.no_bed_reports ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.no_bed_reports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.notify_acks (
    delivery_id bigint NOT NULL,
    user_id bigint NOT NULL,
    acked_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.notify_cursor (
    only_row boolean DEFAULT true NOT NULL,
    seq bigint NOT NULL,
    CONSTRAINT notify_cursor_only_row_check CHECK (only_row)
);

CREATE TABLE public.notify_preferences (
    user_id bigint NOT NULL,
    channels jsonb DEFAULT '{}'::jsonb NOT NULL,
    quiet_start time without time zone,
    quiet_end time without time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT notify_preferences_channels_check CHECK ((jsonb_typeof(channels) = 'object'::text)),
    CONSTRAINT notify_preferences_quiet_both CHECK (((quiet_start IS NULL) = (quiet_end IS NULL)))
);

CREATE TABLE public.nudges (
    id bigint NOT NULL,
    facility_id bigint NOT NULL,
    late_since timestamp with time zone NOT NULL,
    attempt integer NOT NULL,
    link_id bigint NOT NULL,
    created_at timestamp with time zone NOT NULL,
    CONSTRAINT nudges_attempt_check CHECK ((attempt >= 1))
);

ALTER TABLE public.nudges ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.nudges_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.order_types (
    code text NOT NULL,
    label text NOT NULL,
    statute text DEFAULT ''::text NOT NULL,
    deadline_hours integer,
    court_ordered boolean DEFAULT true NOT NULL,
    "position" integer DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    court_required boolean DEFAULT true NOT NULL,
    CONSTRAINT order_types_code_check CHECK ((code ~ '^[a-z0-9_]{1,40}$'::text)),
    CONSTRAINT order_types_deadline_hours_check CHECK (((deadline_hours >= 1) AND (deadline_hours <= (24 * 400))))
);

CREATE TABLE public.outbox_counter (
    only_row boolean DEFAULT true NOT NULL,
    seq bigint NOT NULL,
    CONSTRAINT outbox_counter_only_row_check CHECK (only_row)
);

CREATE TABLE public.person_keys (
    placement_id bigint NOT NULL,
    person_key bytea NOT NULL,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT person_keys_person_key_check CHECK ((octet_length(person_key) = 32))
);

CREATE TABLE public.person_links (
    placement_id bigint NOT NULL,
    earlier_id bigint NOT NULL,
    linked_by bigint,
    linked_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT person_links_check CHECK ((placement_id <> earlier_id))
);

CREATE TABLE public.placement_alerts (
    placement_id bigint NOT NULL,
    point text NOT NULL,
    raised_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.placement_attachments (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    file_name text NOT NULL,
    media_type text NOT NULL,
    size_bytes bigint NOT NULL,
    content bytea,
    uploaded_by bigint,
    uploaded_at timestamp with time zone DEFAULT now() NOT NULL,
    removed_by bigint,
    removed_at timestamp with time zone,
    CONSTRAINT placement_attachments_check CHECK (((removed_at IS NULL) = (content IS NOT NULL))),
    CONSTRAINT placement_attachments_file_name_check CHECK (((length(file_name) >= 1) AND (length(file_name) <= 255))),
    CONSTRAINT placement_attachments_media_type_check CHECK ((media_type = ANY (ARRAY['application/pdf'::text, 'image/png'::text, 'image/jpeg'::text]))),
    CONSTRAINT placement_attachments_size_bytes_check CHECK ((size_bytes > 0))
);

ALTER TABLE public.placement_attachments ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_attachments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_calls (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    facility_id bigint NOT NULL,
    unit_id bigint,
    outcome text NOT NULL,
    call_back_at timestamp with time zone,
    referral_id bigint,
    called_by bigint,
    called_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_calls_check CHECK (((outcome = 'call_back'::text) = (call_back_at IS NOT NULL))),
    CONSTRAINT placement_calls_check1 CHECK (((referral_id IS NULL) OR ((outcome = 'has_bed'::text) AND (unit_id IS NOT NULL)))),
    CONSTRAINT placement_calls_outcome_check CHECK ((outcome = ANY (ARRAY['no_bed'::text, 'has_bed'::text, 'call_back'::text, 'no_answer'::text])))
);

ALTER TABLE public.placement_calls ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_calls_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_commitments (
    placement_id bigint NOT NULL,
    court_date date NOT NULL,
    cmhc_name text NOT NULL,
    recorded_by bigint,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_commitments_cmhc_name_check CHECK (((length(btrim(cmhc_name)) >= 1) AND (length(btrim(cmhc_name)) <= 200)))
);

CREATE TABLE public.placement_events (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor_id bigint,
    actor text NOT NULL,
    kind text NOT NULL,
    from_state text,
    to_state text,
    data jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE public.placement_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_follow_ups (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    title text NOT NULL,
    due_at timestamp with time zone NOT NULL,
    due_all_day boolean DEFAULT false NOT NULL,
    assignee_id bigint NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    note text DEFAULT ''::text NOT NULL,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    closed_by bigint,
    closed_at timestamp with time zone,
    reminded_at timestamp with time zone,
    CONSTRAINT placement_follow_ups_check CHECK (((status = 'open'::text) = (closed_at IS NULL))),
    CONSTRAINT placement_follow_ups_note_check CHECK ((length(note) <= 2000)),
    CONSTRAINT placement_follow_ups_status_check CHECK ((status = ANY (ARRAY['open'::text, 'done'::text, 'cancelled'::text]))),
    CONSTRAINT placement_follow_ups_title_check CHECK (((length(btrim(title)) >= 1) AND (length(btrim(title)) <= 200)))
);

ALTER TABLE public.placement_follow_ups ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_follow_ups_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_links (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    system text NOT NULL,
    external_id text DEFAULT ''::text NOT NULL,
    url text NOT NULL,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_links_system_check CHECK (((length(btrim(system)) >= 1) AND (length(btrim(system)) <= 100))),
    CONSTRAINT placement_links_url_check CHECK ((url ~ '^https?://'::text))
);

ALTER TABLE public.placement_links ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_links_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_notes (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    body text NOT NULL,
    author_id bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_notes_body_check CHECK (((length(btrim(body)) >= 1) AND (length(btrim(body)) <= 10000)))
);

ALTER TABLE public.placement_notes ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_notes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placement_packets (
    placement_id bigint NOT NULL,
    medical_clearance boolean,
    medical_clearance_at timestamp with time zone,
    toxicology text,
    recent_aggression boolean,
    aggression_note text,
    medications_given text,
    legal_note text,
    order_copy_received boolean,
    pregnancy text,
    mobility_needs text,
    updated_by bigint,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_packets_aggression_note_check CHECK ((length(aggression_note) <= 2000)),
    CONSTRAINT placement_packets_legal_note_check CHECK ((length(legal_note) <= 2000)),
    CONSTRAINT placement_packets_medications_given_check CHECK ((length(medications_given) <= 2000)),
    CONSTRAINT placement_packets_mobility_needs_check CHECK ((length(mobility_needs) <= 2000)),
    CONSTRAINT placement_packets_pregnancy_check CHECK ((pregnancy = ANY (ARRAY['yes'::text, 'no'::text, 'unknown'::text, 'not_applicable'::text]))),
    CONSTRAINT placement_packets_toxicology_check CHECK ((length(toxicology) <= 2000))
);

CREATE SEQUENCE public.placement_reference_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.placement_waits (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    place text NOT NULL,
    facility_id bigint,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    recorded_by bigint,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT placement_waits_check CHECK (((ended_at IS NULL) OR (ended_at >= started_at))),
    CONSTRAINT placement_waits_check1 CHECK (((facility_id IS NULL) OR (place = 'emergency_department'::text))),
    CONSTRAINT placement_waits_place_check CHECK ((place = ANY (ARRAY['emergency_department'::text, 'jail'::text, 'police_station'::text, 'crisis_center'::text, 'community'::text])))
);

ALTER TABLE public.placement_waits ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placement_waits_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.placements (
    id bigint NOT NULL,
    reference text NOT NULL,
    order_type text NOT NULL,
    court_id bigint,
    case_number text DEFAULT ''::text NOT NULL,
    detention_start timestamp with time zone NOT NULL,
    deadline_at timestamp with time zone,
    county_fips text NOT NULL,
    person_initials text NOT NULL,
    person_birth_year integer,
    person_age integer,
    person_sex text NOT NULL,
    population text NOT NULL,
    gender text NOT NULL,
    specialties text[] DEFAULT '{}'::text[] NOT NULL,
    security_level text,
    involuntary boolean DEFAULT true NOT NULL,
    payer text,
    clinical_notes text DEFAULT ''::text NOT NULL,
    liaison_id bigint,
    requesting_agency text DEFAULT ''::text NOT NULL,
    requesting_officer text DEFAULT ''::text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    outcome text,
    outcome_note text DEFAULT ''::text NOT NULL,
    accepted_referral_id bigint,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    accepted_at timestamp with time zone,
    admitted_at timestamp with time zone,
    closed_at timestamp with time zone,
    version integer DEFAULT 1 NOT NULL,
    population_override boolean DEFAULT false NOT NULL,
    gender_override boolean DEFAULT false NOT NULL,
    custody_agency text DEFAULT ''::text NOT NULL,
    custody_started_at timestamp with time zone,
    custody_ended_at timestamp with time zone,
    discharged_at timestamp with time zone,
    discharge_disposition text,
    discharge_note text DEFAULT ''::text NOT NULL,
    CONSTRAINT placements_closed_has_outcome CHECK (((status = 'closed'::text) = (outcome IS NOT NULL))),
    CONSTRAINT placements_custody_agency_check CHECK ((length(custody_agency) <= 200)),
    CONSTRAINT placements_custody_order CHECK (((custody_ended_at IS NULL) OR ((custody_started_at IS NOT NULL) AND (custody_ended_at >= custody_started_at)))),
    CONSTRAINT placements_discharge_disposition_check CHECK ((discharge_disposition = ANY (ARRAY['home_outpatient'::text, 'outpatient_commitment'::text, 'transfer'::text, 'left_ama'::text, 'other'::text]))),
    CONSTRAINT placements_discharge_note_check CHECK ((length(discharge_note) <= 2000)),
    CONSTRAINT placements_discharged_after_admission CHECK (((discharged_at IS NULL) OR ((admitted_at IS NOT NULL) AND (discharged_at >= admitted_at)))),
    CONSTRAINT placements_discharged_has_disposition CHECK (((status = 'discharged'::text) = ((discharged_at IS NOT NULL) AND (discharge_disposition IS NOT NULL)))),
    CONSTRAINT placements_gender_check CHECK ((gender = ANY (ARRAY['male'::text, 'female'::text, 'mixed'::text, 'any'::text]))),
    CONSTRAINT placements_outcome_check CHECK ((outcome = ANY (ARRAY['released'::text, 'withdrawn'::text, 'order_expired'::text, 'diverted_outpatient'::text, 'other'::text]))),
    CONSTRAINT placements_person_age_check CHECK (((person_age >= 0) AND (person_age <= 130))),
    CONSTRAINT placements_person_birth_year_check CHECK (((person_birth_year >= 1900) AND (person_birth_year <= 2100))),
    CONSTRAINT placements_person_initials_check CHECK ((person_initials ~ '^[A-Z]{1,4}$'::text)),
    CONSTRAINT placements_person_sex_check CHECK ((person_sex = ANY (ARRAY['female'::text, 'male'::text, 'other'::text, 'unknown'::text]))),
    CONSTRAINT placements_population_check CHECK ((population = ANY (ARRAY['adult'::text, 'adolescent'::text, 'child'::text, 'geriatric'::text]))),
    CONSTRAINT placements_security_level_check CHECK ((security_level = ANY (ARRAY['open'::text, 'standard'::text, 'secure'::text, 'forensic'::text]))),
    CONSTRAINT placements_status_check CHECK ((status = ANY (ARRAY['open'::text, 'accepted'::text, 'in_transit'::text, 'admitted'::text, 'discharged'::text, 'closed'::text])))
);

ALTER TABLE public.placements ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.placements_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.region_counties (
    county_fips text NOT NULL,
    region_id bigint NOT NULL
);

CREATE TABLE public.user_facilities (
    user_id bigint NOT NULL,
    facility_id bigint NOT NULL
);

CREATE TABLE public.users (
    id bigint NOT NULL,
    email text NOT NULL,
    display_name text DEFAULT ''::text NOT NULL,
    role text NOT NULL,
    password_hash text,
    court_id bigint,
    disabled boolean DEFAULT false NOT NULL,
    password_changed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    phone text DEFAULT ''::text NOT NULL,
    region_id bigint,
    CONSTRAINT users_court_scope CHECK (((role = 'court'::text) = (court_id IS NOT NULL))),
    CONSTRAINT users_email_check CHECK (((email = lower(email)) AND (email ~~ '%_@_%'::text))),
    CONSTRAINT users_phone_check CHECK ((length(phone) <= 40)),
    CONSTRAINT users_region_scope CHECK (((role = 'supervisor'::text) = (region_id IS NOT NULL))),
    CONSTRAINT users_role_check CHECK ((role = ANY (ARRAY['admin'::text, 'liaison'::text, 'supervisor'::text, 'facility'::text, 'court'::text, 'viewer'::text])))
);

CREATE VIEW public.principals AS
 SELECT id AS user_id,
    email,
    display_name,
    role,
    court_id,
    disabled,
    password_hash,
    COALESCE(( SELECT array_agg(uf.facility_id ORDER BY uf.facility_id) AS array_agg
           FROM public.user_facilities uf
          WHERE (uf.user_id = u.id)), '{}'::bigint[]) AS facility_ids,
    region_id,
    COALESCE(( SELECT array_agg(rc.county_fips ORDER BY rc.county_fips) AS array_agg
           FROM public.region_counties rc
          WHERE (rc.region_id = u.region_id)), '{}'::text[]) AS region_counties
   FROM public.users u;

CREATE TABLE public.referral_messages (
    id bigint NOT NULL,
    referral_id bigint NOT NULL,
    body text NOT NULL,
    sent_by bigint NOT NULL,
    side text NOT NULL,
    sent_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT referral_messages_body_check CHECK (((length(btrim(body)) >= 1) AND (length(btrim(body)) <= 4000))),
    CONSTRAINT referral_messages_side_check CHECK ((side = ANY (ARRAY['liaison'::text, 'facility'::text])))
);

ALTER TABLE public.referral_messages ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.referral_messages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.referral_nudges (
    referral_id bigint NOT NULL,
    threshold text NOT NULL,
    raised_at timestamp with time zone NOT NULL
);

CREATE TABLE public.referral_questions (
    id bigint NOT NULL,
    referral_id bigint NOT NULL,
    question text NOT NULL,
    asked_by bigint,
    asked_at timestamp with time zone DEFAULT now() NOT NULL,
    answer text,
    answered_by bigint,
    answered_at timestamp with time zone,
    CONSTRAINT referral_questions_answer_check CHECK (((answer IS NULL) OR ((length(btrim(answer)) >= 1) AND (length(btrim(answer)) <= 4000)))),
    CONSTRAINT referral_questions_answer_has_time CHECK (((answer IS NULL) = (answered_at IS NULL))),
    CONSTRAINT referral_questions_question_check CHECK (((length(btrim(question)) >= 1) AND (length(btrim(question)) <= 2000)))
);

ALTER TABLE public.referral_questions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.referral_questions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.referrals (
    id bigint NOT NULL,
    placement_id bigint NOT NULL,
    unit_id bigint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    decline_reason text,
    decline_note text DEFAULT ''::text NOT NULL,
    hold_active boolean DEFAULT false NOT NULL,
    hold_expires_at timestamp with time zone,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    responded_by bigint,
    responded_at timestamp with time zone,
    acknowledged_at timestamp with time zone,
    acknowledged_by bigint,
    info_requested_at timestamp with time zone,
    info_answered_at timestamp with time zone,
    first_response_at timestamp with time zone,
    unanswered_expired_at timestamp with time zone,
    CONSTRAINT referrals_decline_has_reason CHECK (((status = 'declined'::text) = (decline_reason IS NOT NULL))),
    CONSTRAINT referrals_decline_reason_check CHECK ((decline_reason = ANY (ARRAY['no_bed'::text, 'acuity'::text, 'medical_complexity'::text, 'aggression_safety'::text, 'age_gender_mismatch'::text, 'payer'::text, 'developmental_disability'::text, 'substance_use'::text, 'legal_status'::text, 'staffing'::text, 'other'::text]))),
    CONSTRAINT referrals_hold_only_when_accepted CHECK (((NOT hold_active) OR (status = 'accepted'::text))),
    CONSTRAINT referrals_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'acknowledged'::text, 'info_requested'::text, 'accepted'::text, 'declined'::text, 'withdrawn'::text, 'expired'::text])))
);

ALTER TABLE public.referrals ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.referrals_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.regions (
    id bigint NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT regions_name_check CHECK ((btrim(name) <> ''::text))
);

ALTER TABLE public.regions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.regions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.report_rollup_groups (
    facility_id bigint NOT NULL,
    population text NOT NULL,
    digest text NOT NULL,
    need text NOT NULL
);

CREATE TABLE public.report_rollup_state (
    only_row boolean DEFAULT true NOT NULL,
    zone text NOT NULL,
    refreshed_at timestamp with time zone NOT NULL,
    last_history_id bigint NOT NULL,
    took_ms integer NOT NULL,
    CONSTRAINT report_rollup_state_only_row_check CHECK (only_row)
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.sessions (
    token_hash bytea NOT NULL,
    user_id bigint NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    last_seen_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    remote_addr text,
    user_agent text
);

CREATE TABLE public.signed_links (
    id bigint NOT NULL,
    purpose text NOT NULL,
    subject_id bigint NOT NULL,
    created_by bigint,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    single_use boolean NOT NULL,
    revoked_at timestamp with time zone,
    revoked_by bigint,
    used_at timestamp with time zone,
    token_hash bytea NOT NULL,
    CONSTRAINT signed_links_check CHECK ((expires_at > created_at)),
    CONSTRAINT signed_links_purpose_check CHECK ((purpose = ANY (ARRAY['court_status'::text, 'census_nudge'::text])))
);

ALTER TABLE public.signed_links ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.signed_links_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.unit_census (
    unit_id bigint NOT NULL,
    staffed integer,
    occupied integer,
    blocked integer DEFAULT 0 NOT NULL,
    available integer NOT NULL,
    held integer DEFAULT 0 NOT NULL,
    as_of timestamp with time zone NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    source text NOT NULL,
    reported_by bigint,
    CONSTRAINT unit_census_available_check CHECK (((available >= 0) AND (available <= 2000))),
    CONSTRAINT unit_census_blocked_check CHECK (((blocked >= 0) AND (blocked <= 2000))),
    CONSTRAINT unit_census_blocked_fits CHECK (((staffed IS NULL) OR (blocked <= (staffed - occupied)))),
    CONSTRAINT unit_census_counts_together CHECK (((staffed IS NULL) = (occupied IS NULL))),
    CONSTRAINT unit_census_held_check CHECK ((held >= 0)),
    CONSTRAINT unit_census_holds_within_available CHECK ((held <= available)),
    CONSTRAINT unit_census_occupied_check CHECK (((occupied >= 0) AND (occupied <= 2000))),
    CONSTRAINT unit_census_occupied_le_staffed CHECK (((occupied IS NULL) OR (occupied <= staffed))),
    CONSTRAINT unit_census_staffed_check CHECK (((staffed >= 0) AND (staffed <= 2000)))
);

CREATE TABLE public.unit_freshness (
    unit_id bigint NOT NULL,
    state text NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT unit_freshness_state_check CHECK ((state = ANY (ARRAY['fresh'::text, 'late'::text, 'stale'::text, 'never'::text])))
);

CREATE TABLE public.units (
    id bigint NOT NULL,
    facility_id bigint NOT NULL,
    name text NOT NULL,
    population text NOT NULL,
    gender text DEFAULT 'any'::text NOT NULL,
    security_level text DEFAULT 'standard'::text NOT NULL,
    specialties text[] DEFAULT '{}'::text[] NOT NULL,
    accepts_involuntary boolean DEFAULT true NOT NULL,
    accepts_court_ordered boolean DEFAULT true NOT NULL,
    payers text[] DEFAULT '{}'::text[] NOT NULL,
    licensed_beds integer NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    version integer DEFAULT 1 NOT NULL,
    CONSTRAINT units_gender_check CHECK ((gender = ANY (ARRAY['male'::text, 'female'::text, 'any'::text]))),
    CONSTRAINT units_licensed_beds_check CHECK (((licensed_beds >= 0) AND (licensed_beds <= 2000))),
    CONSTRAINT units_name_check CHECK (((length(btrim(name)) >= 1) AND (length(btrim(name)) <= 200))),
    CONSTRAINT units_population_check CHECK ((population = ANY (ARRAY['adult'::text, 'adolescent'::text, 'child'::text, 'geriatric'::text]))),
    CONSTRAINT units_security_level_check CHECK ((security_level = ANY (ARRAY['open'::text, 'standard'::text, 'secure'::text, 'forensic'::text])))
);

ALTER TABLE public.units ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.units_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE public.users ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.webhook_endpoints (
    id bigint NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    facility_id bigint,
    secret text NOT NULL,
    active boolean DEFAULT true NOT NULL,
    created_by bigint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_endpoints_events_check CHECK ((cardinality(events) >= 1)),
    CONSTRAINT webhook_endpoints_secret_check CHECK ((secret ~~ 'whsec_%'::text)),
    CONSTRAINT webhook_endpoints_url_check CHECK (((length(url) >= 8) AND (length(url) <= 2000)))
);

ALTER TABLE public.webhook_endpoints ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.webhook_endpoints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

ALTER TABLE ONLY public.capacity_daily ATTACH PARTITION public.capacity_daily_all FOR VALUES IN ('');

ALTER TABLE ONLY public.capacity_daily ATTACH PARTITION public.capacity_daily_by_need DEFAULT;

ALTER TABLE ONLY public.capacity_hourly ATTACH PARTITION public.capacity_hourly_all FOR VALUES IN ('');

ALTER TABLE ONLY public.capacity_hourly ATTACH PARTITION public.capacity_hourly_by_need DEFAULT;

ALTER TABLE ONLY public.compliance_daily ATTACH PARTITION public.compliance_daily_all FOR VALUES IN ('');

ALTER TABLE ONLY public.compliance_daily ATTACH PARTITION public.compliance_daily_by_need DEFAULT;

ALTER TABLE ONLY public.compliance_overdue ATTACH PARTITION public.compliance_overdue_all FOR VALUES IN ('');

ALTER TABLE ONLY public.compliance_overdue ATTACH PARTITION public.compliance_overdue_by_need DEFAULT;

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.board_outbox
    ADD CONSTRAINT board_outbox_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY public.capacity_daily
    ADD CONSTRAINT capacity_daily_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.capacity_daily_all
    ADD CONSTRAINT capacity_daily_all_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.capacity_daily_by_need
    ADD CONSTRAINT capacity_daily_by_need_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.capacity_hourly
    ADD CONSTRAINT capacity_hourly_pkey PRIMARY KEY (need, facility_id, population, at);

ALTER TABLE ONLY public.capacity_hourly_all
    ADD CONSTRAINT capacity_hourly_all_pkey PRIMARY KEY (need, facility_id, population, at);

ALTER TABLE ONLY public.capacity_hourly_by_need
    ADD CONSTRAINT capacity_hourly_by_need_pkey PRIMARY KEY (need, facility_id, population, at);

ALTER TABLE ONLY public.census_history
    ADD CONSTRAINT census_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.census_phone_checks
    ADD CONSTRAINT census_phone_checks_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.compliance_daily
    ADD CONSTRAINT compliance_daily_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.compliance_daily_all
    ADD CONSTRAINT compliance_daily_all_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.compliance_daily_by_need
    ADD CONSTRAINT compliance_daily_by_need_pkey PRIMARY KEY (day, facility_id, population, need);

ALTER TABLE ONLY public.compliance_overdue
    ADD CONSTRAINT compliance_overdue_pkey PRIMARY KEY (need, unit_id, as_of);

ALTER TABLE ONLY public.compliance_overdue_all
    ADD CONSTRAINT compliance_overdue_all_pkey PRIMARY KEY (need, unit_id, as_of);

ALTER TABLE ONLY public.compliance_overdue_by_need
    ADD CONSTRAINT compliance_overdue_by_need_pkey PRIMARY KEY (need, unit_id, as_of);

ALTER TABLE ONLY public.counties
    ADD CONSTRAINT counties_pkey PRIMARY KEY (fips);

ALTER TABLE ONLY public.court_calendars
    ADD CONSTRAINT court_calendars_pkey PRIMARY KEY (court_id);

ALTER TABLE ONLY public.court_calendars
    ADD CONSTRAINT court_calendars_secret_hash_key UNIQUE (secret_hash);

ALTER TABLE ONLY public.courts
    ADD CONSTRAINT courts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_dedupe_key_key UNIQUE (dedupe_key);

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.directory_version
    ADD CONSTRAINT directory_version_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.escalation_rungs
    ADD CONSTRAINT escalation_rungs_one_per_hour UNIQUE (order_type, hours_before);

ALTER TABLE ONLY public.escalation_rungs
    ADD CONSTRAINT escalation_rungs_pkey PRIMARY KEY (order_type, "position");

ALTER TABLE ONLY public.escalations
    ADD CONSTRAINT escalations_once_per_rung UNIQUE (placement_id, "position");

ALTER TABLE ONLY public.escalations
    ADD CONSTRAINT escalations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.facilities
    ADD CONSTRAINT facilities_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.facility_contacts
    ADD CONSTRAINT facility_contacts_facility_id_purpose_key UNIQUE (facility_id, purpose);

ALTER TABLE ONLY public.facility_contacts
    ADD CONSTRAINT facility_contacts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.feed_mappings
    ADD CONSTRAINT feed_mappings_pkey PRIMARY KEY (feed_id, source_id);

ALTER TABLE ONLY public.feed_quarantine
    ADD CONSTRAINT feed_quarantine_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.feed_routing_version
    ADD CONSTRAINT feed_routing_version_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.feed_status
    ADD CONSTRAINT feed_status_pkey PRIMARY KEY (feed_id);

ALTER TABLE ONLY public.feed_unmapped
    ADD CONSTRAINT feed_unmapped_pkey PRIMARY KEY (feed_id, source_id);

ALTER TABLE ONLY public.feeds
    ADD CONSTRAINT feeds_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.hl7_beds
    ADD CONSTRAINT hl7_beds_pkey PRIMARY KEY (feed_id, bed);

ALTER TABLE ONLY public.hl7_messages
    ADD CONSTRAINT hl7_messages_pkey PRIMARY KEY (sending_facility, control_id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (user_id, key);

ALTER TABLE ONLY public.login_failures
    ADD CONSTRAINT login_failures_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.no_bed_corrections
    ADD CONSTRAINT no_bed_corrections_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.no_bed_reports
    ADD CONSTRAINT no_bed_reports_once_per_trigger UNIQUE (placement_id, trigger);

ALTER TABLE ONLY public.no_bed_reports
    ADD CONSTRAINT no_bed_reports_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.notify_acks
    ADD CONSTRAINT notify_acks_pkey PRIMARY KEY (delivery_id);

ALTER TABLE ONLY public.notify_cursor
    ADD CONSTRAINT notify_cursor_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.notify_preferences
    ADD CONSTRAINT notify_preferences_pkey PRIMARY KEY (user_id);

ALTER TABLE ONLY public.nudges
    ADD CONSTRAINT nudges_facility_id_late_since_attempt_key UNIQUE (facility_id, late_since, attempt);

ALTER TABLE ONLY public.nudges
    ADD CONSTRAINT nudges_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.order_types
    ADD CONSTRAINT order_types_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.outbox_counter
    ADD CONSTRAINT outbox_counter_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.person_keys
    ADD CONSTRAINT person_keys_pkey PRIMARY KEY (placement_id);

ALTER TABLE ONLY public.person_links
    ADD CONSTRAINT person_links_pkey PRIMARY KEY (placement_id, earlier_id);

ALTER TABLE ONLY public.placement_alerts
    ADD CONSTRAINT placement_alerts_pkey PRIMARY KEY (placement_id, point);

ALTER TABLE ONLY public.placement_attachments
    ADD CONSTRAINT placement_attachments_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_commitments
    ADD CONSTRAINT placement_commitments_pkey PRIMARY KEY (placement_id);

ALTER TABLE ONLY public.placement_events
    ADD CONSTRAINT placement_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_follow_ups
    ADD CONSTRAINT placement_follow_ups_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_links
    ADD CONSTRAINT placement_links_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_notes
    ADD CONSTRAINT placement_notes_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placement_packets
    ADD CONSTRAINT placement_packets_pkey PRIMARY KEY (placement_id);

ALTER TABLE ONLY public.placement_waits
    ADD CONSTRAINT placement_waits_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_reference_key UNIQUE (reference);

ALTER TABLE ONLY public.referral_messages
    ADD CONSTRAINT referral_messages_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.referral_nudges
    ADD CONSTRAINT referral_nudges_pkey PRIMARY KEY (referral_id, threshold);

ALTER TABLE ONLY public.referral_questions
    ADD CONSTRAINT referral_questions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.region_counties
    ADD CONSTRAINT region_counties_pkey PRIMARY KEY (county_fips);

ALTER TABLE ONLY public.regions
    ADD CONSTRAINT regions_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.report_rollup_groups
    ADD CONSTRAINT report_rollup_groups_pkey PRIMARY KEY (facility_id, population, need);

ALTER TABLE ONLY public.report_rollup_state
    ADD CONSTRAINT report_rollup_state_pkey PRIMARY KEY (only_row);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.signed_links
    ADD CONSTRAINT signed_links_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.signed_links
    ADD CONSTRAINT signed_links_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.unit_census
    ADD CONSTRAINT unit_census_pkey PRIMARY KEY (unit_id);

ALTER TABLE ONLY public.unit_freshness
    ADD CONSTRAINT unit_freshness_pkey PRIMARY KEY (unit_id);

ALTER TABLE ONLY public.units
    ADD CONSTRAINT units_facility_id_name_key UNIQUE (facility_id, name);

ALTER TABLE ONLY public.units
    ADD CONSTRAINT units_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.user_facilities
    ADD CONSTRAINT user_facilities_pkey PRIMARY KEY (user_id, facility_id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (id);

CREATE INDEX api_tokens_user_idx ON public.api_tokens USING btree (user_id);

CREATE INDEX audit_log_at_idx ON public.audit_log USING btree (at DESC);

CREATE INDEX audit_log_object_idx ON public.audit_log USING btree (object_type, object_id);

CREATE INDEX board_outbox_at_idx ON public.board_outbox USING btree (at);

CREATE INDEX census_history_received_brin ON public.census_history USING brin (received_at);

CREATE INDEX census_history_unit_as_of_idx ON public.census_history USING btree (unit_id, as_of);

CREATE INDEX census_phone_checks_facility_idx ON public.census_phone_checks USING btree (facility_id, observed_at DESC);

CREATE INDEX compliance_overdue_began_idx ON ONLY public.compliance_overdue USING btree (began_at);

CREATE INDEX compliance_overdue_all_began_at_idx ON public.compliance_overdue_all USING btree (began_at);

CREATE INDEX compliance_overdue_group_idx ON ONLY public.compliance_overdue USING btree (facility_id, population, need);

CREATE INDEX compliance_overdue_all_facility_id_population_need_idx ON public.compliance_overdue_all USING btree (facility_id, population, need);

CREATE INDEX compliance_overdue_by_need_began_at_idx ON public.compliance_overdue_by_need USING btree (began_at);

CREATE INDEX compliance_overdue_by_need_facility_id_population_need_idx ON public.compliance_overdue_by_need USING btree (facility_id, population, need);

CREATE UNIQUE INDEX courts_name_key ON public.courts USING btree (lower(name));

CREATE INDEX deliveries_due_idx ON public.deliveries USING btree (next_attempt_at) WHERE (status = 'pending'::text);

CREATE INDEX deliveries_in_app_idx ON public.deliveries USING btree (user_id, id) WHERE (channel = 'in_app'::text);

CREATE INDEX deliveries_status_idx ON public.deliveries USING btree (status, id);

CREATE INDEX escalations_waiting_idx ON public.escalations USING btree (ack_due_at) WHERE ((acknowledged_at IS NULL) AND (escalated_at IS NULL));

CREATE INDEX facilities_county_idx ON public.facilities USING btree (county_fips);

CREATE INDEX facilities_lat_lon_idx ON public.facilities USING btree (latitude, longitude) WHERE active;

CREATE UNIQUE INDEX facilities_name_key ON public.facilities USING btree (lower(name));

CREATE INDEX feed_quarantine_feed_idx ON public.feed_quarantine USING btree (feed_id, id DESC);

CREATE INDEX feed_status_state_idx ON public.feed_status USING btree (state);

CREATE INDEX feeds_facility_idx ON public.feeds USING btree (facility_id);

CREATE INDEX hl7_messages_received_idx ON public.hl7_messages USING btree (received_at);

CREATE INDEX login_failures_addr_idx ON public.login_failures USING btree (remote_addr, at);

CREATE INDEX login_failures_email_idx ON public.login_failures USING btree (email, at);

CREATE INDEX no_bed_corrections_report_idx ON public.no_bed_corrections USING btree (no_bed_report_id, id);

CREATE INDEX no_bed_reports_occurred_idx ON public.no_bed_reports USING btree (occurred_at);

CREATE INDEX nudges_facility_idx ON public.nudges USING btree (facility_id, created_at DESC);

CREATE INDEX person_keys_key_idx ON public.person_keys USING btree (person_key);

CREATE INDEX person_links_earlier_idx ON public.person_links USING btree (earlier_id);

CREATE INDEX placement_attachments_placement_idx ON public.placement_attachments USING btree (placement_id, id);

CREATE INDEX placement_calls_placement_idx ON public.placement_calls USING btree (placement_id, called_at);

CREATE INDEX placement_events_placement_idx ON public.placement_events USING btree (placement_id, id);

CREATE INDEX placement_follow_ups_assignee_idx ON public.placement_follow_ups USING btree (assignee_id, due_at) WHERE (status = 'open'::text);

CREATE INDEX placement_follow_ups_placement_idx ON public.placement_follow_ups USING btree (placement_id, due_at);

CREATE INDEX placement_follow_ups_remind_idx ON public.placement_follow_ups USING btree (due_at) WHERE ((status = 'open'::text) AND (reminded_at IS NULL));

CREATE INDEX placement_links_placement_idx ON public.placement_links USING btree (placement_id);

CREATE INDEX placement_notes_placement_idx ON public.placement_notes USING btree (placement_id);

CREATE UNIQUE INDEX placement_waits_current ON public.placement_waits USING btree (placement_id) WHERE (ended_at IS NULL);

CREATE INDEX placement_waits_placement_idx ON public.placement_waits USING btree (placement_id, started_at);

CREATE INDEX placements_court_case_idx ON public.placements USING btree (court_id, case_number);

CREATE INDEX placements_deadline_idx ON public.placements USING btree (deadline_at) WHERE (status <> ALL (ARRAY['admitted'::text, 'closed'::text]));

CREATE INDEX placements_liaison_idx ON public.placements USING btree (liaison_id) WHERE (status <> ALL (ARRAY['admitted'::text, 'closed'::text]));

CREATE INDEX placements_status_idx ON public.placements USING btree (status);

CREATE INDEX referral_messages_thread_idx ON public.referral_messages USING btree (referral_id, sent_at, id);

CREATE UNIQUE INDEX referral_questions_one_open ON public.referral_questions USING btree (referral_id) WHERE (answered_at IS NULL);

CREATE INDEX referral_questions_referral_idx ON public.referral_questions USING btree (referral_id, id);

CREATE INDEX referrals_hold_expiry_idx ON public.referrals USING btree (hold_expires_at) WHERE hold_active;

CREATE UNIQUE INDEX referrals_one_open_per_unit ON public.referrals USING btree (placement_id, unit_id) WHERE (status = ANY (ARRAY['pending'::text, 'acknowledged'::text, 'info_requested'::text, 'accepted'::text]));

CREATE INDEX referrals_placement_idx ON public.referrals USING btree (placement_id);

CREATE INDEX referrals_unanswered_idx ON public.referrals USING btree (created_at) WHERE (status = 'pending'::text);

CREATE INDEX referrals_unit_idx ON public.referrals USING btree (unit_id, status);

CREATE INDEX region_counties_region_idx ON public.region_counties USING btree (region_id);

CREATE UNIQUE INDEX regions_name_key ON public.regions USING btree (lower(name));

CREATE INDEX sessions_user_idx ON public.sessions USING btree (user_id);

CREATE INDEX signed_links_subject_idx ON public.signed_links USING btree (purpose, subject_id);

CREATE INDEX units_facility_idx ON public.units USING btree (facility_id);

CREATE INDEX units_population_idx ON public.units USING btree (population) WHERE active;

CREATE INDEX user_facilities_facility_idx ON public.user_facilities USING btree (facility_id);

CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email);

CREATE INDEX users_region_idx ON public.users USING btree (region_id) WHERE (region_id IS NOT NULL);

ALTER INDEX public.capacity_daily_pkey ATTACH PARTITION public.capacity_daily_all_pkey;

ALTER INDEX public.capacity_daily_pkey ATTACH PARTITION public.capacity_daily_by_need_pkey;

ALTER INDEX public.capacity_hourly_pkey ATTACH PARTITION public.capacity_hourly_all_pkey;

ALTER INDEX public.capacity_hourly_pkey ATTACH PARTITION public.capacity_hourly_by_need_pkey;

ALTER INDEX public.compliance_daily_pkey ATTACH PARTITION public.compliance_daily_all_pkey;

ALTER INDEX public.compliance_daily_pkey ATTACH PARTITION public.compliance_daily_by_need_pkey;

ALTER INDEX public.compliance_overdue_began_idx ATTACH PARTITION public.compliance_overdue_all_began_at_idx;

ALTER INDEX public.compliance_overdue_group_idx ATTACH PARTITION public.compliance_overdue_all_facility_id_population_need_idx;

ALTER INDEX public.compliance_overdue_pkey ATTACH PARTITION public.compliance_overdue_all_pkey;

ALTER INDEX public.compliance_overdue_began_idx ATTACH PARTITION public.compliance_overdue_by_need_began_at_idx;

ALTER INDEX public.compliance_overdue_group_idx ATTACH PARTITION public.compliance_overdue_by_need_facility_id_population_need_idx;

ALTER INDEX public.compliance_overdue_pkey ATTACH PARTITION public.compliance_overdue_by_need_pkey;

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON public.audit_log FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_refuse_change();

CREATE TRIGGER audit_log_no_update_delete BEFORE DELETE OR UPDATE ON public.audit_log FOR EACH ROW EXECUTE FUNCTION public.audit_log_refuse_change();

CREATE TRIGGER counties_bump_directory_version AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.counties FOR EACH STATEMENT EXECUTE FUNCTION public.bump_directory_version();

CREATE TRIGGER facilities_bump_directory_version AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.facilities FOR EACH STATEMENT EXECUTE FUNCTION public.bump_directory_version();

CREATE TRIGGER feed_mappings_bump_feed_routing_version AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.feed_mappings FOR EACH STATEMENT EXECUTE FUNCTION public.bump_feed_routing_version();

CREATE TRIGGER feeds_bump_directory_version AFTER INSERT OR DELETE OR UPDATE OF enabled, facility_id ON public.feeds FOR EACH STATEMENT EXECUTE FUNCTION public.bump_directory_version();

CREATE TRIGGER feeds_bump_feed_routing_version AFTER INSERT OR DELETE OR UPDATE OF kind, config, enabled, facility_id OR TRUNCATE ON public.feeds FOR EACH STATEMENT EXECUTE FUNCTION public.bump_feed_routing_version();

CREATE TRIGGER no_bed_corrections_no_truncate BEFORE TRUNCATE ON public.no_bed_corrections FOR EACH STATEMENT EXECUTE FUNCTION public.no_bed_corrections_refuse_change();

CREATE TRIGGER no_bed_corrections_no_update_delete BEFORE DELETE OR UPDATE ON public.no_bed_corrections FOR EACH ROW EXECUTE FUNCTION public.no_bed_corrections_refuse_change();

CREATE TRIGGER no_bed_corrections_report_exists BEFORE INSERT ON public.no_bed_corrections FOR EACH ROW EXECUTE FUNCTION public.no_bed_corrections_check_report();

CREATE TRIGGER no_bed_reports_no_truncate BEFORE TRUNCATE ON public.no_bed_reports FOR EACH STATEMENT EXECUTE FUNCTION public.no_bed_reports_refuse_change();

CREATE TRIGGER no_bed_reports_no_update_delete BEFORE DELETE OR UPDATE ON public.no_bed_reports FOR EACH ROW EXECUTE FUNCTION public.no_bed_reports_refuse_change();

CREATE TRIGGER placement_events_no_truncate BEFORE TRUNCATE ON public.placement_events FOR EACH STATEMENT EXECUTE FUNCTION public.audit_log_refuse_change();

CREATE TRIGGER placement_events_no_update_delete BEFORE DELETE OR UPDATE ON public.placement_events FOR EACH ROW EXECUTE FUNCTION public.audit_log_refuse_change();

CREATE TRIGGER units_bump_directory_version AFTER INSERT OR DELETE OR UPDATE OR TRUNCATE ON public.units FOR EACH STATEMENT EXECUTE FUNCTION public.bump_directory_version();

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.census_history
    ADD CONSTRAINT census_history_reported_by_fkey FOREIGN KEY (reported_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.census_history
    ADD CONSTRAINT census_history_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.census_phone_checks
    ADD CONSTRAINT census_phone_checks_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.census_phone_checks
    ADD CONSTRAINT census_phone_checks_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.census_phone_checks
    ADD CONSTRAINT census_phone_checks_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.census_phone_checks
    ADD CONSTRAINT census_phone_checks_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.court_calendars
    ADD CONSTRAINT court_calendars_court_id_fkey FOREIGN KEY (court_id) REFERENCES public.courts(id);

ALTER TABLE ONLY public.court_calendars
    ADD CONSTRAINT court_calendars_rotated_by_fkey FOREIGN KEY (rotated_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.courts
    ADD CONSTRAINT courts_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_contact_id_fkey FOREIGN KEY (contact_id) REFERENCES public.facility_contacts(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_endpoint_id_fkey FOREIGN KEY (endpoint_id) REFERENCES public.webhook_endpoints(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.escalation_rungs
    ADD CONSTRAINT escalation_rungs_order_type_fkey FOREIGN KEY (order_type) REFERENCES public.order_types(code);

ALTER TABLE ONLY public.escalations
    ADD CONSTRAINT escalations_acknowledged_by_fkey FOREIGN KEY (acknowledged_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.escalations
    ADD CONSTRAINT escalations_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.facilities
    ADD CONSTRAINT facilities_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.facility_contacts
    ADD CONSTRAINT facility_contacts_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.feed_mappings
    ADD CONSTRAINT feed_mappings_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.feed_mappings
    ADD CONSTRAINT feed_mappings_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.feed_quarantine
    ADD CONSTRAINT feed_quarantine_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.feed_status
    ADD CONSTRAINT feed_status_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.feed_unmapped
    ADD CONSTRAINT feed_unmapped_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.feeds
    ADD CONSTRAINT feeds_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.hl7_beds
    ADD CONSTRAINT hl7_beds_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.hl7_messages
    ADD CONSTRAINT hl7_messages_feed_id_fkey FOREIGN KEY (feed_id) REFERENCES public.feeds(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.no_bed_corrections
    ADD CONSTRAINT no_bed_corrections_corrected_by_fkey FOREIGN KEY (corrected_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.no_bed_corrections
    ADD CONSTRAINT no_bed_corrections_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.no_bed_corrections
    ADD CONSTRAINT no_bed_corrections_order_type_fkey FOREIGN KEY (order_type) REFERENCES public.order_types(code);

ALTER TABLE ONLY public.no_bed_reports
    ADD CONSTRAINT no_bed_reports_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.no_bed_reports
    ADD CONSTRAINT no_bed_reports_order_type_fkey FOREIGN KEY (order_type) REFERENCES public.order_types(code);

ALTER TABLE ONLY public.no_bed_reports
    ADD CONSTRAINT no_bed_reports_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.notify_acks
    ADD CONSTRAINT notify_acks_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.deliveries(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.notify_acks
    ADD CONSTRAINT notify_acks_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.notify_preferences
    ADD CONSTRAINT notify_preferences_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.nudges
    ADD CONSTRAINT nudges_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.nudges
    ADD CONSTRAINT nudges_link_id_fkey FOREIGN KEY (link_id) REFERENCES public.signed_links(id);

ALTER TABLE ONLY public.person_keys
    ADD CONSTRAINT person_keys_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.person_keys
    ADD CONSTRAINT person_keys_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.person_links
    ADD CONSTRAINT person_links_earlier_id_fkey FOREIGN KEY (earlier_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.person_links
    ADD CONSTRAINT person_links_linked_by_fkey FOREIGN KEY (linked_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.person_links
    ADD CONSTRAINT person_links_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_alerts
    ADD CONSTRAINT placement_alerts_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_attachments
    ADD CONSTRAINT placement_attachments_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_attachments
    ADD CONSTRAINT placement_attachments_removed_by_fkey FOREIGN KEY (removed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_attachments
    ADD CONSTRAINT placement_attachments_uploaded_by_fkey FOREIGN KEY (uploaded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_called_by_fkey FOREIGN KEY (called_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES public.referrals(id);

ALTER TABLE ONLY public.placement_calls
    ADD CONSTRAINT placement_calls_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.placement_commitments
    ADD CONSTRAINT placement_commitments_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_commitments
    ADD CONSTRAINT placement_commitments_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_events
    ADD CONSTRAINT placement_events_actor_id_fkey FOREIGN KEY (actor_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_events
    ADD CONSTRAINT placement_events_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_follow_ups
    ADD CONSTRAINT placement_follow_ups_assignee_id_fkey FOREIGN KEY (assignee_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_follow_ups
    ADD CONSTRAINT placement_follow_ups_closed_by_fkey FOREIGN KEY (closed_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_follow_ups
    ADD CONSTRAINT placement_follow_ups_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_follow_ups
    ADD CONSTRAINT placement_follow_ups_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_links
    ADD CONSTRAINT placement_links_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_links
    ADD CONSTRAINT placement_links_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_notes
    ADD CONSTRAINT placement_notes_author_id_fkey FOREIGN KEY (author_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_notes
    ADD CONSTRAINT placement_notes_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_packets
    ADD CONSTRAINT placement_packets_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_packets
    ADD CONSTRAINT placement_packets_updated_by_fkey FOREIGN KEY (updated_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placement_waits
    ADD CONSTRAINT placement_waits_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.placement_waits
    ADD CONSTRAINT placement_waits_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.placement_waits
    ADD CONSTRAINT placement_waits_recorded_by_fkey FOREIGN KEY (recorded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_accepted_referral_fk FOREIGN KEY (accepted_referral_id) REFERENCES public.referrals(id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_court_id_fkey FOREIGN KEY (court_id) REFERENCES public.courts(id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_liaison_id_fkey FOREIGN KEY (liaison_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.placements
    ADD CONSTRAINT placements_order_type_fkey FOREIGN KEY (order_type) REFERENCES public.order_types(code);

ALTER TABLE ONLY public.referral_messages
    ADD CONSTRAINT referral_messages_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES public.referrals(id);

ALTER TABLE ONLY public.referral_messages
    ADD CONSTRAINT referral_messages_sent_by_fkey FOREIGN KEY (sent_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referral_nudges
    ADD CONSTRAINT referral_nudges_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES public.referrals(id);

ALTER TABLE ONLY public.referral_questions
    ADD CONSTRAINT referral_questions_answered_by_fkey FOREIGN KEY (answered_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referral_questions
    ADD CONSTRAINT referral_questions_asked_by_fkey FOREIGN KEY (asked_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referral_questions
    ADD CONSTRAINT referral_questions_referral_id_fkey FOREIGN KEY (referral_id) REFERENCES public.referrals(id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_acknowledged_by_fkey FOREIGN KEY (acknowledged_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_placement_id_fkey FOREIGN KEY (placement_id) REFERENCES public.placements(id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_responded_by_fkey FOREIGN KEY (responded_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.referrals
    ADD CONSTRAINT referrals_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.region_counties
    ADD CONSTRAINT region_counties_county_fips_fkey FOREIGN KEY (county_fips) REFERENCES public.counties(fips);

ALTER TABLE ONLY public.region_counties
    ADD CONSTRAINT region_counties_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.regions(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.report_rollup_groups
    ADD CONSTRAINT report_rollup_groups_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.sessions
    ADD CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.signed_links
    ADD CONSTRAINT signed_links_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.signed_links
    ADD CONSTRAINT signed_links_revoked_by_fkey FOREIGN KEY (revoked_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.unit_census
    ADD CONSTRAINT unit_census_reported_by_fkey FOREIGN KEY (reported_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.unit_census
    ADD CONSTRAINT unit_census_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.unit_freshness
    ADD CONSTRAINT unit_freshness_unit_id_fkey FOREIGN KEY (unit_id) REFERENCES public.units(id);

ALTER TABLE ONLY public.units
    ADD CONSTRAINT units_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.user_facilities
    ADD CONSTRAINT user_facilities_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);

ALTER TABLE ONLY public.user_facilities
    ADD CONSTRAINT user_facilities_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_court_id_fkey FOREIGN KEY (court_id) REFERENCES public.courts(id);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_region_id_fkey FOREIGN KEY (region_id) REFERENCES public.regions(id);

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_created_by_fkey FOREIGN KEY (created_by) REFERENCES public.users(id);

ALTER TABLE ONLY public.webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_facility_id_fkey FOREIGN KEY (facility_id) REFERENCES public.facilities(id);
