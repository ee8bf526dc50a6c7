-- Full-text search over title, message and source: an external-content FTS5 index keyed by
-- the notifications' rowid (pnotify never VACUUMs, which could renumber rowids; the page-level
-- backup keeps them). Triggers keep it in the same transaction as the row, for every write:
-- create, update by key, delete and retention. No `prefix` indexes: they made every insert
-- write each word three times (POST -6 % in `make bench`), and a word start of four or more
-- letters is a quick range of terms without them. `columnsize = 0`: no per-row sizes, which
-- only ranking by relevance (bm25) reads; results come newest first. Another 5 % of POST.
CREATE VIRTUAL TABLE notifications_fts USING fts5 (
    title, message, source,
    content = 'notifications', content_rowid = 'rowid',
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);

INSERT INTO notifications_fts (notifications_fts) VALUES ('rebuild');

CREATE TRIGGER notifications_fts_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notifications_fts (rowid, title, message, source)
    VALUES (NEW.rowid, NEW.title, NEW.message, NEW.source);
END;

CREATE TRIGGER notifications_fts_delete AFTER DELETE ON notifications BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, message, source)
    VALUES ('delete', OLD.rowid, OLD.title, OLD.message, OLD.source);
END;

CREATE TRIGGER notifications_fts_update AFTER UPDATE OF title, message, source ON notifications
WHEN OLD.title IS NOT NEW.title OR OLD.message IS NOT NEW.message
  OR OLD.source IS NOT NEW.source BEGIN
    INSERT INTO notifications_fts (notifications_fts, rowid, title, message, source)
    VALUES ('delete', OLD.rowid, OLD.title, OLD.message, OLD.source);
    INSERT INTO notifications_fts (rowid, title, message, source)
    VALUES (NEW.rowid, NEW.title, NEW.message, NEW.source);
END;

-- Source filters match without regard to (ASCII) case: `Monitoring` finds `monitoring`.
DROP INDEX notifications_user_source;
CREATE INDEX notifications_user_source ON notifications (user_id, source COLLATE NOCASE, created_at, id);
