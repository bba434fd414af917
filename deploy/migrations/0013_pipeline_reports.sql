-- What a run reports as it goes (its step and percentage, its DICOM archive summary and a summary sentence),
-- and why an upload failed, in the words Browse shows. report_run_id is the run these belong to: a report of
-- an earlier run, arriving late, changes nothing.
ALTER TABLE logstore.uploads ADD COLUMN report_run_id bigint;
ALTER TABLE logstore.uploads ADD COLUMN step text;
ALTER TABLE logstore.uploads ADD COLUMN percent smallint;
ALTER TABLE logstore.uploads ADD COLUMN tarchive_info jsonb;
ALTER TABLE logstore.uploads ADD COLUMN summary text;
ALTER TABLE logstore.uploads ADD COLUMN failure text;

-- The per-file report of each run: what it did with each file of the archive, in the order it said so.
CREATE TABLE logstore.file_outcomes (
    outcome_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    upload_id   bigint NOT NULL,
    attempt     integer NOT NULL,
    run_id      bigint NOT NULL,
    file        text NOT NULL,
    series      text,
    outcome     text NOT NULL,
    reason      text
);
CREATE INDEX file_outcomes_run ON logstore.file_outcomes (upload_id, run_id, outcome_id);

-- Where a pipeline printed each of its lines (stdout or stderr); null for the services' own lines.
ALTER TABLE logstore.log_lines ADD COLUMN stream text;
