-- A user may cancel a run (POST /api/v1/uploads/{id}/cancel): a queued run ends at once, a running one is
-- stopped by its launcher, which reads who asked here (and is woken by a NOTIFY).
ALTER TABLE launcher.runs ADD COLUMN cancel_requested_by text;
