"""Test data: small valid DICOM files and scan archives made of them.

The DICOM and archive writing lives in services.gateway.demo_archive (the
`uploader-admin demo-archive` command uses it too); this module adds what only
tests need. Everything is written only to the paths the caller gives.
"""

from pathlib import Path

from services.gateway.demo_archive import dicom_bytes, make_dicom_archive, write_archive

__all__ = ["dicom_bytes", "write_dicom_file", "make_dicom_archive", "make_archive_with_member"]


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
