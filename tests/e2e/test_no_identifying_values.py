"""No identifying value found in a file is ever stored: scans whose DICOM files hold a real-looking name, health
card number, birth date, address and image comment go through the whole stack with the reference pipeline, and
everything a user or an operator can read afterwards is searched for those values.

A candidate's upload fails on its PatientName (151), is replaced by files with the right name that keep the birth
date and address (62), then by files whose only trace is an image comment (Success); a phantom whose files name
a person succeeds. Searched: every log line of every attempt (summary and detailed), the per-file report, the
upload's answers, the Browse rows, the LORIS API's dicoms answer, the runs (command and stderr tail), every file
of the output folder (decompressed), the services' own logs and every row of every table of the database.
"""

import asyncio
import gzip
import json
import uuid
from pathlib import Path

import asyncpg

from tests.support.api import FINISHED, UploaderClient
from tests.support.dicom_archives import series_members, write_archive

LABEL = "MTL0001_300001_V1"
CANDIDATE = {"candid": "300001", "pscid": "MTL0001", "visit_label": "V1"}
PATIENT_NAME = "TREMBLAY^JOSEPHINE"
PATIENT_ID = "TREJ61042319"  # a health card number's shape
PERSONAL = {"PatientBirthDate": "19610423", "PatientAddress": "4521 RUE SAINT-DENIS MONTREAL"}
COMMENT = {"ImageComments": "Mme Tremblay, nee le 1961-04-23"}
# Each value in the forms it may take once printed: the parts of a name, a date as DICOM and ISO write it.
FORMS = ("TREMBLAY", "JOSEPHINE", PATIENT_ID, "19610423", "1961-04-23", "SAINT-DENIS", "4521 RUE")
SCHEMAS = ("public", "gateway", "validator", "launcher", "logstore")


def identifying(text: str) -> list[str]:
    return [form for form in FORMS if form.lower() in text.lower()]


def scan(path: Path, patient_name: str, patient_id: str, extra_tags: dict) -> Path:
    """Two series of the same files; written again under the same name for an overwrite."""
    members = (series_members(patient_name, 3, 2, series_description="T1w", patient_id=patient_id,
                              extra_tags=extra_tags)
               | series_members(patient_name, 4, 2, series_description="T2w", patient_id=patient_id,
                                extra_tags=extra_tags))
    return write_archive(path, members)


async def upload(client: UploaderClient, path: Path, attempt: int, answers: list, **fields) -> dict:
    answer = await client.upload(path, overwrite=attempt > 1, **fields)
    assert answer.status == 202, await answer.text()
    body = await answer.json()
    answers.append(body)
    assert body["attempt"] == attempt
    async with asyncio.timeout(90):
        while True:
            summary = await client.upload_summary(body["upload_id"])
            if summary["attempt"] == attempt and summary["progress"] in FINISHED:
                return summary
            await asyncio.sleep(0.1)


async def every_log_line(client: UploaderClient, upload_id: int) -> list[dict]:
    lines = []
    for mode in ("summary", "detailed"):
        after, more = 0, True
        while more:
            page = await client.log(upload_id, mode=mode, include_inactive="true", after=after)
            lines += page["lines"]
            after, more = (page["lines"][-1]["line_id"] if page["lines"] else after), page["more"]
    return lines


async def answer_text(client: UploaderClient, path: str, **params) -> str:
    answer = await client.get(path, **params)
    assert answer.status == 200, f"{path}: {answer.status} {await answer.text()}"
    return await answer.text()


def output_files(folder: Path) -> dict[str, str]:
    """Every file under the output folder, decompressed when it ends in .gz."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            files[str(path)] = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("latin-1")
    return files


async def database_rows(database_url: str) -> list[str]:
    """Every row of every table of the services' schemas, as text (bytea, e.g. an outbox body, readable)."""
    conn = await asyncpg.connect(database_url)
    try:
        columns = await conn.fetch(
            """SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns
               JOIN information_schema.tables USING (table_schema, table_name)
               WHERE table_schema = ANY($1) AND table_type = 'BASE TABLE'
               ORDER BY table_schema, table_name, ordinal_position""", list(SCHEMAS))
        tables: dict[str, list[str]] = {}
        for column in columns:
            name = f'"{column["column_name"]}"'
            text = f"encode({name}, 'escape')" if column["data_type"] == "bytea" else f"{name}::text"
            tables.setdefault(f'"{column["table_schema"]}"."{column["table_name"]}"', []).append(text)
        rows = []
        for table, texts in tables.items():
            rows += [f"{table}: {row[0]}" for row in await conn.fetch(
                f"SELECT concat_ws(' | ', {', '.join(texts)}) FROM {table}")]
        return rows
    finally:
        await conn.close()


async def test_no_value_of_a_files_patient_tags_is_kept_in_any_log_report_answer_output_or_table(
        client: UploaderClient, stack, tmp_path, output_path, service_env):
    candidate_scan = tmp_path / f"{LABEL}_{uuid.uuid4().hex[:8]}.tgz"
    answers: list[dict] = []

    wrong_name = await upload(client, scan(candidate_scan, PATIENT_NAME, PATIENT_ID, PERSONAL), 1, answers,
                              **CANDIDATE)
    not_deidentified = await upload(client, scan(candidate_scan, LABEL, LABEL, PERSONAL), 2, answers, **CANDIDATE)
    commented = await upload(client, scan(candidate_scan, LABEL, LABEL, COMMENT), 3, answers, **CANDIDATE)
    phantom = await upload(client, scan(tmp_path / f"phantom_{uuid.uuid4().hex[:8]}.tgz", PATIENT_NAME, PATIENT_ID,
                                        COMMENT), 1, answers, is_phantom=True)

    assert (wrong_name["exit_code"], not_deidentified["exit_code"]) == (151, 62)
    assert (commented["progress"], phantom["progress"]) == ("Success", "Success")
    assert commented["minc_inserted"] == phantom["minc_inserted"] == 2
    places: dict[str, str] = {"the upload answers": json.dumps(answers)}
    for upload_id in (commented["upload_id"], phantom["upload_id"]):
        lines = await every_log_line(client, upload_id)
        places[f"the log of upload {upload_id}"] = "\n".join(line["message"] for line in lines)
        for path in (f"/api/v1/uploads/{upload_id}", f"/api/v1/uploads/{upload_id}/report",
                     f"/api/v1/uploads/{upload_id}/runs"):
            places[path] = await answer_text(client, path)
    places["Browse"] = await answer_text(client, "/api/v1/uploads", page_size=100)
    places["Browse of phantoms"] = await answer_text(client, "/api/v1/uploads", is_phantom="true", page_size=100)
    places["the LORIS API's dicoms"] = await answer_text(client, "/api/v0.0.4-dev/candidates/300001/V1/dicoms")
    places |= output_files(output_path)
    assert any(path.endswith(".nii.gz") for path in places)
    places |= {f"the {log.stem} service's log": log.read_text(errors="replace")
               for log in stack.log_dir.glob("*.log")}
    places |= {f"the database, row {number}": row
               for number, row in enumerate(await database_rows(service_env["UPLOADER_DATABASE_URL"]))}

    found = {place: identifying(text) for place, text in places.items() if identifying(text)}
    assert found == {}, "\n".join(
        f"{place}: {line}" for place in found for line in places[place].splitlines() if identifying(line))[:4000]
    # The checks said which files and tags were wrong.
    lines = places[f"the log of upload {commented['upload_id']}"]
    assert f"study/series3/IM0001.dcm: the PatientName is not '{LABEL}'" in lines
    assert "study/series3/IM0001.dcm: PatientBirthDate is filled in (it must be empty or removed)" in lines
    assert "study/series3/IM0001.dcm: series 3" in lines
