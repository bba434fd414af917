-- The launcher owns the pipeline runs: one per upload attempt, whoever asked.
CREATE SCHEMA IF NOT EXISTS launcher;

CREATE TABLE launcher.runs (
    run_id        bigserial PRIMARY KEY,
    upload_id     bigint NOT NULL,
    attempt       integer NOT NULL,
    scan          jsonb NOT NULL,
    -- queued -> running -> succeeded | failed; superseded when a newer attempt came first
    state         text NOT NULL DEFAULT 'queued',
    owner         text,
    command       text[],
    exit_code     integer,
    queued_at     timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    heartbeat_at  timestamptz,
    finished_at   timestamptz,
    UNIQUE (upload_id, attempt)
);
CREATE INDEX runs_queued ON launcher.runs (run_id) WHERE state = 'queued';
CREATE INDEX runs_running ON launcher.runs (heartbeat_at) WHERE state = 'running';

SELECT public.create_messaging_tables('launcher');
