"""The reference pipeline in LORIS site mode (`--loris-upload-id N`): toward the LORIS database it behaves as
LORIS-MRI's imaging_upload_file.pl does. It
- reads UploadLocation of mri_upload row N and exits 6, leaving the row alone, when its base name is not the
  archive's;
- takes the row's PatientName for the checks, and writes the run's work folder as its DecompressedLocation;
- spools each message into notification_spool (type 'mri upload runner', ProcessID N, Origin the program's name,
  Verbose 'Y' for detail, Error 'Y' for why it failed, Active 'Y') instead of printing it;
- on success records a tarchive row and sets TarchiveID, the MINC counts, IsTarchiveValidated, InsertionComplete = 1
  and Inserting = 0; on failure sets Inserting = 0; and exits with LORIS-MRI's code.
One PyMySQL connection, each statement committed on its own, as LORIS-MRI writes as it goes.
loris_standin/imaging_upload_file.py is a LORIS-MRI command line over it."""

from pathlib import Path

import pymysql

from pipeline import PipelineFailure
from pipeline.report import Lines, error, info, send_lines_to
from pipeline.run import Job, run_to_exit_code, work_directory
from pipeline.settings import load_settings
from services.common.exit_codes import ExitCode, describe_exit_code
from services.common.loris_url import LorisDatabaseAddress

ORIGIN = "pipeline"
NOTIFICATION_TYPE = "mri upload runner"
WORK_DIR_PREFIX = "ImagingUpload-"  # imaging_upload_file.pl's
URL_SETTING = "UPLOADER_LORIS_MRI_DATABASE_URL"
_FLAGS = {"info": ("N", "N"), "verbose": ("N", "Y"), "error": ("Y", "N")}  # a line's tag: its (Error, Verbose)

Connection = pymysql.connections.Connection


class Spool(Lines):
    """The run's messages, as rows of notification_spool; its reports printed for the launcher, when wanted."""

    def __init__(self, db: Connection, upload_id: int, origin: str, echo: bool, print_reports: bool) -> None:
        self._db, self._upload_id, self._origin = db, upload_id, origin
        self._echo, self._print_reports = echo, print_reports
        with db.cursor() as cursor:
            cursor.execute("SELECT NotificationTypeID FROM notification_types WHERE Type = %s", (NOTIFICATION_TYPE,))
            found = cursor.fetchone()
        if found is None:
            raise RuntimeError(f"the LORIS database has no notification type {NOTIFICATION_TYPE!r}")
        self._type_id = found[0]

    def message(self, tag: str, text: str) -> None:
        is_error, is_verbose = _FLAGS[tag]
        with self._db.cursor() as cursor:
            cursor.execute(
                """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error,
                                                   Verbose, Origin, Active)
                   VALUES (%s, %s, NOW(), %s, %s, %s, %s, 'Y')""",
                (self._type_id, self._upload_id, text, is_error, is_verbose, self._origin))
        if self._echo:
            print(text, flush=True)

    def report(self, line: str) -> None:
        if self._print_reports:
            super().report(line)


def connect(url: str) -> Connection:
    address = LorisDatabaseAddress.from_url(url)
    return pymysql.connect(host=address.host, port=address.port, user=address.user, password=address.password,
                           database=address.database, charset="utf8mb4", autocommit=True)


def upload_row(db: Connection, upload_id: int) -> dict | None:
    with db.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SELECT UploadLocation, PatientName, SessionID FROM mri_upload WHERE UploadID = %s",
                       (upload_id,))
        return cursor.fetchone()


def update_row(db: Connection, upload_id: int, **columns) -> None:
    assignments = ", ".join(f"{name} = %s" for name in columns)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE mri_upload SET {assignments} WHERE UploadID = %s", (*columns.values(), upload_id))


def record_insertion(db: Connection, upload_id: int, row: dict, job: Job) -> int:
    """A tarchive row for the archive, and the upload's row complete; the TarchiveID."""
    made = job.made
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO tarchive (DicomArchiveID, PatientName, ArchiveLocation, SessionID) "
                       "VALUES (%s, %s, %s, %s)", (made.tarchive_md5, row["PatientName"], str(job.archive),
                                                   row["SessionID"]))
        tarchive_id = cursor.lastrowid
    update_row(db, upload_id, TarchiveID=tarchive_id, number_of_mincCreated=made.minc_created,
               number_of_mincInserted=made.minc_inserted, IsTarchiveValidated=1, InsertionComplete=1, Inserting=0)
    return tarchive_id


def run_for_loris_site(job: Job, loris_upload_id: int) -> int:
    """`python -m pipeline --loris-upload-id N`: the LORIS database from the pipeline's settings."""
    try:
        settings, _ = load_settings()
    except PipelineFailure as failure:
        error(failure.message)
        error(failure.advice)
        return failure.exit_code
    if not settings.loris_mri_database_url:
        error(f"{URL_SETTING} is not set: the LORIS database of --loris-upload-id is unknown.")
        return ExitCode.DATABASE_SETTINGS
    return insert(settings.loris_mri_database_url, job, loris_upload_id)


def insert(url: str, job: Job, loris_upload_id: int, *, origin: str = ORIGIN, echo: bool = False,
           print_reports: bool = True) -> int:
    """The run, as imaging_upload_file.pl's toward the LORIS database at url; LORIS-MRI's exit code."""
    try:
        db = connect(url)
    except (ValueError, pymysql.err.Error) as failure:
        error(f"Cannot connect to the LORIS database: {failure}")
        return ExitCode.DATABASE_SETTINGS
    with db:
        send_lines_to(Spool(db, loris_upload_id, origin, echo, print_reports))
        try:
            return _insert(db, job, loris_upload_id)
        finally:
            send_lines_to(Lines())


def _insert(db: Connection, job: Job, upload_id: int) -> int:
    row = upload_row(db, upload_id)
    if row is None or Path(row["UploadLocation"]).name != job.archive.name:
        error(f"The upload_id {upload_id} does not correspond to the file {job.archive}: LORIS's upload record "
              f"names {'no file' if row is None else row['UploadLocation']}.")
        return ExitCode.INVALID_ARGUMENT  # the row of another file is not this run's to change
    job.patient_name = row["PatientName"] or ""
    info(f"Upload {upload_id}: processing {job.archive.name} (PatientName {job.patient_name or 'none: phantom'})")
    with work_directory(WORK_DIR_PREFIX) as work_dir:
        update_row(db, upload_id, DecompressedLocation=str(work_dir))
        exit_code = run_to_exit_code(job, work_dir)
    if exit_code != ExitCode.SUCCESS:
        update_row(db, upload_id, Inserting=0)
        error(f"The insertion failed (exit code {int(exit_code)}: {describe_exit_code(exit_code)}).")
        return exit_code
    tarchive_id = record_insertion(db, upload_id, row, job)
    info(f"The DICOM archive is tarchive {tarchive_id}; {job.made.minc_created} images created, "
         f"{job.made.minc_inserted} inserted.")
    info("The insertion completed.")
    return ExitCode.SUCCESS
