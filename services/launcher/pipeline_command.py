"""The command the launcher runs for a scan.

One small interface, one implementation now: a template of arguments, each
filled in from the upload, run without a shell, in an environment of its own
(services/launcher/pipeline_environment.py). The default runs the project's
reference pipeline; a LORIS site sets it to LORIS-MRI, e.g.
`imaging_upload_file.pl -profile {profile} -upload_id {loris_upload_id} {scan_path}`, where
{loris_upload_id} is the upload's row in LORIS's mri_upload (LORIS site mode).
"""

import shlex
import string
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from services.common.messages import ScanFacts
from services.common.settings import LauncherSettings
from services.launcher.pipeline_environment import pipeline_environment

PLACEHOLDERS = ("python", "upload_id", "attempt", "scan_path", "file_name", "patient_name", "candid", "pscid",
                "visit_label", "profile", "phantom", "output_dir", "loris_upload_id")


class CommandNotPossible(ValueError):
    """The command cannot be made for this run (it needs a value the upload does not have)."""


class PipelineCommand(Protocol):
    environment: Mapping[str, str]  # the whole environment the command runs in

    def argv(self, upload_id: int, attempt: int, scan: ScanFacts, scan_path: Path,
             loris_upload_id: int | None = None) -> list[str]: ...


class TemplateCommand:
    def __init__(self, template: str, profile: str = "prod", output_path: Path = Path("var/output"),
                 environment: Mapping[str, str] | None = None) -> None:
        self.environment = pipeline_environment() if environment is None else environment
        self._profile = profile
        self._output_path = output_path.resolve()
        self._parts = shlex.split(template)
        if not self._parts:
            raise ValueError("the pipeline command is empty")
        self._check_placeholders()

    @classmethod
    def from_settings(cls, settings: LauncherSettings) -> "TemplateCommand":
        return cls(settings.pipeline_command, settings.pipeline_profile, settings.pipeline_output_path,
                   pipeline_environment(settings.pipeline_environment))

    def argv(self, upload_id: int, attempt: int, scan: ScanFacts, scan_path: Path,
             loris_upload_id: int | None = None) -> list[str]:
        """The arguments; CommandNotPossible when the template asks for the LORIS UploadID and the upload has
        none (LORIS-MRI must never be run with an empty id)."""
        if loris_upload_id is None and self._uses("loris_upload_id"):
            raise CommandNotPossible(
                f"The pipeline command needs the upload's LORIS UploadID ({{loris_upload_id}}), and upload {upload_id} "
                "has none (the uploader does not keep its uploads in a LORIS database, or its row was not written): "
                "the pipeline was not run.")
        values = {
            "python": sys.executable,
            "upload_id": upload_id,
            "attempt": attempt,
            "scan_path": scan_path,
            "file_name": scan.file_name,
            "patient_name": scan.patient_name,
            "candid": scan.candid or "",
            "pscid": scan.pscid or "",
            "visit_label": scan.visit_label or "",
            "profile": self._profile,  # LORIS-MRI's configuration file (-profile)
            "phantom": "Y" if scan.is_phantom else "N",  # as LORIS's mri_upload.IsPhantom
            "output_dir": self._output_path / str(upload_id),  # what the reference pipeline keeps of the upload
            "loris_upload_id": "" if loris_upload_id is None else loris_upload_id,  # LORIS-MRI's -upload_id
        }
        return [part.format_map(values) for part in self._parts]

    def _uses(self, placeholder: str) -> bool:
        return any(name == placeholder for part in self._parts for _, name, _, _ in string.Formatter().parse(part))

    def _check_placeholders(self) -> None:
        sample = dict.fromkeys(PLACEHOLDERS, "x")
        for part in self._parts:
            try:
                part.format_map(sample)
            except (KeyError, IndexError, ValueError) as error:
                raise ValueError(
                    f"pipeline command argument {part!r} has an unknown placeholder {error}; "
                    f"known: {', '.join('{' + name + '}' for name in PLACEHOLDERS)}"
                ) from None
