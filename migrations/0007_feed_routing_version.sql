-- What the HL7 listener keeps in memory to route a message (bedboard.feeds.routes): every
-- enabled hl7 feed's settings and mappings. Any change to them bumps this one number, in
-- the changing transaction; each message's first read compares it with the cached one,
-- so an edited, disabled or remapped feed is honoured from the next message on.
CREATE TABLE feed_routing_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO feed_routing_version (only_row, version) VALUES (true, 0);

CREATE FUNCTION bump_feed_routing_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE feed_routing_version SET version = version + 1;
    RETURN NULL;
END
$$;

-- Not on a poll (a poll updates the cursor): only what routing reads.
CREATE TRIGGER feeds_bump_feed_routing_version
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF kind, config, enabled, facility_id ON feeds
    FOR EACH STATEMENT EXECUTE FUNCTION bump_feed_routing_version();
CREATE TRIGGER feed_mappings_bump_feed_routing_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON feed_mappings
    FOR EACH STATEMENT EXECUTE FUNCTION bump_feed_routing_version();
