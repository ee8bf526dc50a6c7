-- Per-user counts by hour of creation and status, kept by triggers like notification_counts,
-- so that a `since` filter's `total` sums whole hours instead of counting every match: only
-- the part of the first hour after `since` is counted row by row. (`since` together with
-- priority, source or a search still counts its matches.)
CREATE TABLE notification_hours (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hour    INTEGER NOT NULL,               -- created_at / 3,600,000,000 (hours since the epoch)
    status  TEXT NOT NULL,
    n       INTEGER NOT NULL,
    PRIMARY KEY (user_id, hour, status)
) STRICT, WITHOUT ROWID;

INSERT INTO notification_hours (user_id, hour, status, n)
SELECT user_id, created_at / 3600000000, status, count(*) FROM notifications GROUP BY 1, 2, 3;

CREATE TRIGGER notification_hours_insert AFTER INSERT ON notifications BEGIN
    INSERT INTO notification_hours (user_id, hour, status, n)
    VALUES (NEW.user_id, NEW.created_at / 3600000000, NEW.status, 1)
    ON CONFLICT (user_id, hour, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER notification_hours_delete AFTER DELETE ON notifications BEGIN
    UPDATE notification_hours SET n = n - 1
    WHERE user_id = OLD.user_id AND hour = OLD.created_at / 3600000000 AND status = OLD.status;
END;

CREATE TRIGGER notification_hours_update AFTER UPDATE OF status ON notifications
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE notification_hours SET n = n - 1
    WHERE user_id = OLD.user_id AND hour = OLD.created_at / 3600000000 AND status = OLD.status;
    INSERT INTO notification_hours (user_id, hour, status, n)
    VALUES (NEW.user_id, NEW.created_at / 3600000000, NEW.status, 1)
    ON CONFLICT (user_id, hour, status) DO UPDATE SET n = n + 1;
END;
