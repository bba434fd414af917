"""Test data: small valid DICOM files and scan archives made of them.

The DICOM and archive writing lives in services.gateway.admin.demo_archive (the
`uploader-admin demo-archive` command uses it too); this module adds what only
tests need. Everything is written only to the paths the caller gives.
"""

from pathlib import Path

from services.gateway.admin.demo_archive import dicom_bytes, make_dicom_archive, write_archive

__all__ = [
    "dicom_bytes",
    "write_dicom_file",
    "make_dicom_archive",
    "make_archive_with_member",
    "series_members",
    "write_archive",
]


def write_dicom_file(
    path: Path, patient_name: str, series_number: int = 1, instance_number: int = 1
) -> Path:
    """Write a small valid DICOM file that pydicom reads without force=True."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(patient_name, series_number, instance_number))
    return path


def make_archive_with_member(path: Path, member_name: str, data: bytes) -> Path:
    """An archive with one member whose name is stored as given, even '../x' or '/x'."""
    return write_archive(path, {member_name: data})


def series_members(
    patient_name: str, series_number: int, n_files: int, folder: str = "study", **options
) -> dict[str, bytes]:
    """`n_files` slices of one series as archive members, <folder>/series<N>/IM0001.dcm, IM0002.dcm, ...

    `options` go to dicom_bytes for every file (series_description, study_uid,
    patient_id, extra_tags). Join several series' members with `|` and pass
    them to write_archive to make an archive of several series or studies.
    """
    return {
        f"{folder}/series{series_number}/IM{number:04d}.dcm":
            dicom_bytes(patient_name, series_number, number, **options)
        for number in range(1, n_files + 1)
    }
