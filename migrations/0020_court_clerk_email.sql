-- The court clerk's address (issue 13 §5), optional: when set, a placement of the court
-- that has a referral accepted, is admitted, is closed or passes its legal deadline before
-- admission is emailed there (the reference, status, facility and deadline; nothing
-- clinical or personal). NULL: no clerk email.
ALTER TABLE courts ADD COLUMN clerk_email text CHECK (
    clerk_email IS NULL
    OR (clerk_email = lower(clerk_email) AND length(clerk_email) <= 254
        AND clerk_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'));

-- A bed hold's expiry notice becomes its own event, hold_expired; hold_expiring is now
-- the warning before the hold runs out. Until now hold_expiring carried the expiry
-- notice, so whoever chose its channels (or subscribed a webhook to it) keeps that
-- choice for the expiry notice.
UPDATE notify_preferences
   SET channels = channels || jsonb_build_object('hold_expired', channels -> 'hold_expiring')
 WHERE channels ? 'hold_expiring' AND NOT channels ? 'hold_expired';
UPDATE webhook_endpoints SET events = array_append(events, 'hold_expired')
 WHERE 'hold_expiring' = ANY (events) AND NOT 'hold_expired' = ANY (events);
