-- Resumable uploads by tus 1.0 (issue 26): one row per tus upload, from its creation (the pre-flight passed) to its
-- end. Its bytes are in the scan store's .tus/ folder under the row's tus_id, so a PATCH may reach any gateway
-- replica; a PATCH holds the row locked (FOR UPDATE NOWAIT) while it writes, so two PATCHes never both write.
-- upload_id and attempt are set, in the transaction that records the attempt, when the last byte made it one.
CREATE TABLE gateway.tus_uploads (
    tus_id text PRIMARY KEY,
    username text NOT NULL,
    fields jsonb NOT NULL,
    file_name text NOT NULL,
    upload_length bigint NOT NULL CHECK (upload_length >= 0),
    upload_offset bigint NOT NULL DEFAULT 0 CHECK (upload_offset >= 0 AND upload_offset <= upload_length),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    upload_id bigint,
    attempt integer
);
CREATE INDEX tus_uploads_expiry ON gateway.tus_uploads (expires_at);
