-- The logstore is the read side: every event once, the progress of each
-- upload, and the log lines a user reads.
CREATE SCHEMA IF NOT EXISTS logstore;

CREATE TABLE logstore.uploads (
    upload_id     bigint PRIMARY KEY,
    file_name     text,
    candid        text,
    pscid         text,
    visit_label   text,
    is_phantom    boolean,
    uploaded_by   text,
    size_bytes    bigint,
    attempt       integer NOT NULL,
    state_rank    integer NOT NULL,
    progress      text NOT NULL,
    exit_code     integer,
    uploaded_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploads_candid ON logstore.uploads (candid);
CREATE INDEX uploads_pscid ON logstore.uploads (pscid);
CREATE INDEX uploads_progress ON logstore.uploads (progress);

CREATE TABLE logstore.log_lines (
    line_id     bigserial PRIMARY KEY,
    upload_id   bigint NOT NULL,
    attempt     integer NOT NULL,
    event_id    uuid NOT NULL,
    logged_at   timestamptz NOT NULL,
    origin      text NOT NULL,
    message     text NOT NULL,
    is_error    boolean NOT NULL DEFAULT false,
    is_verbose  boolean NOT NULL DEFAULT false
);
CREATE INDEX log_lines_by_upload ON logstore.log_lines (upload_id, line_id);

-- the logstore publishes nothing, but uses the same de-duplication table
SELECT public.create_messaging_tables('logstore');
