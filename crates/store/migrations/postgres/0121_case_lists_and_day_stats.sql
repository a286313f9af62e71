-- Case lists of a county or a township, newest first, walk an index in that order instead of
-- every case: the county and township prefixes of the territory code with the id.
CREATE INDEX cases_county ON cases (substr(territory, 1, 6), id);
CREATE INDEX cases_township ON cases (substr(territory, 1, 9), id);
-- (The daily rollups stay a heap with their primary key here: PostgreSQL reads a range of it
-- through the index; SQLite's copy is clustered by this migration.)
