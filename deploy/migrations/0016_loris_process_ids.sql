-- LORIS process ids (issue 23): each launch of an upload has, from the moment it is asked for, the number the
-- LORIS REST API shows as its process ID, from the POST that launches it to the end of its run. The gateway
-- gives it (to a launch wanted before the upload is validated, or granted) and carries it in
-- upload.launch_requested; the logstore records it per launch, so that every run of the launch (an interrupted
-- run queued again included) is shown under it.
CREATE SEQUENCE gateway.process_ids;
-- A run recorded before this migration keeps its run id as its process ID: new ids start above them.
SELECT setval('gateway.process_ids', coalesce(max(run_id), 0) + 1, false) FROM launcher.runs;

-- The process id of the current attempt's launch, wanted or granted; null while none was asked for.
ALTER TABLE gateway.uploads ADD COLUMN process_id bigint;
-- Launches asked for and not started yet get theirs now (their runs are then shown under it).
UPDATE gateway.uploads SET process_id = nextval('gateway.process_ids')
WHERE state = 'upload.launch_requested'
   OR (launch_when_valid AND state IN ('upload.received', 'upload.validated', 'upload.rejected'));

CREATE TABLE logstore.launches (
    upload_id   bigint NOT NULL,
    attempt     integer NOT NULL,
    launch      integer NOT NULL,
    process_id  bigint NOT NULL,
    PRIMARY KEY (upload_id, attempt, launch)
);
