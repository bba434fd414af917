"""A stand-in for LORIS-MRI's imaging_upload_file.pl, for tests and trials: its command line over the reference
pipeline's LORIS site mode (pipeline/loris_site.py), which behaves as that script does toward the LORIS database.

    python -m loris_standin.imaging_upload_file -profile prod -upload_id N [-verbose] /path/to/archive.tgz

The LORIS database's URL (mysql://user:password@host:3306/LORIS) comes from LORIS_DATABASE_URL (the launcher
passes it when UPLOADER_PIPELINE_ENVIRONMENT lists it). Its messages are spooled with Origin imaging_upload_file.py
and, with -verbose, also printed; nothing else is printed, as LORIS-MRI prints no report lines. The insertion's
images are kept in a temporary folder, removed after (LORIS-MRI keeps them in its own data folder). The uploaded
file stays: the launcher removes it after a success.
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

from pipeline.loris_site import insert
from pipeline.run import Job
from pipeline.termination import exit_with
from services.common.exit_codes import ExitCode

ORIGIN = "imaging_upload_file.py"
URL_VARIABLE = "LORIS_DATABASE_URL"


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get(URL_VARIABLE)
    if not url:
        print(f"{URL_VARIABLE} is not set: the LORIS database is unknown", file=sys.stderr)
        return ExitCode.DATABASE_SETTINGS
    with tempfile.TemporaryDirectory(prefix="imaging_upload_file-") as kept:
        job = Job(args.upload_id, Path(args.upload_path), "", Path(kept) / "output")
        return insert(url, job, args.upload_id, origin=ORIGIN, echo=args.verbose, print_reports=False)


if __name__ == "__main__":
    exit_with(main)
