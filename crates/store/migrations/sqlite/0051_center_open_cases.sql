-- The war room's load map and lists read open cases only: a partial index over them by place,
-- so that a node's open and overdue counts per child cost the open cases of that node alone,
-- however many closed cases the history holds. (The query repeats this WHERE clause exactly,
-- which is what lets SQLite use a partial index; with the status and deadline in it, the
-- index alone answers the load query.)
CREATE INDEX cases_open_territory ON cases (territory, status, deadline)
    WHERE status NOT IN ('closed','rejected','merged');
