-- Full-text search moves from a (term, case) table to the engine's own text index (PostgreSQL).
-- The terms are still computed once, in `domain::search`, for both databases; the index only
-- stores them: `terms` is a tsvector made from the case's terms as they are
-- (`array_to_tsvector`, no parser or dictionary in between), under a GIN index.
DROP TABLE case_terms;
CREATE TABLE case_search (
    case_id BIGINT PRIMARY KEY REFERENCES cases(id),
    terms   TSVECTOR NOT NULL
);
CREATE INDEX case_search_terms ON case_search USING GIN (terms);
-- Everything already stored is indexed again by the indexer.
INSERT INTO search_backlog (case_id) SELECT id FROM cases ON CONFLICT DO NOTHING;
