-- No value read from a DICOM file's patient tags is kept (the pipeline no longer prints one, and a DICOM
-- archive summary names no patient). What runs of earlier versions left in the logstore is rewritten to
-- what the pipeline says now:
-- - the summary's patient_name (a phantom's was its files' PatientName) is removed;
-- - each file's Detailed line, "<file>: series 3, PatientName <name>", becomes "<file>: series 3";
-- - a PatientName mismatch, "<file> has PatientName '<name>', expected '<label>'" in the log and
--   "its PatientName is '<name>', not '<label>'" in the per-file report, names the label expected only.
-- The LIKE before each pattern lets most rows be passed over without a regular expression.
UPDATE logstore.uploads SET tarchive_info = tarchive_info - 'patient_name' WHERE tarchive_info ? 'patient_name';

UPDATE logstore.log_lines
   SET message = regexp_replace(message, '^(.*?): (series [^,]*|no series number), (PatientName .*|no PatientName)$',
                                '\1: \2')
 WHERE origin = 'pipeline' AND message LIKE '%PatientName%'
   AND message ~ '^(.*?): (series [^,]*|no series number), (PatientName .*|no PatientName)$';

UPDATE logstore.log_lines
   SET message = regexp_replace(message, '^(.*?) has PatientName .*, expected (''[^'']*'')$',
                                '\1: the PatientName is not \2')
 WHERE origin = 'pipeline' AND message LIKE '% has PatientName %, expected %'
   AND message ~ '^(.*?) has PatientName .*, expected (''[^'']*'')$';

UPDATE logstore.file_outcomes
   SET reason = regexp_replace(reason, '^its PatientName is .*, not (''[^'']*'')$', 'its PatientName is not \1')
 WHERE reason LIKE 'its PatientName is %, not %' AND reason ~ '^its PatientName is .*, not (''[^'']*'')$';
