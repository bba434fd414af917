-- LORIS site mode (issue 25): each upload has one row in LORIS's mri_upload, written by the gateway after the
-- upload is committed here. The accepting transaction marks the row wanted; the gateway's LORIS record keeper
-- writes it (inserted for a first attempt, updated for an overwrite) and clears the mark. Standalone, no row is
-- ever wanted and these columns stay empty.
ALTER TABLE gateway.uploads
    ADD COLUMN loris_upload_id   bigint,                         -- LORIS's mri_upload.UploadID, once written
    ADD COLUMN loris_row_attempt integer,                        -- the attempt the row was last written for
    ADD COLUMN loris_row_wanted  boolean NOT NULL DEFAULT false; -- the current attempt's row is not written yet
-- The keeper's work list: small, since a row is wanted only from an accept to its write.
CREATE INDEX uploads_loris_row_wanted ON gateway.uploads (upload_id) WHERE loris_row_wanted;
