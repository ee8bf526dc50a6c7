-- The search index moves to a database file of its own, kept up to date by a thread of its own
-- (storage/search_index.py, search_indexer.py); this database keeps only the list of changes
-- it has still to take in.
--
-- Why: SQLite lets one transaction at a time write a file. Indexing a batch's rows in its
-- transaction, and merging the index's segments between batches (8 to 15 ms a step that
-- merged, with the write lock held), was the largest part of a POST's p99 under `make bench`'s
-- load. Apart, the index is written beside the notifications, on the other core.
--
-- Every change to a notification's words (create, update by key, delete, retention) notes its
-- rowid here, numbered in order: AUTOINCREMENT, so a number is never handed out twice, even
-- once the list is emptied. `fresh`: the row is new, so the index has no words of it to remove.
-- The index file records the number of the last change it holds; the writer removes the
-- changes up to there.
DROP TRIGGER notifications_fts_insert;
DROP TRIGGER notifications_fts_update;
DROP TRIGGER notifications_fts_delete;
DROP TABLE notifications_fts_pending;
DROP TABLE notifications_fts;

CREATE TABLE search_changes (
    seq   INTEGER PRIMARY KEY AUTOINCREMENT,
    row   INTEGER NOT NULL,  -- a notifications rowid
    fresh INTEGER NOT NULL   -- 1: created by this change
) STRICT;

CREATE TRIGGER search_changes_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO search_changes (row, fresh) VALUES (NEW.rowid, 1);
END;

CREATE TRIGGER search_changes_update AFTER UPDATE OF title, message, source ON notifications
WHEN OLD.title IS NOT NEW.title OR OLD.message IS NOT NEW.message
  OR OLD.source IS NOT NEW.source BEGIN
    INSERT INTO search_changes (row, fresh) VALUES (NEW.rowid, 0);
END;

CREATE TRIGGER search_changes_delete AFTER DELETE ON notifications BEGIN
    INSERT INTO search_changes (row, fresh) VALUES (OLD.rowid, 0);
END;

-- Which database an index file was built from: a file beside another database (copied in, or
-- the data directory's files mixed up) is rebuilt, not trusted.
INSERT INTO server_state (key, value) VALUES ('search_identity', random());
