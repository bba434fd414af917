"""The DICOM archive summary, LORIS's "tarchive" info: the study, its series and the archive's md5.

LORIS-MRI names a DICOM archive DCM_{study date}_{name}; here the name is the
candidate's label (PSCID_CandID_VisitLabel), or the archive's own name for a
phantom, kept to letters, digits, "_" and "-". Nothing in it comes from the
files' patient tags: the upload's candid, pscid and visit label say whose scan
it is, and a phantom's PatientName may be anyone's.
"""

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.archive import ACCEPTED_ENDINGS, CHUNK_BYTES, TAR_ENDINGS, ZIP_ENDINGS
from pipeline.dicom_scan import DicomFile

INFO_FILE = "tarchive_info.json"
UNDATED = "undated"
NAME_MAX_CHARS = 64


@dataclass(frozen=True)
class Series:
    uid: str | None
    number: str | None
    description: str | None
    modality: str | None
    files: tuple[str, ...]  # paths, relative to the archive's root

    def label(self) -> str:
        """'Series 3 (T1w)', in a sentence."""
        number = f"Series {self.number}" if self.number else "A series without a number"
        return f"{number} ({self.description})" if self.description else number

    def as_report(self) -> dict:
        return {"number": self.number, "description": self.description, "modality": self.modality,
                "files": len(self.files)}


@dataclass(frozen=True)
class Tarchive:
    tarchive: str
    name: str  # the candidate's label, or the archive's name for a phantom, in safe characters
    study_date: str | None  # YYYY-MM-DD
    md5: str
    files: int
    series: tuple[Series, ...]

    def as_report(self) -> dict:
        return {"tarchive": self.tarchive, "study_date": self.study_date, "md5": self.md5, "files": self.files,
                "series": [series.as_report() for series in self.series]}


def summarise(archive: Path, dicom_files: list[DicomFile], label: str) -> Tarchive:
    """The summary of an archive whose files passed the checks; `label` is the upload's, empty for a phantom."""
    study_date = next((date for dicom in dicom_files if (date := _iso_date(dicom.study_date))), None)
    name = _safe_name(label or archive_stem(archive))
    return Tarchive(
        tarchive=f"DCM_{study_date or UNDATED}_{name}",
        name=name,
        study_date=study_date,
        md5=file_md5(archive),
        files=len(dicom_files),
        series=group_series(dicom_files),
    )


def group_series(dicom_files: list[DicomFile]) -> tuple[Series, ...]:
    """The files by SeriesInstanceUID, in series-number order (series without a number last)."""
    groups: dict[str | None, list[DicomFile]] = {}
    for dicom in dicom_files:
        groups.setdefault(dicom.series_uid, []).append(dicom)
    series = [
        Series(uid, _first(files, "series_number"), _first(files, "series_description"), _first(files, "modality"),
               tuple(dicom.path for dicom in files))
        for uid, files in groups.items()
    ]
    return tuple(sorted(series, key=_series_order))


def write_info(tarchive: Tarchive, folder: Path, archive_name: str, upload_id: int) -> Path:
    path = folder / INFO_FILE
    info = {"upload_id": upload_id, "archive": archive_name, **tarchive.as_report()}
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    return path


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as file:
        while chunk := file.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def archive_stem(archive: Path) -> str:
    """The archive's name without its ending (.tar.gz, .tgz or .zip)."""
    name = archive.name
    for ending in (*TAR_ENDINGS, *ZIP_ENDINGS):
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    raise ValueError(f"{name} does not end in {ACCEPTED_ENDINGS}")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:NAME_MAX_CHARS] or "scan"


def _iso_date(dicom_date: str | None) -> str | None:
    try:
        return datetime.datetime.strptime((dicom_date or "").strip(), "%Y%m%d").date().isoformat()
    except ValueError:
        return None


def _first(files: list[DicomFile], field: str) -> str | None:
    return next((value for dicom in files if (value := getattr(dicom, field))), None)


def _series_order(series: Series) -> tuple:
    try:
        return (0, float(series.number), series.uid or "")
    except (TypeError, ValueError):
        return (1, 0.0, series.uid or "")
