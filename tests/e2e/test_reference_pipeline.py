"""The reference pipeline through the whole stack: what Browse, the log and the per-file report show of a scan
of two series that succeeds, and of one whose files are not de-identified."""

import json
import uuid

from tests.support.api import UploaderClient
from tests.support.dicom_archives import series_members, write_archive

NAME = "MTL0001_300001_V1"


def two_series_archive(tmp_path, **options):
    members = (series_members(NAME, 3, 3, series_description="T1w", **options)
               | series_members(NAME, 4, 2, series_description="T2w", **options))
    return write_archive(tmp_path / f"{NAME}_{uuid.uuid4().hex[:8]}.tgz", members)


async def upload_and_wait(client: UploaderClient, path) -> dict:
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert answer.status == 202, await answer.text()
    return await client.wait_for_progress((await answer.json())["upload_id"])


async def report_of(client: UploaderClient, upload_id: int) -> list[dict]:
    answer = await client.get(f"/api/v1/uploads/{upload_id}/report")
    assert answer.status == 200, await answer.text()
    assert answer.headers["Content-Disposition"] == f'attachment; filename="upload-{upload_id}-report.jsonl"'
    return [json.loads(line) for line in (await answer.text()).splitlines()]


async def test_a_success_shows_its_dicom_archive_the_image_counts_and_a_report_of_every_file(
        client: UploaderClient, tmp_path, output_path):
    path = two_series_archive(tmp_path)

    upload = await upload_and_wait(client, path)

    assert (upload["progress"], upload["failure"]) == ("Success", None)
    assert upload["tarchive"] == f"DCM_2024-01-05_{NAME}"
    info = upload["tarchive_info"]
    assert (info["study_date"], info["files"], len(info["md5"])) == ("2024-01-05", 5, 32)
    assert "patient_name" not in info
    assert info["series"] == [{"number": "3", "description": "T1w", "modality": "MR", "files": 3},
                              {"number": "4", "description": "T2w", "modality": "MR", "files": 2}]
    assert (upload["minc_created"], upload["minc_inserted"]) == (2, 2)
    assert (upload["step"], upload["percent"]) == ("Done", 100)
    assert upload["summary"] == "2 series, 5 DICOM files: 2 NIfTI images created and kept."
    page = await (await client.get("/api/v1/uploads", candid="300001", page_size=50)).json()
    [row] = [item for item in page["items"] if item["upload_id"] == upload["upload_id"]]
    assert (row["tarchive"], row["tarchive_info"], row["minc_created"]) == (upload["tarchive"], info, 2)

    report = await report_of(client, upload["upload_id"])
    assert sorted((line["file"], line["series"], line["outcome"]) for line in report) == [
        ("study/series3/IM0001.dcm", "3", "inserted"), ("study/series3/IM0002.dcm", "3", "inserted"),
        ("study/series3/IM0003.dcm", "3", "inserted"), ("study/series4/IM0001.dcm", "4", "inserted"),
        ("study/series4/IM0002.dcm", "4", "inserted")]
    kept = output_path / str(upload["upload_id"])
    assert sorted(file.name for file in (kept / "nifti").iterdir()) == [
        f"{NAME}_series3_T1w.nii.gz", f"{NAME}_series4_T2w.nii.gz"]
    assert json.loads((kept / "tarchive_info.json").read_text())["md5"] == info["md5"]

    summary = [line["message"] for line in (await client.log(upload["upload_id"], mode="summary"))["lines"]]
    pipeline_summary = summary[summary.index("Pipeline started.") + 1:]
    assert pipeline_summary == [
        f"Upload {upload['upload_id']}: checking {path.name}",
        "Found 5 DICOM files",
        f"{path.name} passed all checks",
        f"DICOM archive DCM_2024-01-05_{NAME}: study of 2024-01-05, 2 series (5 files), md5 {info['md5']}.",
        "Image files: 2 created, 2 inserted.",
        "Summary: 2 series, 5 DICOM files: 2 NIfTI images created and kept.",
        "Pipeline finished successfully: the scan was inserted.",
    ]
    detailed = [line["message"] for line in (await client.log(upload["upload_id"], mode="detailed"))["lines"]]
    assert "Reading DICOM headers (30%)" in detailed and "Done (100%)" in detailed
    assert "study/series3/IM0001.dcm (series 3): inserted" in detailed


async def test_a_birth_date_left_in_fails_naming_the_file_and_tag_in_browse_the_log_and_the_report(
        client: UploaderClient, tmp_path):
    path = two_series_archive(tmp_path, extra_tags={"PatientBirthDate": "19800101"})

    upload = await upload_and_wait(client, path)

    assert (upload["progress"], upload["exit_code"]) == ("Failure", 62)
    assert upload["failure"] == ("Pipeline failed with exit code 62: candidate information in the DICOM files is "
                                 "not valid, or the archive holds files that are not DICOM.")
    log = await client.log(upload["upload_id"], mode="summary")
    errors = [line["message"] for line in log["lines"] if line["is_error"]]
    assert "study/series3/IM0001.dcm: PatientBirthDate is filled in (it must be empty or removed)" in errors
    assert not any("19800101" in line["message"] for line in log["lines"])
    report = await report_of(client, upload["upload_id"])
    assert {(line["outcome"], line["reason"]) for line in report} == {
        ("rejected", "PatientBirthDate is filled in (it must be empty or removed)")}
    assert len(report) == 5
