-- LORIS parity: users with sites and passwords, each upload's site and launch
-- intent, the process record of each run, and what the pipeline reports.

-- Users: argon2 password hashes and the site aliases of the own-sites permission.
ALTER TABLE gateway.users ADD COLUMN password_hash text;
ALTER TABLE gateway.users ADD COLUMN sites text[] NOT NULL DEFAULT '{}';
-- Tokens issued by a login expire; tokens issued by an administrator do not.
ALTER TABLE gateway.api_tokens ADD COLUMN expires_at timestamptz;
ALTER TABLE gateway.api_tokens ADD COLUMN issued_by text NOT NULL DEFAULT 'admin';

-- The site of an upload's candidate (null for a phantom, or until the
-- validator has found it), and whether the pipeline may start as soon as the
-- current attempt is validated (auto-launch, or a launch asked for early).
ALTER TABLE gateway.uploads ADD COLUMN site text;
ALTER TABLE gateway.uploads ADD COLUMN launch_when_valid boolean NOT NULL DEFAULT false;
ALTER TABLE gateway.uploads ADD COLUMN launch_requested_by text;

ALTER TABLE logstore.uploads ADD COLUMN site text;
ALTER TABLE logstore.uploads ADD COLUMN scan_key text;
ALTER TABLE logstore.uploads ADD COLUMN tarchive text;
ALTER TABLE logstore.uploads ADD COLUMN minc_created integer;
ALTER TABLE logstore.uploads ADD COLUMN minc_inserted integer;
CREATE INDEX uploads_uploaded_at ON logstore.uploads (uploaded_at, upload_id);
CREATE INDEX uploads_site_uploaded_at ON logstore.uploads (site, uploaded_at, upload_id);
CREATE INDEX uploads_visit_label ON logstore.uploads (visit_label);

-- Process records, like LORIS's server process manager: one row per run.
CREATE TABLE logstore.runs (
    run_id       bigint PRIMARY KEY,
    upload_id    bigint NOT NULL,
    attempt      integer NOT NULL,
    command      text[],
    launcher     text,
    pid          integer,
    started_at   timestamptz,
    ended_at     timestamptz,
    exit_code    integer,
    outcome      text NOT NULL DEFAULT 'running',
    stderr_tail  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_by_upload ON logstore.runs (upload_id, run_id);

-- The launcher keeps why a run ended, beside its exit code.
ALTER TABLE launcher.runs ADD COLUMN outcome text;
ALTER TABLE launcher.runs ADD COLUMN pid integer;
