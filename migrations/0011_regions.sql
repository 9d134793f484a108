-- Regions (issue 12, issue 13 §2): a named set of counties, defined by administrators.
-- Reports filter by a region, the public summary groups free beds by region. A county
-- is in at most one region (county_fips is the key of region_counties).

CREATE TABLE regions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (btrim(name) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE region_counties (
    county_fips text PRIMARY KEY REFERENCES counties (fips),
    region_id   bigint NOT NULL REFERENCES regions (id) ON DELETE CASCADE
);
CREATE INDEX region_counties_region_idx ON region_counties (region_id);
-- Names are unique regardless of case ("Central" and "central" are one region).
CREATE UNIQUE INDEX regions_name_key ON regions (lower(name));
