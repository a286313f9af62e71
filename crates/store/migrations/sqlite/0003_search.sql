-- Full-text search moves from a (term, case) table to the engine's own text index (SQLite).
-- The terms are still computed once, in `domain::search`, for both databases; the index only
-- stores them. FTS5 writes a batch of cases as one sorted segment instead of 30-40 random
-- B-tree inserts per case, which kept the single writer busy (measured: a batch of 64 cases
-- took ~48 ms in the term table against ~2 ms in FTS5, at a seventh of the size).
--
-- `case_search`: rowid = case id; `terms` = the case's terms joined by spaces. The `ascii`
-- tokenizer splits only on ASCII spaces and punctuation, so every Chinese word, Tibetan syllable
-- or syllable pair and Latin run the domain produced stays one token. Contentless (the text is in
-- `cases`), with deletes allowed, and no positions (a query is an AND of exact terms).
DROP TABLE case_terms;
CREATE VIRTUAL TABLE case_search USING fts5(
    terms,
    content = '',
    contentless_delete = 1,
    tokenize = 'ascii',
    detail = 'none'
);
-- Everything already stored is indexed again by the indexer.
INSERT OR IGNORE INTO search_backlog (case_id) SELECT id FROM cases;
