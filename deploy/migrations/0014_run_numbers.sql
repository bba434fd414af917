-- Which run of its attempt printed a log line, so that a reader tells an interrupted run from its rerun:
-- 1 for the attempt's first run, 2 for the next (a rerun, or a relaunch), and so on.
-- The launcher numbers a run when it claims it; rows from before stay null, as do lines no run printed.
ALTER TABLE launcher.runs ADD COLUMN number integer;
ALTER TABLE logstore.log_lines ADD COLUMN run integer;
ALTER TABLE logstore.runs ADD COLUMN run integer;
