-- LORIS site mode (issue 25): the upload's row in LORIS's mri_upload (its UploadID), from the gateway's
-- upload.loris_recorded event, shown in Browse and the upload's answer.
ALTER TABLE logstore.uploads ADD COLUMN loris_upload_id bigint;
