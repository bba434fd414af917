"""A stand-in for LORIS-MRI's imaging_upload_file.pl, for tests and trials: it behaves as that script does toward
the LORIS database, and runs the reference pipeline (pipeline/) for the checks and the conversion.

    python -m loris_standin.imaging_upload_file -profile prod -upload_id N [-verbose] /path/to/archive.tgz

The LORIS database's URL (mysql://user:password@host:3306/LORIS) comes from LORIS_DATABASE_URL (the launcher
passes it when UPLOADER_PIPELINE_ENVIRONMENT lists it). Like imaging_upload_file.pl it
- reads UploadLocation of mri_upload row N and exits 6 when its base name is not the given file's;
- reads the row's PatientName and writes its DecompressedLocation;
- spools each message into notification_spool (type 'mri upload runner', ProcessID N, Origin its name,
  Verbose 'Y' for detail, Error 'Y' for why it failed, Active 'Y');
- on success records a tarchive row and sets TarchiveID, the MINC counts, InsertionComplete = 1 and
  Inserting = 0; on failure sets Inserting = 0; and exits with LORIS-MRI's code (services/common/exit_codes.py).
With -verbose it also prints each message. The uploaded file stays: the launcher removes it after a success.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pymysql

from services.common.exit_codes import ExitCode, describe_exit_code
from services.common.loris_db import LorisDatabaseAddress

ORIGIN = "imaging_upload_file.py"
NOTIFICATION_TYPE = "mri upload runner"
URL_VARIABLE = "LORIS_DATABASE_URL"
_TAGS = {"[info] ": (False, False), "[verbose] ": (False, True), "[error] ": (True, False)}


class Stop(Exception):
    """The run ends with this exit code (its reason already spooled)."""

    def __init__(self, code: ExitCode) -> None:
        super().__init__(code)
        self.code = code


class _Options(argparse.ArgumentParser):
    def error(self, message: str):
        print(f"{self.prog}: {message}", file=sys.stderr)
        sys.exit(ExitCode.MISSING_ARGUMENT if "required" in message else ExitCode.BAD_OPTIONS)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Options(prog="imaging_upload_file", description=__doc__.splitlines()[0])
    parser.add_argument("-profile", required=True, help="LORIS-MRI's configuration profile (read, not used)")
    parser.add_argument("-upload_id", type=int, required=True, help="the upload's mri_upload.UploadID")
    parser.add_argument("-verbose", action="store_true", help="also print each message")
    parser.add_argument("upload_path", help="the uploaded archive")
    return parser.parse_args(argv)


class Spool:
    """The run's messages, as rows of notification_spool."""

    def __init__(self, db: pymysql.connections.Connection, upload_id: int, echo: bool) -> None:
        self._db = db
        self._upload_id = upload_id
        self._echo = echo
        with db.cursor() as cursor:
            cursor.execute("SELECT NotificationTypeID FROM notification_types WHERE Type = %s", (NOTIFICATION_TYPE,))
            found = cursor.fetchone()
        if found is None:
            raise RuntimeError(f"the LORIS database has no notification type {NOTIFICATION_TYPE!r}")
        self._type_id = found[0]

    def say(self, message: str, *, verbose: bool = False, error: bool = False) -> None:
        with self._db.cursor() as cursor:
            cursor.execute(
                """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error,
                                                   Verbose, Origin, Active)
                   VALUES (%s, %s, NOW(), %s, %s, %s, %s, 'Y')""",
                (self._type_id, self._upload_id, message, "Y" if error else "N", "Y" if verbose else "N", ORIGIN))
        if self._echo:
            print(message, flush=True)


def connect(url: str) -> pymysql.connections.Connection:
    address = LorisDatabaseAddress.from_url(url)
    return pymysql.connect(host=address.host, port=address.port, user=address.user, password=address.password,
                           database=address.database, charset="utf8mb4", autocommit=True)


def upload_row(db: pymysql.connections.Connection, upload_id: int) -> dict | None:
    with db.cursor(pymysql.cursors.DictCursor) as cursor:
        cursor.execute("SELECT UploadLocation, PatientName, SessionID FROM mri_upload WHERE UploadID = %s",
                       (upload_id,))
        return cursor.fetchone()


def update_row(db: pymysql.connections.Connection, upload_id: int, **columns) -> None:
    assignments = ", ".join(f"{name} = %s" for name in columns)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE mri_upload SET {assignments} WHERE UploadID = %s", (*columns.values(), upload_id))


def run_reference_pipeline(spool: Spool, upload_id: int, patient_name: str, archive: Path, work_dir: Path) -> dict:
    """The reference pipeline on the archive, its messages spooled as they come; its reports (counts, the
    DICOM archive summary) by type. Stop with its exit code when it fails."""
    command = [sys.executable, "-m", "pipeline", "--upload-id", str(upload_id), f"--patient-name={patient_name}",
               "--output-dir", str(work_dir / "output"), str(archive)]
    reports: dict = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as pipeline:
        for raw in pipeline.stdout:
            line = raw.rstrip("\n")
            if line.startswith("[report] "):
                report = json.loads(line.removeprefix("[report] "))
                reports[report.get("type")] = report
                continue
            error, verbose = next(((e, v) for tag, (e, v) in _TAGS.items() if line.startswith(tag)), (False, True))
            text = next((line.removeprefix(tag) for tag in _TAGS if line.startswith(tag)), line)
            spool.say(text, verbose=verbose, error=error)
    if pipeline.returncode != 0:
        raise Stop(ExitCode(pipeline.returncode) if pipeline.returncode in ExitCode._value2member_map_
                   else ExitCode.PROGRAM_FAILED)
    return reports


def record_insertion(db: pymysql.connections.Connection, upload_id: int, row: dict, archive: Path,
                     reports: dict) -> tuple[int, int, int]:
    """A tarchive row for the archive, and the upload's row complete: TarchiveID, counts, InsertionComplete."""
    counts = reports.get("counts", {})
    created, inserted = int(counts.get("minc_created", 0)), int(counts.get("minc_inserted", 0))
    md5 = reports.get("tarchive", {}).get("md5") or archive.name
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO tarchive (DicomArchiveID, PatientName, ArchiveLocation, SessionID) "
                       "VALUES (%s, %s, %s, %s)", (md5, row["PatientName"], str(archive), row["SessionID"]))
        tarchive_id = cursor.lastrowid
    update_row(db, upload_id, TarchiveID=tarchive_id, number_of_mincCreated=created, number_of_mincInserted=inserted,
               IsTarchiveValidated=1, InsertionComplete=1, Inserting=0)
    return tarchive_id, created, inserted


def insert(db: pymysql.connections.Connection, spool: Spool, upload_id: int, archive: Path) -> None:
    row = upload_row(db, upload_id)
    if row is None or Path(row["UploadLocation"]).name != archive.name:
        spool.say(f"The upload_id {upload_id} does not correspond to the file {archive}: LORIS's upload record "
                  f"names {'no file' if row is None else row['UploadLocation']}.", error=True)
        raise Stop(ExitCode.INVALID_ARGUMENT)
    spool.say(f"Upload {upload_id}: processing {archive.name} (PatientName {row['PatientName'] or 'none: phantom'})")
    with tempfile.TemporaryDirectory(prefix="ImagingUpload-") as work:
        update_row(db, upload_id, DecompressedLocation=work)
        spool.say(f"Working in {work}", verbose=True)
        reports = run_reference_pipeline(spool, upload_id, row["PatientName"], archive, Path(work))
    tarchive_id, created, inserted = record_insertion(db, upload_id, row, archive, reports)
    spool.say(f"The DICOM archive is tarchive {tarchive_id}; {created} images created, {inserted} inserted.")
    spool.say("The insertion completed.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"{URL_VARIABLE} is not set: the LORIS database is unknown", file=sys.stderr)
        return ExitCode.DATABASE_SETTINGS
    try:
        db = connect(url)
    except (ValueError, pymysql.err.Error) as error:
        print(f"cannot connect to the LORIS database: {error}", file=sys.stderr)
        return ExitCode.DATABASE_SETTINGS
    with db:
        spool = Spool(db, args.upload_id, args.verbose)
        try:
            insert(db, spool, args.upload_id, Path(args.upload_path))
        except Stop as stop:
            if stop.code != ExitCode.INVALID_ARGUMENT:  # the row of another file is not this run's to change
                update_row(db, args.upload_id, Inserting=0)
                spool.say(f"The insertion failed (exit code {int(stop.code)}: {describe_exit_code(stop.code)}).",
                          error=True)
            return stop.code
    return ExitCode.SUCCESS


if __name__ == "__main__":
    sys.exit(main())
