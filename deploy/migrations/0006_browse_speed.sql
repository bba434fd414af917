-- Browse over a year of uploads (bench/browse_latency.py: 100,000 uploads).

-- Browse sorts newest first by default: ORDER BY uploaded_at DESC NULLS LAST,
-- upload_id DESC. An ascending index read backwards gives DESC NULLS FIRST,
-- which does not match, so PostgreSQL sorted every visible upload to show a
-- page of 50 (25 to 80 ms); with these it reads the page's rows only (0.3 ms).
CREATE INDEX uploads_uploaded_at_desc ON logstore.uploads (uploaded_at DESC NULLS LAST, upload_id DESC);
CREATE INDEX uploads_site_uploaded_at_desc ON logstore.uploads (site, uploaded_at DESC NULLS LAST, upload_id DESC);

-- Browse's total: how many uploads a user may see (by site, is_phantom,
-- uploaded_by) under the filters on site, progress and is_phantom. Counting
-- the rows took 4 to 18 ms over 100,000 uploads (an index-only scan at
-- best, one index entry per upload); summing the counts of each
-- combination of those four columns takes 0.2 ms, whatever the number of
-- uploads. The triggers keep the counts in the transaction that changes an
-- upload, so a total is exactly the count of the rows, in any snapshot.
-- services/logstore/queries.py sums them when every filter is on one of
-- these columns, and counts rows otherwise (candid, pscid, visit_label:
-- few rows, found by their indexes).
CREATE TABLE logstore.upload_counts (
    site        text,
    is_phantom  boolean,
    progress    text NOT NULL,
    uploaded_by text,
    uploads     bigint NOT NULL,
    CONSTRAINT upload_counts_key UNIQUE NULLS NOT DISTINCT (site, is_phantom, progress, uploaded_by)
);

CREATE FUNCTION logstore.count_upload(site text, is_phantom boolean, progress text, uploaded_by text, delta integer)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO logstore.upload_counts AS c (site, is_phantom, progress, uploaded_by, uploads)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT ON CONSTRAINT upload_counts_key DO UPDATE SET uploads = c.uploads + EXCLUDED.uploads
$$;

CREATE FUNCTION logstore.keep_upload_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM logstore.upload_counts;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM logstore.count_upload(OLD.site, OLD.is_phantom, OLD.progress, OLD.uploaded_by, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM logstore.count_upload(NEW.site, NEW.is_phantom, NEW.progress, NEW.uploaded_by, 1);
    END IF;
    RETURN NULL;
END
$$;

-- No upload changes while the counts are taken and the triggers put in place.
LOCK TABLE logstore.uploads IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO logstore.upload_counts (site, is_phantom, progress, uploaded_by, uploads)
SELECT site, is_phantom, progress, uploaded_by, count(*) FROM logstore.uploads GROUP BY 1, 2, 3, 4;

CREATE TRIGGER uploads_counted AFTER INSERT OR DELETE ON logstore.uploads
    FOR EACH ROW EXECUTE FUNCTION logstore.keep_upload_counts();
CREATE TRIGGER uploads_counted_update AFTER UPDATE OF site, is_phantom, progress, uploaded_by ON logstore.uploads
    FOR EACH ROW
    WHEN ((OLD.site, OLD.is_phantom, OLD.progress, OLD.uploaded_by)
          IS DISTINCT FROM (NEW.site, NEW.is_phantom, NEW.progress, NEW.uploaded_by))
    EXECUTE FUNCTION logstore.keep_upload_counts();
CREATE TRIGGER uploads_counted_truncate AFTER TRUNCATE ON logstore.uploads
    FOR EACH STATEMENT EXECUTE FUNCTION logstore.keep_upload_counts();
