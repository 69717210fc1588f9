-- Where PostGIS is installed: a geometry column generated from the stored WKB (so it can never
-- disagree with it), typed and in the catalog's CRS, with a GiST index for spatial queries.
ALTER TABLE {history} ADD COLUMN IF NOT EXISTS {geom} geometry({geometry_type}, {srid})
    GENERATED ALWAYS AS (ST_GeomFromWKB({wkb}, {srid})) STORED;
CREATE INDEX IF NOT EXISTS {index} ON {history} USING gist ({geom});
