"""An upload's row in LORIS's mri_upload, written as LORIS's imaging uploader module writes it: inserted for a
first attempt, updated in place for an overwrite (its earlier log rows in notification_spool then set inactive),
never a second row.

Writing it again changes nothing that matters, so a keeper that died between this write and its own record of
it may simply write it again: a row it does not know yet is first looked for by the UploadLocation of each of the
upload's attempts (each attempt's file has a path of its own), and adopted when found."""

from dataclasses import dataclass

import aiomysql


@dataclass(frozen=True)
class UploadRow:
    """What the row holds for the current attempt."""

    uploaded_by: str
    upload_location: str  # the scan's absolute path, as the launcher gives it to the pipeline
    seconds_ago: int  # when the attempt was accepted, as an age: UploadDate is in MariaDB's own clock and zone
    patient_name: str  # PSCID_CandID_VisitLabel; empty for a phantom
    candid: str | None
    visit_label: str | None
    is_phantom: bool


async def write_upload_row(conn: aiomysql.Connection, row: UploadRow, known_id: int | None,
                           earlier_locations: list[str]) -> int:
    """The row's UploadID, after writing `row` into it: the row `known_id`, else the one found at one of the
    upload's locations, else a new one."""
    async with conn.cursor() as cursor:
        upload_id = known_id or await _find_by_location(cursor, [row.upload_location, *earlier_locations])
        session_id = None if row.is_phantom else await _session_id(cursor, row.candid, row.visit_label)
        if upload_id is None:
            return await _insert(cursor, row, session_id)
        await _update(cursor, upload_id, row, session_id)
        return upload_id


async def _find_by_location(cursor: aiomysql.Cursor, locations: list[str]) -> int | None:
    marks = ", ".join(["%s"] * len(locations))
    await cursor.execute(
        f"SELECT UploadID FROM mri_upload WHERE UploadLocation IN ({marks}) ORDER BY UploadID LIMIT 1", locations)
    found = await cursor.fetchone()
    return found[0] if found else None


async def _session_id(cursor: aiomysql.Cursor, candid: str | None, visit_label: str | None) -> int | None:
    """session.ID of the candidate's visit (session.CandidateID is candidate.ID, not the CandID); None if none."""
    if candid is None or not candid.isdigit() or visit_label is None:
        return None
    await cursor.execute(
        """SELECT s.ID FROM session s JOIN candidate c ON c.ID = s.CandidateID
           WHERE c.CandID = %s AND s.Visit_label = %s ORDER BY s.ID LIMIT 1""",
        (int(candid), visit_label))
    found = await cursor.fetchone()
    return found[0] if found else None


async def _insert(cursor: aiomysql.Cursor, row: UploadRow, session_id: int | None) -> int:
    await cursor.execute(
        """INSERT INTO mri_upload (UploadedBy, UploadDate, UploadLocation, SessionID, PatientName, IsPhantom,
                                   InsertionComplete, IsTarchiveValidated, Inserting, TarchiveID,
                                   number_of_mincInserted, number_of_mincCreated, IsCandidateInfoValidated)
           VALUES (%s, NOW() - INTERVAL %s SECOND, %s, %s, %s, %s, 0, 0, NULL, NULL, NULL, NULL, NULL)""",
        (row.uploaded_by, row.seconds_ago, row.upload_location, session_id, row.patient_name, _y_n(row.is_phantom)))
    return cursor.lastrowid


async def _update(cursor: aiomysql.Cursor, upload_id: int, row: UploadRow, session_id: int | None) -> None:
    """As LORIS's module on an overwrite: the row describes the new file, as not yet processed."""
    await cursor.execute(
        """UPDATE mri_upload SET UploadedBy = %s, UploadDate = NOW() - INTERVAL %s SECOND, UploadLocation = %s,
               SessionID = %s, PatientName = %s, IsPhantom = %s, Inserting = NULL, InsertionComplete = 0,
               TarchiveID = NULL, number_of_mincInserted = NULL, number_of_mincCreated = NULL,
               IsCandidateInfoValidated = NULL, IsTarchiveValidated = 0
           WHERE UploadID = %s""",
        (row.uploaded_by, row.seconds_ago, row.upload_location, session_id, row.patient_name, _y_n(row.is_phantom),
         upload_id))
    await cursor.execute("UPDATE notification_spool SET Active = 'N' WHERE ProcessID = %s AND Active = 'Y'",
                         (upload_id,))


def _y_n(flag: bool) -> str:
    return "Y" if flag else "N"
