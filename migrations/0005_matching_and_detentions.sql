-- Matching follows the person, and a 96-hour detention may start without a court.

-- RSMo 632.305: a 96-hour detention either starts on a court's order (632.305.2) or on
-- a mental health coordinator's or peace officer's application (632.305.3), when no court
-- is involved yet. The same 96-hour clock; only the first needs the court at the start.
ALTER TABLE order_types ADD COLUMN court_required boolean NOT NULL DEFAULT true;
UPDATE order_types SET court_required = court_ordered;
UPDATE order_types SET position = position + 1;
UPDATE order_types
   SET label = '96-hour detention, court-ordered', statute = 'RSMo 632.305.2'
 WHERE code = 'emergency_96h';
INSERT INTO order_types (code, label, statute, deadline_hours, court_ordered, court_required, position)
VALUES ('emergency_96h_application',
        '96-hour detention, on application (no court yet)',
        'RSMo 632.305.3', 96, false, false, 1);

-- Whether a court is required now depends on the order type (checked where placements
-- are written, against order_types); the court may be attached later.
ALTER TABLE placements DROP CONSTRAINT placements_court_order_has_court;

-- Unit genders a placement matches: male (men's or mixed units), female (women's or
-- mixed), mixed (mixed only), any (every unit). NULL rows from before mean "any".
ALTER TABLE placements DROP CONSTRAINT placements_gender_check;
UPDATE placements SET gender = 'any' WHERE gender IS NULL;
ALTER TABLE placements ALTER COLUMN gender SET NOT NULL;
ALTER TABLE placements ADD CONSTRAINT placements_gender_check
    CHECK (gender IN ('male', 'female', 'mixed', 'any'));

-- A liaison's deliberate choice of an age group or unit gender that the person's age or
-- sex would not give; shown on the placement page and recorded on the timeline.
ALTER TABLE placements
    ADD COLUMN population_override boolean NOT NULL DEFAULT false,
    ADD COLUMN gender_override boolean NOT NULL DEFAULT false;

-- A call-back number for the people others must reach (a referring liaison, on the
-- receiving facility's referral card).
ALTER TABLE users ADD COLUMN phone text NOT NULL DEFAULT '' CHECK (length(phone) <= 40);

-- Free text does not belong in the append-only timeline: a transition's note was copied
-- into its event. The text stays where it is kept and access-controlled (a closed
-- placement's outcome note); the event keeps only that a note existed.
ALTER TABLE placement_events DISABLE TRIGGER placement_events_no_update_delete;
UPDATE placement_events
   SET data = (data - 'note') || jsonb_build_object('has_note', COALESCE(data->>'note', '') <> '')
 WHERE kind = 'transition' AND data ? 'note';
ALTER TABLE placement_events ENABLE TRIGGER placement_events_no_update_delete;
