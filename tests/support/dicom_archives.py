"""Test data: small valid DICOM files and scan archives made of them.

Everything is built in memory and written only to the paths the caller gives.
The archive format follows the path's ending: .tar.gz, .tgz or .zip.
"""

import io
import tarfile
import zipfile
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

ROWS = COLUMNS = 8


def dicom_bytes(patient_name: str, series_number: int = 1, instance_number: int = 1) -> bytes:
    """A small MR image as DICOM file bytes; an empty `patient_name` leaves PatientName out."""
    dataset = Dataset()
    dataset.file_meta = _file_meta()
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    if patient_name:
        dataset.PatientName = patient_name
    dataset.PatientID = patient_name or "UNKNOWN"
    dataset.Modality = "MR"
    # Files of one patient and series share their study and series UIDs.
    dataset.StudyInstanceUID = generate_uid(entropy_srcs=[patient_name, "study"])
    dataset.SeriesInstanceUID = generate_uid(entropy_srcs=[patient_name, str(series_number)])
    dataset.SeriesNumber = series_number
    dataset.InstanceNumber = instance_number
    _add_pixels(dataset)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_dicom_file(
    path: Path, patient_name: str, series_number: int = 1, instance_number: int = 1
) -> Path:
    """Write a small valid DICOM file that pydicom reads without force=True."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(patient_name, series_number, instance_number))
    return path


def make_dicom_archive(
    path: Path,
    patient_name: str,
    n_files: int = 3,
    extra_files: dict[str, bytes] | None = None,
    patient_names: list[str] | None = None,
) -> Path:
    """An archive of `n_files` DICOM files named study/series1/IM0001.dcm, IM0002.dcm, ...

    `patient_names`, when given, sets each file's PatientName in turn (it must
    hold `n_files` names); `extra_files` adds members as they are (name -> bytes).
    """
    names = patient_names if patient_names is not None else [patient_name] * n_files
    if len(names) != n_files:
        raise ValueError(f"patient_names holds {len(names)} names for {n_files} files")
    members = {
        f"study/series1/IM{number:04d}.dcm": dicom_bytes(name, 1, number)
        for number, name in enumerate(names, start=1)
    }
    members.update(extra_files or {})
    return _write_archive(path, members)


def make_archive_with_member(path: Path, member_name: str, data: bytes) -> Path:
    """An archive with one member whose name is stored as given, even '../x' or '/x'."""
    return _write_archive(path, {member_name: data})


def _write_archive(path: Path, members: dict[str, bytes]) -> Path:
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path, "w:gz") as tar:
            for member_name, data in members.items():
                # A hand-made TarInfo keeps the name raw; tar.add() would clean it.
                info = tarfile.TarInfo(member_name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    elif name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zip_file:
            for member_name, data in members.items():
                zip_file.writestr(member_name, data)
    else:
        raise ValueError(f"{path.name}: the test archive must end in .tar.gz, .tgz or .zip")
    return path


def _file_meta() -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _add_pixels(dataset: Dataset) -> None:
    dataset.Rows = ROWS
    dataset.Columns = COLUMNS
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    # 8 x 8 uint16 pixels, little endian, a simple ramp.
    dataset.PixelData = b"".join(value.to_bytes(2, "little") for value in range(ROWS * COLUMNS))
