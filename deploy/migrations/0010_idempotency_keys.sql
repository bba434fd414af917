-- Idempotency-Key on POST /api/v1/uploads: the answer given to a user's key,
-- so that a client that lost it (the connection broke after the commit) and
-- sends the upload again gets the same answer instead of a 409. A row is
-- written in the transaction that records the upload, so a committed upload
-- always has its key and a rolled-back one never does. Keys are the user's
-- own: two users may choose the same key.
CREATE TABLE gateway.idempotency_keys (
    username    text NOT NULL,
    key         text NOT NULL,
    -- SHA-256 of the fields that say what was uploaded (CandID, PSCID, visit
    -- label, phantom, overwrite, file name): the same key with other fields is refused
    fingerprint text NOT NULL,
    upload_id   bigint NOT NULL REFERENCES gateway.uploads ON DELETE CASCADE,
    attempt     integer NOT NULL,
    -- the 202 body, given again as it was
    answer      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, key)
);
-- Keys older than UPLOADER_IDEMPOTENCY_KEY_HOURS are treated as new, and deleted as new ones come.
CREATE INDEX idempotency_keys_created_at ON gateway.idempotency_keys (created_at);
