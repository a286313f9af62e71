-- The daily analysis reads the cases created in a window of days (today and the 30 before):
-- by creation time, so it costs that window, not the node's whole history.
CREATE INDEX cases_created ON cases (created_at);
