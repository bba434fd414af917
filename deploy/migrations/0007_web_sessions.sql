-- Browser sign-in: the sessions of signed-in browsers, and the failed
-- sign-ins that throttle password guessing. Both live here rather than in a
-- gateway's memory, so that every gateway replica sees them.

-- A session is known by its cookie, of which only a SHA-256 digest is kept
-- (as of API tokens). Signing out deletes the row.
CREATE TABLE gateway.web_sessions (
    session_sha256 bytea PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES gateway.users ON DELETE CASCADE,
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX web_sessions_expires_at ON gateway.web_sessions (expires_at);

-- One row per failed sign-in, of any username (known or not), known by the
-- SHA-256 digest of the username: a row has the same size whatever was
-- typed, and a password typed as a username is not kept. Rows older than
-- the window are deleted as new ones come.
CREATE TABLE gateway.sign_in_failures (
    username_sha256 bytea NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sign_in_failures_by_username ON gateway.sign_in_failures (username_sha256, failed_at);
CREATE INDEX sign_in_failures_failed_at ON gateway.sign_in_failures (failed_at);
