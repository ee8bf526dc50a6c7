-- The search index is brought up to date once per write batch instead of once per row.
--
-- Why: FTS5 writes the words it holds in memory out to a new segment of the index at every
-- savepoint — and the writer takes one per request (so that one request's failure does not undo
-- the others in its batch), as SQLite does per statement when a trigger writes elsewhere. Kept
-- by a trigger, every notification became a segment of its own, to be merged again later:
-- ~53 µs of every insert's ~140 here. Now an insert only notes its rowid in
-- notifications_fts_pending, and the writer indexes the noted rows with one statement before
-- each COMMIT (storage/search_index.py), in the same transaction: ~18 µs a row.
--
-- Rows still pending when they are changed or deleted (in the same batch) only leave or stay in
-- the queue: the index must never be told to delete words it was not given.
CREATE TABLE notifications_fts_pending (
    rowid INTEGER PRIMARY KEY  -- a notifications rowid whose words are not in the index yet
);

DROP TRIGGER notifications_fts_insert;
CREATE TRIGGER notifications_fts_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notifications_fts_pending (rowid) VALUES (NEW.rowid);
END;

DROP TRIGGER notifications_fts_delete;
CREATE TRIGGER notifications_fts_delete AFTER DELETE ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, message, source)
    SELECT 'delete', OLD.rowid, OLD.title, OLD.message, OLD.source
    WHERE NOT EXISTS (SELECT 1 FROM notifications_fts_pending WHERE rowid = OLD.rowid);
    DELETE FROM notifications_fts_pending WHERE rowid = OLD.rowid;
END;

DROP TRIGGER notifications_fts_update;
CREATE TRIGGER notifications_fts_update AFTER UPDATE OF title, message, source ON notifications
WHEN (OLD.title IS NOT NEW.title OR OLD.message IS NOT NEW.message
  OR OLD.source IS NOT NEW.source)
  AND NOT EXISTS (SELECT 1 FROM notifications_fts_pending WHERE rowid = OLD.rowid) BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, message, source)
    VALUES ('delete', OLD.rowid, OLD.title, OLD.message, OLD.source);
    INSERT INTO notifications_fts (rowid, title, message, source)
    VALUES (NEW.rowid, NEW.title, NEW.message, NEW.source);
END;
