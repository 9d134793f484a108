-- The escalation ladder before the legal deadline (issue 13 §2): per order type, rungs
-- raised a number of hours before a placement's deadline, each acknowledged by a person
-- or passed on to the next rung when its window runs out. Owned by placements/escalation.py.

CREATE TABLE escalation_rungs (
    order_type               text NOT NULL REFERENCES order_types (code),
    position                 integer NOT NULL CHECK (position >= 1),
    -- Hours before the deadline the rung is due (0: at the deadline).
    hours_before             integer NOT NULL CHECK (hours_before >= 0),
    -- Who it goes to (the notifier resolves each to people or addresses).
    audiences                text[] NOT NULL
                               CHECK (cardinality(audiences) >= 1
                                      AND audiences <@ ARRAY['supervisor', 'liaison',
                                          'state_on_call', 'state_hospital', 'court']::text[]),
    -- true: only while no referral is accepted (status open); false: until admitted or closed.
    only_without_acceptance  boolean NOT NULL DEFAULT true,
    -- The placement page offers "refer to every unit that fits" and a wider search.
    offer_wider_search       boolean NOT NULL DEFAULT false,
    -- Minutes a person has to acknowledge it before it passes to the next rung.
    ack_minutes              integer NOT NULL CHECK (ack_minutes > 0),
    PRIMARY KEY (order_type, position),
    CONSTRAINT escalation_rungs_one_per_hour UNIQUE (order_type, hours_before)
);

-- Seeded for every order type with a 96-hour legal deadline.
INSERT INTO escalation_rungs (order_type, position, hours_before, audiences,
                              only_without_acceptance, offer_wider_search, ack_minutes)
SELECT o.code, r.position, r.hours_before, r.audiences, r.only_without_acceptance,
       r.offer_wider_search, r.ack_minutes
  FROM order_types o
 CROSS JOIN (VALUES
    (1, 24, ARRAY['supervisor']::text[], true, false, 120),
    (2, 12, ARRAY['liaison']::text[], true, true, 60),
    -- A public facility must accept court-ordered applicants (RSMo 632.310).
    (3, 4, ARRAY['state_on_call', 'state_hospital']::text[], true, false, 60),
    (4, 0, ARRAY['court']::text[], false, false, 240)
 ) AS r (position, hours_before, audiences, only_without_acceptance, offer_wider_search,
         ack_minutes)
 WHERE o.deadline_hours = 96;

-- Each rung raised for a placement (once per placement and position).
CREATE TABLE escalations (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id        bigint NOT NULL REFERENCES placements (id),
    position            integer NOT NULL,
    -- What the rung said when it was raised (a later ladder edit does not rewrite it).
    audiences           text[] NOT NULL,
    offer_wider_search  boolean NOT NULL DEFAULT false,
    raised_at           timestamptz NOT NULL,
    ack_due_at          timestamptz NOT NULL,
    acknowledged_at     timestamptz,
    acknowledged_by     bigint REFERENCES users (id),
    -- Passed to the next rung for lack of acknowledgement.
    escalated_at        timestamptz,
    -- Raised early because this rung (a position) was not acknowledged in time.
    escalated_from      integer,
    CONSTRAINT escalations_once_per_rung UNIQUE (placement_id, position),
    CONSTRAINT escalations_ack_has_time CHECK ((acknowledged_by IS NULL) OR (acknowledged_at IS NOT NULL))
);
-- The clock's scan: rungs waiting for an acknowledgement.
CREATE INDEX escalations_waiting_idx ON escalations (ack_due_at)
    WHERE acknowledged_at IS NULL AND escalated_at IS NULL;
