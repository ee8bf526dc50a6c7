-- Browser sessions, kept server-side so that signing out ends them everywhere: the cookie only
-- carries a signed session id, and a copied cookie stops working once its row is gone.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,             -- sha256 of the random id in the cookie
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    id_token   TEXT                          -- for the provider's end-session id_token_hint
) STRICT;

CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- One-time sign-in links for local mode (printed at start-up or by `pnotify login-link`).
CREATE TABLE login_links (
    code_hash  TEXT PRIMARY KEY,             -- sha256 of the code in the link
    expires_at INTEGER NOT NULL
) STRICT;
