"""What a fault test in LORIS site mode checks beside fault_accounting's, once the harm is over, as a LORIS site
would see it in its own tables:

- each accepted upload has exactly one row in mri_upload (an upload's rows are found by their UploadLocation,
  which holds `/<upload id>/attempt-<n>/`): its UploadLocation is the current attempt's file, its PatientName
  the one expected, its InsertionComplete 1 (the upload ended in Success);
- the upload's 202 (when it carried one), its own answer and Browse show that row's UploadID;
- no row is a second one or an orphan: every row belongs to an upload that the uploader knows by that UploadID;
- every Active='Y' notification_spool row of that UploadID is one line of the upload's log, in NotificationID
  order, and no inactive row is.

    report = await account(client, stream, ...)
    await check_loris_tables(report, stream, client, pool, conn, patient_name="MTL0001_300001_V1",
                             origin="spooling_pipeline")   # conn: an administrator's aiomysql connection
    report.assert_clean(...)
"""

import asyncio
import re
import time
from collections import defaultdict
from dataclasses import dataclass

import aiomysql
import asyncpg

from tests.support.api import FINISHED, UploaderClient
from tests.support.fault_accounting import FaultReport, UploadFate, UploadStream

UPLOAD_OF_LOCATION = re.compile(r"/(\d+)/attempt-\d+/[^/]+$")
ROWS_WAIT_SECONDS = 30


@dataclass
class LorisTables:
    rows: list[dict]  # mri_upload, every row
    active_spool: dict[int, list[str]]  # UploadID -> its Active='Y' messages, in NotificationID order
    inactive_spool: dict[int, list[str]]

    def rows_of(self, upload_id: int) -> list[dict]:
        return [row for row in self.rows if upload_of(row) == upload_id]


def upload_of(row: dict) -> int | None:
    match = UPLOAD_OF_LOCATION.search(row["UploadLocation"] or "")
    return int(match[1]) if match else None


async def _read_tables(conn: aiomysql.Connection) -> LorisTables:
    async with conn.cursor(aiomysql.DictCursor) as cursor:
        await cursor.execute("SELECT UploadID, UploadLocation, PatientName, InsertionComplete, Inserting "
                             "FROM mri_upload ORDER BY UploadID")
        rows = list(await cursor.fetchall())
        await cursor.execute("SELECT ProcessID, Message, Active FROM notification_spool ORDER BY NotificationID")
        spool = await cursor.fetchall()
    active, inactive = defaultdict(list), defaultdict(list)
    for row in spool:
        (active if row["Active"] == "Y" else inactive)[row["ProcessID"]].append(row["Message"])
    return LorisTables(rows, dict(active), dict(inactive))


async def check_loris_tables(report: FaultReport, stream: UploadStream, client: UploaderClient, pool: asyncpg.Pool,
                             conn: aiomysql.Connection, *, patient_name: str, origin: str) -> None:
    """Adds what is wrong to the report's problems, once no upload waits for its row (also those whose 202 was
    lost: an upload may be committed before the gateway dies)."""
    if not await _until_no_row_is_wanted(pool):
        report.other_problems.append(f"uploads still wait for their mri_upload row {ROWS_WAIT_SECONDS} s after "
                                     "the others ended")
    loris = await _read_tables(conn)
    browse = await _browse(client)
    answers = {sent.upload_id: sent.answer for sent in stream.sent if sent.upload_id is not None}
    later = sum(answer["loris_upload_id"] is None for answer in answers.values())
    report.notes.append(f"{later} of the accepted uploads' 202 had no LORIS UploadID yet (their rows came later)")
    for fate in report.fates:
        if fate.summary is not None:
            fate.problems += _row_problems(fate, loris, answers[fate.upload_id], browse.get(fate.upload_id),
                                           patient_name)
        if fate.progress in FINISHED:
            fate.problems += _spool_problems(fate, loris, origin)
    known = {row["upload_id"]: row["loris_upload_id"]
             for row in await pool.fetch("SELECT upload_id, loris_upload_id FROM gateway.uploads")}
    for row in loris.rows:
        upload_id = upload_of(row)
        if upload_id not in known or known[upload_id] != row["UploadID"]:
            report.other_problems.append(
                f"mri_upload row {row['UploadID']} ({row['UploadLocation']}) is an orphan: upload {upload_id} "
                f"knows {'nothing of it' if upload_id not in known else f'UploadID {known[upload_id]}'}")


def _row_problems(fate: UploadFate, loris: LorisTables, answer: dict, browsed: dict | None,
                  patient_name: str) -> list[str]:
    rows = loris.rows_of(fate.upload_id)
    if len(rows) != 1:
        return [f"{len(rows)} mri_upload rows, not 1: {rows}"]
    (row,) = rows
    problems = []
    expected = {"UploadLocation": fate.summary["upload_location"], "PatientName": patient_name,
                "InsertionComplete": 1}
    for column, value in expected.items():
        if row[column] != value:
            problems.append(f"its mri_upload row {row['UploadID']} has {column} {row[column]!r}, not {value!r}")
    shown = {"its answer": fate.summary["loris_upload_id"],
             "Browse": None if browsed is None else browsed["loris_upload_id"]}
    if answer.get("loris_upload_id") is not None:
        shown["its 202"] = answer["loris_upload_id"]
    for where, loris_upload_id in shown.items():
        if loris_upload_id != row["UploadID"]:
            problems.append(f"{where} shows LORIS UploadID {loris_upload_id}, its row is {row['UploadID']}")
    return problems


def _spool_problems(fate: UploadFate, loris: LorisTables, origin: str) -> list[str]:
    loris_upload_id = fate.summary["loris_upload_id"]
    active = loris.active_spool.get(loris_upload_id, [])
    lines = [line["message"] for line in fate.lines if line["origin"] == origin and line["stream"] is None]
    if lines == active:
        inactive = set(loris.inactive_spool.get(loris_upload_id, []))
        shown = [line for line in lines if line in inactive]
        return [f"inactive spool rows shown in its log: {shown}"] if shown else []
    return [f"its log's {len(lines)} lines from notification_spool are not its {len(active)} active rows in "
            f"NotificationID order: {_first_difference(lines, active)}"]


def _first_difference(lines: list[str], rows: list[str]) -> str:
    for index, (line, row) in enumerate(zip(lines, rows)):
        if line != row:
            return f"line {index + 1} is {line!r}, row {index + 1} is {row!r}"
    longer, which = (lines, "line") if len(lines) > len(rows) else (rows, "row")
    return f"{which}s from {min(len(lines), len(rows)) + 1} on have no match: {longer[min(len(lines), len(rows)):][:5]}"


async def _until_no_row_is_wanted(pool: asyncpg.Pool) -> bool:
    deadline = time.monotonic() + ROWS_WAIT_SECONDS
    while await pool.fetchval("SELECT count(*) FROM gateway.uploads WHERE loris_row_wanted "
                              "AND loris_row_set_aside IS NULL"):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


async def _browse(client: UploaderClient) -> dict[int, dict]:
    answer = await client.get("/api/v1/uploads", page_size=500)
    assert answer.status == 200, await answer.text()
    return {item["upload_id"]: item for item in (await answer.json())["items"]}
