-- The search index's segments are merged a little at every write batch, never all at once.
--
-- Why: the writer adds one FTS5 segment per batch, and FTS5 merges every segment of a level in
-- one go once 16 wait there ('crisismerge'); its own incremental merging ('automerge') does work
-- only every 64 pages written, which batches of a few rows seldom reach. So one COMMIT in 16
-- merged a whole level: measured over 6,000 batches of 16 rows, a transaction's p99.9 was
-- 24 ms and its worst 35 ms (3.6 ms median); after 100k rows loaded at once, a single COMMIT
-- took 50 ms. Now each batch does a bounded step of merging instead (`'merge', 16` in
-- storage/search_index.py: p99.9 7.8 ms, worst 8.5 ms), on levels holding 4 segments or more;
-- the all-at-once merge stays only as a backstop, at 64 segments.
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('automerge', 0);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('usermerge', 4);
INSERT INTO notifications_fts (notifications_fts, rank) VALUES ('crisismerge', 64);
