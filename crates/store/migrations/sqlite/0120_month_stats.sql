-- Monthly sums of territory_day_stats (`month`: the first day of the month), written in the
-- same transactions as the daily rows, so that a long period reads one row per month and key
-- and only its partial months by day. Clustered on its key (WITHOUT ROWID): a node's period is
-- one contiguous range of the table.
CREATE TABLE territory_month_stats (
    territory TEXT NOT NULL,
    month     DATE NOT NULL,
    metric    TEXT NOT NULL,
    category  TEXT NOT NULL,
    n         BIGINT NOT NULL,
    PRIMARY KEY (territory, month, metric, category)
) WITHOUT ROWID;
INSERT INTO territory_month_stats (territory, month, metric, category, n)
SELECT territory, substr(day, 1, 8) || '01', metric, category, SUM(n)
FROM territory_day_stats GROUP BY territory, substr(day, 1, 8) || '01', metric, category;
