-- A delivery may go to an address from the settings (the state's on-call for the
-- escalation ladder, BEDBOARD_STATE_ON_CALL_EMAIL) rather than a user, a facility
-- contact or a webhook endpoint: then it names none of the three and is an email with
-- its address.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_one_recipient;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_one_recipient CHECK (
    num_nonnulls(user_id, contact_id, endpoint_id) = 1
    OR (num_nonnulls(user_id, contact_id, endpoint_id) = 0
        AND channel = 'email' AND address <> ''));
