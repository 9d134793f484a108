-- Phone calls that count (issue 14 §3): a liaison's calls to facilities about a
-- placement (placements.calls), and a phone "no bed" as a labelled census observation
-- (census.py). A phone check never changes a unit's reported counts (unit_census).

-- One call about a placement: which facility (and unit, when the call was about one),
-- what they said, and when to call back. ``referral_id``: the referral whose acceptance
-- the liaison recorded on the facility's behalf after a "has a bed" call. No free text.
CREATE TABLE placement_calls (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    placement_id  bigint NOT NULL REFERENCES placements (id),
    facility_id   bigint NOT NULL REFERENCES facilities (id),
    unit_id       bigint REFERENCES units (id),
    outcome       text NOT NULL CHECK (outcome IN ('no_bed', 'has_bed', 'call_back', 'no_answer')),
    call_back_at  timestamptz,
    referral_id   bigint REFERENCES referrals (id),
    called_by     bigint REFERENCES users (id),
    called_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome = 'call_back') = (call_back_at IS NOT NULL)),
    CHECK (referral_id IS NULL OR (outcome = 'has_bed' AND unit_id IS NOT NULL))
);
CREATE INDEX placement_calls_placement_idx ON placement_calls (placement_id, called_at);

-- "No bed" heard by phone: an observation beside the reports, never a report. The board
-- shows the newest one next to the facility while it is newer than the facility's last
-- report (and at most 12 hours old); reporter compliance counts them apart from reports.
CREATE TABLE census_phone_checks (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    facility_id   bigint NOT NULL REFERENCES facilities (id),
    unit_id       bigint REFERENCES units (id),
    observed_at   timestamptz NOT NULL DEFAULT now(),
    recorded_by   bigint REFERENCES users (id),
    placement_id  bigint REFERENCES placements (id),
    source        text NOT NULL DEFAULT 'phone' CHECK (source = 'phone')
);
CREATE INDEX census_phone_checks_facility_idx ON census_phone_checks (facility_id, observed_at DESC);
