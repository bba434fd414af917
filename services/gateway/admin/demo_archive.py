"""Small de-identified DICOM scan archives: the demo scan to try the uploader with,
and the building blocks the tests make their archives from.

Each file is one 8 x 8 slice of an MR series, with what dcm2niix needs to
make a NIfTI image of the series (position, orientation, spacing). Its only
patient tags are the LORIS label `PSCID_CandID_VisitLabel`, in PatientName
and PatientID. The archive format follows the path's ending: .tar.gz, .tgz
or .zip.
"""

import io
import tarfile
import zipfile
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

ROWS = COLUMNS = 8
DEMO_PATIENT_NAME = "MTL0001_300001_V1"
# Another visit's label: the reference pipeline refuses it with exit code 151.
BROKEN_PATIENT_NAME = "MTL0001_300001_V2"
DEMO_FILE_COUNT = 3
DEMO_STUDY_DATE = "20240105"


def write_demo_archive(directory: Path, *, broken: bool = False) -> Path:
    """MTL0001_300001_V1.tgz in `directory`; when `broken`, MTL0001_300001_V1_broken.tgz,
    whose DICOM files hold another PatientName than its name says."""
    if broken:
        path = directory / f"{DEMO_PATIENT_NAME}_broken.tgz"
        return make_dicom_archive(path, BROKEN_PATIENT_NAME, DEMO_FILE_COUNT)
    return make_dicom_archive(directory / f"{DEMO_PATIENT_NAME}.tgz", DEMO_PATIENT_NAME, DEMO_FILE_COUNT)


def dicom_bytes(
    patient_name: str,
    series_number: int = 1,
    instance_number: int = 1,
    *,
    series_description: str | None = None,
    study_uid: str | None = None,
    patient_id: str | None = None,
    extra_tags: dict[str, object] | None = None,
) -> bytes:
    """One slice of an MR series as DICOM file bytes.

    An empty `patient_name` leaves PatientName out; PatientID is `patient_id`,
    the patient name when it is not given. Files of one study and series
    number share their series UID; the study UID comes from the patient name
    unless `study_uid` is given. `extra_tags` sets further elements by DICOM
    keyword (e.g. {"PatientBirthDate": "19800101"}), last.
    """
    dataset = Dataset()
    dataset.file_meta = _file_meta()
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    if patient_name:
        dataset.PatientName = patient_name
    dataset.PatientID = patient_name if patient_id is None else patient_id
    dataset.Modality = "MR"
    dataset.StudyDate = DEMO_STUDY_DATE
    dataset.StudyTime = "093000"
    dataset.StudyInstanceUID = study_uid or generate_uid(entropy_srcs=[patient_name, "study"])
    dataset.SeriesInstanceUID = generate_uid(entropy_srcs=[dataset.StudyInstanceUID, str(series_number)])
    dataset.SeriesNumber = series_number
    dataset.SeriesDescription = series_description or "T1w"
    dataset.InstanceNumber = instance_number
    _add_slice_geometry(dataset, dataset.StudyInstanceUID, instance_number)
    _add_pixels(dataset)
    for keyword, value in (extra_tags or {}).items():
        setattr(dataset, keyword, value)
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_dicom_archive(
    path: Path,
    patient_name: str,
    n_files: int = 3,
    extra_files: dict[str, bytes] | None = None,
    patient_names: list[str] | None = None,
) -> Path:
    """An archive of `n_files` slices of one series named study/series1/IM0001.dcm, IM0002.dcm, ...

    `patient_names`, when given, sets each file's PatientName (and PatientID)
    in turn (it must hold `n_files` names); all files are of one study.
    `extra_files` adds members as they are (name -> bytes).
    """
    names = patient_names if patient_names is not None else [patient_name] * n_files
    if len(names) != n_files:
        raise ValueError(f"patient_names holds {len(names)} names for {n_files} files")
    study_uid = generate_uid(entropy_srcs=[patient_name, "study"])
    members = {
        f"study/series1/IM{number:04d}.dcm": dicom_bytes(name, 1, number, study_uid=study_uid)
        for number, name in enumerate(names, start=1)
    }
    members.update(extra_files or {})
    return write_archive(path, members)


def write_archive(path: Path, members: dict[str, bytes]) -> Path:
    """An archive of these members (name -> bytes); each name is stored as given, even '../x' or '/x'."""
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
        raise ValueError(f"{path.name}: a scan archive must end in .tar.gz, .tgz or .zip")
    return path


def _file_meta() -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _add_slice_geometry(dataset: Dataset, frame_of_reference: str, instance_number: int) -> None:
    """Axial slices 1 mm apart, 1 mm pixels: what dcm2niix stacks into a volume."""
    dataset.FrameOfReferenceUID = generate_uid(entropy_srcs=[frame_of_reference, "frame"])
    dataset.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    dataset.PatientPosition = "HFS"
    dataset.ImagePositionPatient = [0.0, 0.0, float(instance_number)]
    dataset.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    dataset.PixelSpacing = [1.0, 1.0]
    dataset.SliceThickness = 1.0
    dataset.SliceLocation = float(instance_number)
    dataset.AcquisitionNumber = 1
    dataset.RepetitionTime = 500.0
    dataset.EchoTime = 10.0
    dataset.MagneticFieldStrength = 3.0


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
