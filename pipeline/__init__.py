"""The reference pipeline: a small stand-in for LORIS-MRI's imaging_upload_file.pl.

It extracts a scan archive, checks its DICOM files (de-identified, one
study), summarises them as LORIS's DICOM archive ("tarchive") info, converts
each series to NIfTI with dcm2niix and exits with one of LORIS-MRI's exit
codes; `python -m pipeline --help` shows how to call it.
"""

from collections.abc import Mapping, Sequence

from services.common.exit_codes import ExitCode


class PipelineFailure(Exception):
    """A check failed: the run exits with `exit_code`.

    `message` says what is wrong, `files` lists each offending file (one line
    each) and `advice` tells the user what to do; it is the last error line.
    `rejected` gives each offending file's path (relative to the archive's
    root) and why it is rejected, for the per-file report.
    """

    def __init__(self, exit_code: ExitCode, message: str, advice: str, files: Sequence[str] = (),
                 rejected: Mapping[str, str] | None = None):
        super().__init__(message)
        self.exit_code = exit_code
        self.message = message
        self.advice = advice
        self.files = list(files)
        self.rejected = dict(rejected or {})
