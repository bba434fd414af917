-- LORIS site mode (issue 25): an upload whose path LORIS's mri_upload.UploadLocation (varchar 255) cannot hold is
-- set aside by the gateway's LORIS record keeper, with the reason, instead of being tried again forever; its row
-- stays wanted (no run is granted without it) until a new attempt of the upload is accepted.
ALTER TABLE gateway.uploads ADD COLUMN loris_row_set_aside text;
