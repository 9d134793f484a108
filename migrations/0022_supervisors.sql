-- Supervisors (issue 13 §2): a liaison lead scoped to one region. A supervisor sees and
-- coordinates the placements whose county is in their region and is the escalation
-- ladder's `supervisor` rung for them. Every supervisor has a region and only
-- supervisors have one. A region that still has supervisors cannot be deleted (the
-- foreign key refuses; regions.delete_region says so first, naming them).

ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'liaison', 'supervisor', 'facility', 'court', 'viewer'));

ALTER TABLE users ADD COLUMN region_id bigint REFERENCES regions (id);
ALTER TABLE users ADD CONSTRAINT users_region_scope
    CHECK ((role = 'supervisor') = (region_id IS NOT NULL));
CREATE INDEX users_region_idx ON users (region_id) WHERE region_id IS NOT NULL;

-- The principal carries the region and its counties (the placements it may see), read
-- with the user on every request, so a region's new counties count at once.
CREATE OR REPLACE VIEW principals AS
SELECT u.id AS user_id, u.email, u.display_name, u.role, u.court_id, u.disabled, u.password_hash,
       COALESCE((SELECT array_agg(uf.facility_id ORDER BY uf.facility_id)
                   FROM user_facilities uf WHERE uf.user_id = u.id), '{}') AS facility_ids,
       u.region_id,
       COALESCE((SELECT array_agg(rc.county_fips ORDER BY rc.county_fips)
                   FROM region_counties rc WHERE rc.region_id = u.region_id), '{}')
         AS region_counties
  FROM users u;
