-- An outbox row the broker refuses for good (a message larger than RabbitMQ's
-- max_message_size) is set aside by the relay instead of being tried forever
-- in front of every later event (services/common/outbox.py): it keeps its
-- body for an operator to look at, is never published and never pruned.
DO $$
DECLARE
    target_schema text;
BEGIN
    FOREACH target_schema IN ARRAY ARRAY['gateway', 'validator', 'launcher', 'logstore'] LOOP
        EXECUTE format(
            'ALTER TABLE %1$I.outbox ADD COLUMN set_aside_at timestamptz, ADD COLUMN set_aside_reason text;',
            target_schema);
    END LOOP;
END;
$$;

-- The backlog (rows waiting for the relay) no longer counts the rows set aside
-- (waiting for an operator); `set_aside` counts those.
CREATE OR REPLACE VIEW operations.outbox_backlog AS
SELECT 'gateway' AS service,
       count(*) FILTER (WHERE set_aside_at IS NULL) AS backlog,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE set_aside_at IS NULL))::double precision AS oldest_seconds,
       count(*) FILTER (WHERE set_aside_at IS NOT NULL) AS set_aside
FROM gateway.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'validator',
       count(*) FILTER (WHERE set_aside_at IS NULL),
       extract(epoch FROM now() - min(created_at) FILTER (WHERE set_aside_at IS NULL))::double precision,
       count(*) FILTER (WHERE set_aside_at IS NOT NULL)
FROM validator.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'launcher',
       count(*) FILTER (WHERE set_aside_at IS NULL),
       extract(epoch FROM now() - min(created_at) FILTER (WHERE set_aside_at IS NULL))::double precision,
       count(*) FILTER (WHERE set_aside_at IS NOT NULL)
FROM launcher.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'logstore',
       count(*) FILTER (WHERE set_aside_at IS NULL),
       extract(epoch FROM now() - min(created_at) FILTER (WHERE set_aside_at IS NULL))::double precision,
       count(*) FILTER (WHERE set_aside_at IS NOT NULL)
FROM logstore.outbox WHERE published_at IS NULL;
