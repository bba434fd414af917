-- Every service that publishes keeps an outbox, and every consumer keeps the
-- ids of the events it has processed. One definition, created per schema.
CREATE FUNCTION public.create_messaging_tables(target_schema text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($sql$
        CREATE TABLE %1$I.outbox (
            id           bigserial PRIMARY KEY,
            event_id     uuid NOT NULL UNIQUE,
            routing_key  text NOT NULL,
            body         bytea NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz
        );
        CREATE INDEX outbox_unpublished ON %1$I.outbox (id) WHERE published_at IS NULL;
        CREATE TABLE %1$I.processed_events (
            event_id     uuid PRIMARY KEY,
            processed_at timestamptz NOT NULL DEFAULT now()
        );
    $sql$, target_schema);
END;
$$;
