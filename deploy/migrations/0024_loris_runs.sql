-- LORIS site mode (issue 25): a run knows its upload's row in LORIS's mri_upload (LaunchRequested.loris_upload_id,
-- given to LORIS-MRI as -upload_id), how far LORIS-MRI's log in notification_spool has been turned into log lines
-- (the last NotificationID, moved in the transaction of the outbox row that carries the lines, so a run's try
-- after a kill, or another launcher, goes on from there), and whether the row still owes Inserting = 0 after a
-- failed end that could not write it at once.
ALTER TABLE launcher.runs ADD COLUMN loris_upload_id bigint;
ALTER TABLE launcher.runs ADD COLUMN loris_spool_last bigint NOT NULL DEFAULT 0;
ALTER TABLE launcher.runs ADD COLUMN loris_owes_not_inserting boolean NOT NULL DEFAULT false;
CREATE INDEX runs_owing_not_inserting ON launcher.runs (run_id) WHERE loris_owes_not_inserting;

-- The upload's mri_upload row as the launcher read it back at its run's end (PipelineFinished.loris_record).
ALTER TABLE logstore.uploads ADD COLUMN loris_record jsonb;
