"""Reading the extracted files: which are DICOM, and which PatientName each holds.

The checks raise PipelineFailure with LORIS-MRI's exit code for the problem.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from pipeline import PipelineFailure
from services.common.exit_codes import ExitCode


@dataclass(frozen=True)
class DicomFile:
    path: str  # relative to the work directory, with "/" separators
    series_number: str | None
    patient_name: str | None  # None when the file has no (or an empty) PatientName


@dataclass
class ScanResult:
    dicom_files: list[DicomFile] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)  # "path: why it is not DICOM"


def scan_directory(root: Path) -> ScanResult:
    """Read the header of every file under `root`, in a stable (sorted) order."""
    result = ScanResult()
    for path in _files_under(root):
        relative = path.relative_to(root).as_posix()
        try:
            result.dicom_files.append(_read_dicom(path, relative))
        except InvalidDicomError:
            result.other_files.append(f"{relative}: not a DICOM file")
        except Exception as error:  # a damaged header can fail in many ways
            result.other_files.append(f"{relative}: unreadable DICOM file ({error})")
    return result


def check_dicom_files_found(scan: ScanResult, archive_name: str) -> None:
    if not scan.dicom_files:
        raise PipelineFailure(
            ExitCode.MISSING_FILES,
            f"No DICOM files were found in {archive_name}.",
            "Put the scan's DICOM files in the archive and upload it again.",
            scan.other_files,
        )


def check_only_dicom_files(scan: ScanResult, archive_name: str) -> None:
    if scan.other_files:
        raise PipelineFailure(
            ExitCode.INVALID_DICOM,
            f"{archive_name} holds files that are not DICOM "
            f"({len(scan.other_files)} of {len(scan.other_files) + len(scan.dicom_files)} files).",
            "Remove the files that are not DICOM from the archive and upload it again.",
            scan.other_files,
        )


def check_patient_name(scan: ScanResult, expected: str) -> None:
    """Every DICOM file's PatientName must equal `expected` exactly."""
    total = len(scan.dicom_files)
    missing = [dicom.path for dicom in scan.dicom_files if dicom.patient_name is None]
    if missing:
        raise PipelineFailure(
            ExitCode.CANNOT_EXTRACT_PATIENT_NAME,
            f"The PatientName is missing in {len(missing)} of {total} DICOM files; expected {expected!r}.",
            f"Set the PatientName of these files to {expected!r} and upload the archive again.",
            [f"{path} has no PatientName" for path in missing],
        )
    mismatched = [dicom for dicom in scan.dicom_files if dicom.patient_name != expected]
    if mismatched:
        raise PipelineFailure(
            ExitCode.PATIENT_NAME_MISMATCH,
            f"The PatientName differs from {expected!r} in {len(mismatched)} of {total} DICOM files.",
            "Fix the PatientName in these files, or rename the archive, and upload it again.",
            [
                f"{dicom.path} has PatientName {dicom.patient_name!r}, expected {expected!r}"
                for dicom in mismatched
            ],
        )


def _read_dicom(path: Path, relative: str) -> DicomFile:
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    series = dataset.get("SeriesNumber")
    return DicomFile(relative, None if series is None else str(series), _patient_name(dataset))


def _patient_name(dataset: pydicom.Dataset) -> str | None:
    value = dataset.get("PatientName")
    name = "" if value is None else str(value)
    return name if name.strip() else None


def _files_under(root: Path) -> list[Path]:
    files = []
    for directory, _, names in os.walk(root):
        files.extend(Path(directory, name) for name in names)
    return sorted(file for file in files if file.is_file())
