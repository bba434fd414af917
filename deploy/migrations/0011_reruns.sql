-- Interrupted runs recover (issue 15): a run may be run again, automatically
-- (a new try of the same launch) or on request (a new launch of the same
-- attempt), and a launcher records an end that came after its run was given up.

-- launch: the gateway's grant number for the attempt (1, then 2 after a relaunch...);
-- try: 1, then 2 when an interrupted run was queued again on its own.
ALTER TABLE launcher.runs ADD COLUMN launch integer NOT NULL DEFAULT 1;
ALTER TABLE launcher.runs ADD COLUMN try integer NOT NULL DEFAULT 1;
ALTER TABLE launcher.runs ADD COLUMN ended_why text;
ALTER TABLE launcher.runs ADD COLUMN late_exit_code integer;
ALTER TABLE launcher.runs ADD COLUMN late_finished_at timestamptz;
ALTER TABLE launcher.runs DROP CONSTRAINT runs_upload_id_attempt_key;
ALTER TABLE launcher.runs ADD CONSTRAINT runs_one_per_try UNIQUE (upload_id, attempt, launch, try);

-- The gateway grants a relaunch only when the last run ended for the launcher's reasons.
ALTER TABLE gateway.uploads ADD COLUMN launches integer NOT NULL DEFAULT 0;
ALTER TABLE gateway.uploads ADD COLUMN run_outcome text;
UPDATE gateway.uploads SET launches = 1
WHERE state IN ('upload.launch_requested', 'pipeline.started', 'pipeline.finished');

ALTER TABLE logstore.runs ADD COLUMN launch integer NOT NULL DEFAULT 1;
