"""Reading the extracted files' headers: which are DICOM, and what each DICOM file says.

pydicom reads each header only (`stop_before_pixels`), with large values left
unread unless asked for (`defer_size`); a file's few fields are kept, never
the file. The checks on what was read are in pipeline.checks. pydicom's
warnings are silenced: one about a malformed value quotes the value, and on
stderr it would become an error line of the log.
"""

import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

DEFER_LARGER_THAN = "64 KB"


@dataclass(frozen=True)
class DicomFile:
    path: str  # relative to the archive's root, with "/" separators
    series_number: str | None
    patient_name: str | None  # None when the file has no (or an empty) PatientName
    patient_id: str | None = None
    study_uid: str | None = None
    series_uid: str | None = None
    series_description: str | None = None
    modality: str | None = None
    study_date: str | None = None  # as DICOM writes it: YYYYMMDD
    identifying_tags: tuple[str, ...] = ()  # the identifying tags filled in, by keyword


@dataclass(frozen=True)
class OtherFile:
    path: str
    reason: str  # why it is not DICOM


@dataclass
class ScanResult:
    dicom_files: list[DicomFile] = field(default_factory=list)
    other_files: list[OtherFile] = field(default_factory=list)
    # DICOMDIR files: the index a CD or DVD export adds, naming the images; not an image itself, so not checked.
    indexes: list[str] = field(default_factory=list)


# The SOP class of a DICOMDIR (Media Storage Directory Storage).
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"


def scan_directory(
    root: Path, identifying_tags: Iterable[str] = (), progress: Callable[[int, int], None] | None = None
) -> ScanResult:
    """Read the header of every file under `root`, in a stable (sorted) order.

    Each DICOM file notes which of `identifying_tags` (DICOM keywords) it
    fills in; `progress` hears of the files read so far, out of all.
    """
    identifying_tags = tuple(identifying_tags)
    result = ScanResult()
    paths = _files_under(root)
    with warnings.catch_warnings(action="ignore"):
        for number, path in enumerate(paths, start=1):
            _read(root, path, identifying_tags, result)
            if progress:
                progress(number, len(paths))
    return result


def _read(root: Path, path: Path, identifying_tags: tuple[str, ...], result: ScanResult) -> None:
    relative = path.relative_to(root).as_posix()
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True, defer_size=DEFER_LARGER_THAN)
        if _is_dicomdir(dataset):
            result.indexes.append(relative)
        else:
            result.dicom_files.append(_dicom_file(dataset, relative, identifying_tags))
    except InvalidDicomError:
        result.other_files.append(OtherFile(relative, "not a DICOM file"))
    except Exception as error:  # a damaged header can fail in many ways
        result.other_files.append(OtherFile(relative, f"unreadable DICOM file ({error})"))


def _is_dicomdir(dataset: pydicom.Dataset) -> bool:
    meta = getattr(dataset, "file_meta", None)
    return meta is not None and str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS


def _dicom_file(dataset: pydicom.Dataset, relative: str, identifying_tags: tuple[str, ...]) -> DicomFile:
    return DicomFile(
        relative,
        series_number=_text(dataset, "SeriesNumber"),
        patient_name=_text(dataset, "PatientName"),
        patient_id=_text(dataset, "PatientID"),
        study_uid=_text(dataset, "StudyInstanceUID"),
        series_uid=_text(dataset, "SeriesInstanceUID"),
        series_description=_text(dataset, "SeriesDescription"),
        modality=_text(dataset, "Modality"),
        study_date=_text(dataset, "StudyDate"),
        # The top-level dataset is enough: the basic profile's identifying
        # tags are top-level attributes, and a nested copy of one (in a
        # sequence) is left to the site's de-identification tool.
        identifying_tags=tuple(keyword for keyword in identifying_tags if _filled(dataset.get(keyword))),
    )


def _text(dataset: pydicom.Dataset, keyword: str) -> str | None:
    """The value as it is written, or None when it is absent or blank."""
    value = dataset.get(keyword)
    text = "" if value is None else str(value)
    return text if text.strip(" \0") else None


def _filled(value: object) -> bool:
    """Whether an element's value says anything: an empty string, list or sequence does not."""
    if value is None:
        return False
    if isinstance(value, Sequence):
        return len(value) > 0
    if isinstance(value, (bytes, bytearray)):
        return bool(bytes(value).strip(b" \0"))
    if isinstance(value, (list, tuple, MultiValue)):
        return any(_filled(item) for item in value)
    return bool(str(value).strip(" \0"))


def _files_under(root: Path) -> list[Path]:
    files = []
    for directory, _, names in os.walk(root):
        files.extend(Path(directory, name) for name in names)
    return sorted(file for file in files if file.is_file())
