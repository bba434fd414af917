-- Sign-ins are limited per client address as well as per username. Each try
-- is now recorded here before its password is checked (a try that succeeds
-- then clears its username's rows), so a row is a failed or a pending try.
-- The address is kept as a SHA-256 digest, like the username.
ALTER TABLE gateway.sign_in_failures ADD COLUMN address_sha256 bytea;
CREATE INDEX sign_in_failures_by_address ON gateway.sign_in_failures (address_sha256, failed_at);
