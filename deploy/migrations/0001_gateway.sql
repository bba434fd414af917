-- The gateway owns users, their API tokens, and the authority on each upload:
-- which attempt is current and what happened to it last.
CREATE SCHEMA IF NOT EXISTS gateway;

CREATE TABLE gateway.users (
    user_id     bigserial PRIMARY KEY,
    username    text NOT NULL UNIQUE,
    real_name   text NOT NULL DEFAULT '',
    permissions text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 digest of each token is kept.
CREATE TABLE gateway.api_tokens (
    token_sha256 bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES gateway.users ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateway.uploads (
    upload_id    bigserial PRIMARY KEY,
    file_name    text NOT NULL UNIQUE,
    candid       text,
    pscid        text,
    visit_label  text,
    is_phantom   boolean NOT NULL,
    attempt      integer NOT NULL,
    uploaded_by  text NOT NULL,
    -- the type of the last event of the current attempt, its rank and the progress it means
    state        text NOT NULL,
    state_rank   integer NOT NULL,
    progress     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gateway.upload_attempts (
    upload_id   bigint NOT NULL REFERENCES gateway.uploads,
    attempt     integer NOT NULL,
    scan_key    text NOT NULL,
    size_bytes  bigint NOT NULL,
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, attempt)
);

SELECT public.create_messaging_tables('gateway');
