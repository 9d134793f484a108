-- What the board shows besides census, beds held and freshness (which all reach the
-- outbox, so its seq covers them): the directory of facilities and units and whether a
-- facility's feeds are enabled. Any change to it bumps this one number, in the changing
-- transaction, so a cached board (board.BoardCache) knows it is out of date.
CREATE TABLE directory_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO directory_version (only_row, version) VALUES (true, 0);

CREATE FUNCTION bump_directory_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE directory_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER facilities_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON facilities
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER units_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON units
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
CREATE TRIGGER counties_bump_directory_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON counties
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
-- Not on every poll (a poll updates the cursor): only what the board's feed_state reads.
CREATE TRIGGER feeds_bump_directory_version
    AFTER INSERT OR DELETE OR UPDATE OF enabled, facility_id ON feeds
    FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_version();
