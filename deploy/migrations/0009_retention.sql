-- Retention: published outbox rows and de-duplication records are pruned after
-- a while (services/common/retention.py), and the files of attempts that will
-- never run again are removed (services/gateway/attempt_files.py).

-- The pruners delete by age, in bounded batches: each batch must find its rows
-- through an index, not by reading the whole table. Unpublished outbox rows are
-- never pruned, so they are left out of the index (the relay has its own).
DO $$
DECLARE
    target_schema text;
BEGIN
    FOREACH target_schema IN ARRAY ARRAY['gateway', 'validator', 'launcher', 'logstore'] LOOP
        EXECUTE format(
            'CREATE INDEX outbox_published_at ON %1$I.outbox (published_at) WHERE published_at IS NOT NULL;
             CREATE INDEX processed_events_processed_at ON %1$I.processed_events (processed_at);',
            target_schema);
    END LOOP;
END;
$$;

-- When the gateway removed an attempt's file (replaced, rejected or failed, after the retention);
-- null while the file is kept. A removed attempt is never granted a run.
ALTER TABLE gateway.upload_attempts ADD COLUMN removed_at timestamptz;
