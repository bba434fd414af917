"""The shapes of LORIS's answers, keys in LORIS's order.

GET .../dicoms lists every upload of the visit the user may see, oldest
first: Tarname is the DICOM archive the pipeline reported (its base name),
else the uploaded file's name; Patientname is PSCID_CandID_Visit; SeriesInfo
is [] (the series the reference pipeline reports are in /api/v1's tarchive_info).
"""

from pathlib import PurePosixPath

from services.common.api_models import RunRecord
from services.gateway.loris_api.process_state import processes_of_upload
from services.gateway.loris_api.visit_uploads import VisitUpload
from services.gateway.uploads.records import UploadRecord


def dicoms_answer(candid: str, visit_label: str, visit_uploads: list[VisitUpload],
                  tarchives: dict[int, str]) -> dict:
    return {
        "Meta": {"CandID": candid, "Visit": visit_label},
        "DicomTars": [dicom_tar(upload, candid, visit_label, tarchives.get(upload.upload_id))
                      for upload in visit_uploads],
    }


def dicom_tar(upload: VisitUpload, candid: str, visit_label: str, tarchive: str | None) -> dict:
    return {
        "Tarname": PurePosixPath(tarchive).name if tarchive else upload.file_name,
        "Patientname": f"{upload.pscid or ''}_{candid}_{visit_label}",
        "SeriesInfo": [],
    }


def mri_uploads_answer(record: UploadRecord | None, runs: list[RunRecord]) -> dict:
    if record is None:
        return {"MriUploads": []}
    return {"MriUploads": [{"MriUploadID": record.mri_upload_id, "Processes": processes_of_upload(record, runs)}]}


def launch_answer(link: str, process: dict | None) -> dict:
    """The run just asked for (None only if a new attempt replaced the upload in the meantime)."""
    return {"Link": link, "ProcessState": [process] if process else []}
