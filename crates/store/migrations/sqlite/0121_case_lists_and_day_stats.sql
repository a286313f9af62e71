-- Case lists of a county or a township, newest first, walk an index in that order instead of
-- every case: the county and township prefixes of the territory code with the id.
CREATE INDEX cases_county ON cases (substr(territory, 1, 6), id);
CREATE INDEX cases_township ON cases (substr(territory, 1, 9), id);

-- The daily rollups clustered on their key (WITHOUT ROWID), like the monthly ones: a node's
-- days are one contiguous range of the table, read without a lookup per row.
CREATE TABLE territory_day_stats_clustered (
    territory TEXT NOT NULL,
    day       DATE NOT NULL,
    metric    TEXT NOT NULL,
    category  TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (territory, day, metric, category)
) WITHOUT ROWID;
INSERT INTO territory_day_stats_clustered (territory, day, metric, category, n)
SELECT territory, day, metric, category, n FROM territory_day_stats;
DROP TABLE territory_day_stats;
ALTER TABLE territory_day_stats_clustered RENAME TO territory_day_stats;
