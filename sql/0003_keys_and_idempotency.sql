-- Update by key: a notification may carry a client's key (an alert's fingerprint, a job's
-- name); a POST with the key of one of the user's notifications that is not archived updates
-- it in place. `content_cursor` is the cursor of the latest create-or-update of its content,
-- so a replay can tell an update (send it whole) from a status change (send the status).
ALTER TABLE notifications ADD COLUMN key TEXT;
ALTER TABLE notifications ADD COLUMN content_cursor INTEGER NOT NULL DEFAULT 0;
UPDATE notifications SET content_cursor = created_cursor;

CREATE INDEX notifications_user_key ON notifications (user_id, key, created_at)
WHERE key IS NOT NULL;

-- Idempotency-Key: the first answer to a POST, kept per token so that a retry gets it again.
CREATE TABLE idempotent_requests (
    token_id     TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,              -- sha256 of method, path and body
    status       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    headers      TEXT NOT NULL,              -- JSON: the answer's own headers (Location, type)
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (token_id, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotent_requests_age ON idempotent_requests (created_at);
