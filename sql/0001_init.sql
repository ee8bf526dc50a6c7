-- Users are keyed by (issuer, sub), never by e-mail. Local mode uses issuer 'local'.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    issuer        TEXT NOT NULL,
    sub           TEXT NOT NULL,
    email         TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,          -- microseconds since the epoch, UTC
    last_login_at INTEGER,
    UNIQUE (issuer, sub)
) STRICT;

-- `cursor` is the global change cursor of the row's latest change (create or status change);
-- `created_cursor` is the cursor of its creation, so a replay can tell a new row from a change.
CREATE TABLE notifications (
    id             TEXT PRIMARY KEY,         -- UUIDv7: time-ordered, cheap to insert
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title          TEXT NOT NULL,
    message        TEXT,
    priority       TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    status         TEXT NOT NULL DEFAULT 'unread' CHECK (status IN ('unread', 'read', 'archived')),
    source         TEXT,
    created_at     INTEGER NOT NULL,
    read_at        INTEGER,
    metadata       TEXT,                     -- JSON object, or NULL
    cursor         INTEGER NOT NULL,
    created_cursor INTEGER NOT NULL
) STRICT;

CREATE INDEX notifications_user_created ON notifications (user_id, created_at, id);
CREATE INDEX notifications_user_status ON notifications (user_id, status, created_at, id);
CREATE INDEX notifications_user_priority ON notifications (user_id, priority, created_at, id);
CREATE INDEX notifications_user_source ON notifications (user_id, source, created_at, id);
CREATE INDEX notifications_user_cursor ON notifications (user_id, cursor);

-- A deleted notification leaves a tombstone so that other devices learn of the delete.
CREATE TABLE tombstones (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cursor     INTEGER NOT NULL,
    deleted_at INTEGER NOT NULL
) STRICT;

CREATE INDEX tombstones_user_cursor ON tombstones (user_id, cursor);

-- Per-user counts by status, priority and source, kept by triggers in the same transaction, so
-- the list's `total` is a sum over a few rows instead of a COUNT(*) over an index. A missing
-- source is counted under ''.
CREATE TABLE notification_counts (
    user_id  TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status   TEXT NOT NULL,
    priority TEXT NOT NULL,
    source   TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (user_id, status, priority, source)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER notifications_count_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notification_counts (user_id, status, priority, source, n)
    VALUES (NEW.user_id, NEW.status, NEW.priority, coalesce(NEW.source, ''), 1)
    ON CONFLICT (user_id, status, priority, source) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER notifications_count_delete AFTER DELETE ON notifications BEGIN
    UPDATE notification_counts SET n = n - 1
    WHERE user_id = OLD.user_id AND status = OLD.status AND priority = OLD.priority
      AND source = coalesce(OLD.source, '');
END;

CREATE TRIGGER notifications_count_update AFTER UPDATE OF status, priority, source ON notifications
WHEN OLD.status IS NOT NEW.status OR OLD.priority IS NOT NEW.priority
  OR OLD.source IS NOT NEW.source BEGIN
    UPDATE notification_counts SET n = n - 1
    WHERE user_id = OLD.user_id AND status = OLD.status AND priority = OLD.priority
      AND source = coalesce(OLD.source, '');
    INSERT INTO notification_counts (user_id, status, priority, source, n)
    VALUES (NEW.user_id, NEW.status, NEW.priority, coalesce(NEW.source, ''), 1)
    ON CONFLICT (user_id, status, priority, source) DO UPDATE SET n = n + 1;
END;

-- API tokens: `pn_<lookup_id>_<secret>`. Only the lookup id and bcrypt(secret) are stored.
CREATE TABLE client_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    lookup_id    TEXT NOT NULL UNIQUE,
    token_hash   TEXT NOT NULL,
    name         TEXT NOT NULL,
    device_type  TEXT NOT NULL CHECK (device_type IN ('android', 'gnome', 'other')),
    scope        TEXT NOT NULL CHECK (scope IN ('publish', 'full')),
    last_used_at INTEGER,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER
) STRICT;

CREATE INDEX client_tokens_user ON client_tokens (user_id, created_at);

-- Small key/value state: the last change cursor handed out, the oldest cursor still replayable.
CREATE TABLE server_state (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO server_state (key, value) VALUES ('change_cursor', 0), ('replayable_after', 0);
