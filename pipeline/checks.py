"""The checks on the DICOM headers read, in the order the run makes them.

Each raises PipelineFailure with LORIS-MRI's exit code for the problem,
naming every offending file; nothing here prints an identifying value.
"""

from collections import Counter

from pipeline import PipelineFailure
from pipeline.dicom_scan import ScanResult
from services.common.exit_codes import ExitCode
from services.common.sizes import count_of

NO_STUDY_UID = "(none)"


def check_dicom_files_found(scan: ScanResult, archive_name: str) -> None:
    if not scan.dicom_files:
        raise PipelineFailure(
            ExitCode.MISSING_FILES,
            f"No DICOM files were found in {archive_name}.",
            "Put the scan's DICOM files in the archive and upload it again.",
            [f"{other.path}: {other.reason}" for other in scan.other_files],
        )


def check_only_dicom_files(scan: ScanResult, archive_name: str) -> None:
    if scan.other_files:
        raise PipelineFailure(
            ExitCode.INVALID_DICOM,
            f"{archive_name} holds files that are not DICOM "
            f"({len(scan.other_files)} of {len(scan.other_files) + len(scan.dicom_files)} files).",
            "Remove the files that are not DICOM from the archive and upload it again.",
            [f"{other.path}: {other.reason}" for other in scan.other_files],
        )


def check_patient_name(scan: ScanResult, expected: str) -> None:
    """Every DICOM file's PatientName must equal `expected` (the label the upload names) exactly.

    A wrong PatientName may be the patient's own: it is not printed.
    """
    total = len(scan.dicom_files)
    missing = [dicom.path for dicom in scan.dicom_files if dicom.patient_name is None]
    if missing:
        raise PipelineFailure(
            ExitCode.CANNOT_EXTRACT_PATIENT_NAME,
            f"The PatientName is missing in {len(missing)} of {total} DICOM files; expected {expected!r}.",
            f"Set the PatientName of these files to {expected!r} and upload the archive again.",
            [f"{path} has no PatientName" for path in missing],
            {path: "it has no PatientName" for path in missing},
        )
    mismatched = [dicom.path for dicom in scan.dicom_files if dicom.patient_name != expected]
    if mismatched:
        raise _not_the_label("PatientName", expected, mismatched, total,
                             "Fix the PatientName in these files, or rename the archive, and upload it again.")


def check_patient_id(scan: ScanResult, expected: str) -> None:
    """Every DICOM file's PatientID must equal `expected` (the PatientName) too: a missing one differs.

    A wrong PatientID may be a hospital's record number: it is not printed.
    """
    mismatched = [dicom.path for dicom in scan.dicom_files if dicom.patient_id != expected]
    if mismatched:
        raise _not_the_label(
            "PatientID", expected, mismatched, len(scan.dicom_files),
            f"Set the PatientID of these files to {expected!r}, as their PatientName, and upload the archive again.")


def _not_the_label(keyword: str, expected: str, paths: list[str], total: int, advice: str) -> PipelineFailure:
    """Exit 151 naming the files whose `keyword` is not `expected`, and never the value they hold."""
    return PipelineFailure(
        ExitCode.PATIENT_NAME_MISMATCH,
        f"The {keyword} differs from {expected!r} in {len(paths)} of {total} DICOM files.",
        advice,
        [f"{path}: the {keyword} is not {expected!r}" for path in paths],
        {path: f"its {keyword} is not {expected!r}" for path in paths},
    )


def check_identifying_tags(scan: ScanResult) -> None:
    """No DICOM file may fill in an identifying tag (the scan noted which ones it found); values stay unsaid."""
    offending = [dicom for dicom in scan.dicom_files if dicom.identifying_tags]
    if offending:
        keywords = sorted({keyword for dicom in offending for keyword in dicom.identifying_tags})
        raise PipelineFailure(
            ExitCode.INVALID_DICOM,
            f"{len(offending)} of {len(scan.dicom_files)} DICOM files are not de-identified: "
            f"{_and(keywords)} must be empty or removed.",
            "De-identify these files (empty or remove the tags named), then upload the archive again.",
            [f"{dicom.path}: {filled_in(keyword)}" for dicom in offending for keyword in dicom.identifying_tags],
            {dicom.path: filled_in(*dicom.identifying_tags) for dicom in offending},
        )


def filled_in(*keywords: str) -> str:
    if len(keywords) == 1:
        return f"{keywords[0]} is filled in (it must be empty or removed)"
    return f"{_and(keywords)} are filled in (they must be empty or removed)"


def check_single_study(scan: ScanResult) -> None:
    """All DICOM files must share one StudyInstanceUID."""
    studies = Counter(dicom.study_uid or NO_STUDY_UID for dicom in scan.dicom_files)
    if len(studies) > 1:
        ranked = studies.most_common()
        raise PipelineFailure(
            ExitCode.NOT_A_SINGLE_STUDY,
            f"The archive holds {len(studies)} studies (StudyInstanceUID); it must hold one.",
            "Put each study in an archive of its own and upload them one at a time.",
            [f"StudyInstanceUID {uid}: {count_of(files, 'DICOM file')}" for uid, files in ranked],
            {dicom.path: f"its study {dicom.study_uid or NO_STUDY_UID} is one of {len(studies)} in the archive"
             for dicom in scan.dicom_files},
        )


def _and(words: list[str] | tuple[str, ...]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"
