"""Migration 0018: what runs of earlier versions left in the logstore quoting a file's PatientName is rewritten
to what the pipeline says now, naming the file, the tag and the label expected, never the name found."""

import uuid

from services.common.migrations import MIGRATIONS_DIR
from tests.integration.helpers import new_upload_id

MIGRATION = MIGRATIONS_DIR / "0018_no_identifying_values.sql"
LABEL = "MTL0001_300001_V1"


async def stored_before_the_migration(conn, upload_id: int, tarchive_info: dict, lines: list[str],
                                      reasons: list[str]) -> None:
    await conn.execute("""INSERT INTO logstore.uploads (upload_id, attempt, state_rank, progress, tarchive_info)
                          VALUES ($1, 1, 3, 'Failure', $2)""", upload_id, tarchive_info)
    for line in lines:
        await conn.execute("""INSERT INTO logstore.log_lines (upload_id, attempt, event_id, logged_at, origin, message)
                              VALUES ($1, 1, $2, now(), 'pipeline', $3)""", upload_id, uuid.uuid4(), line)
    for reason in reasons:
        await conn.execute("""INSERT INTO logstore.file_outcomes (upload_id, attempt, run_id, file, outcome, reason)
                              VALUES ($1, 1, 1, 'study/IM0001.dcm', 'rejected', $2)""", upload_id, reason)


async def test_lines_reasons_and_summaries_that_quote_a_patient_name_are_rewritten_without_it(pool):
    upload_id = new_upload_id()
    async with pool.acquire() as conn:
        await stored_before_the_migration(
            conn, upload_id, {"study_date": "2024-01-05", "patient_name": "TREMBLAY^JOSEPHINE", "files": 2},
            ["study/a: b/IM0001.dcm: series 3, PatientName TREMBLAY^JOSEPHINE",
             "study/IM0002.dcm: no series number, no PatientName",
             f"study/IM0001.dcm has PatientName 'TREMBLAY^JOSEPHINE', expected '{LABEL}'",
             f"""study/IM0003.dcm has PatientName "O'BRIEN, expected 'X'", expected '{LABEL}'""",
             f"The PatientName differs from '{LABEL}' in 2 of 3 DICOM files."],
            [f"its PatientName is 'TREMBLAY^JOSEPHINE', not '{LABEL}'", "it has no PatientName"])

        await conn.execute(MIGRATION.read_text())

        info = await conn.fetchval("SELECT tarchive_info FROM logstore.uploads WHERE upload_id = $1", upload_id)
        lines = [row["message"] for row in await conn.fetch(
            "SELECT message FROM logstore.log_lines WHERE upload_id = $1 ORDER BY line_id", upload_id)]
        reasons = [row["reason"] for row in await conn.fetch(
            "SELECT reason FROM logstore.file_outcomes WHERE upload_id = $1 ORDER BY outcome_id", upload_id)]
    assert info == {"study_date": "2024-01-05", "files": 2}
    assert lines == ["study/a: b/IM0001.dcm: series 3",
                     "study/IM0002.dcm: no series number",
                     f"study/IM0001.dcm: the PatientName is not '{LABEL}'",
                     f"study/IM0003.dcm: the PatientName is not '{LABEL}'",
                     f"The PatientName differs from '{LABEL}' in 2 of 3 DICOM files."]
    assert reasons == [f"its PatientName is not '{LABEL}'", "it has no PatientName"]
