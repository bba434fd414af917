"""The pipeline of bench/loris_spool_throughput.py: writes LORIS-MRI's log for one upload as fast as MariaDB takes
it, --rows rows of notification_spool (ProcessID = the upload's UploadID) in multi-row INSERTs of --per-insert rows,
each committed on its own: "spool row <i> of <n>", Verbose 'Y' for every even i, Error 'Y' for every fifth, Origin
spool_writer. It then sets the mri_upload row as a successful insertion does and exits 0. Into --times-file it
writes when its first INSERT was committed and when its last one was (time.time(), seconds), for the bench.
The LORIS database's URL comes from LORIS_DATABASE_URL.

    python bench/spool_writer.py --upload-id {loris_upload_id} --rows 100000 --times-file PATH
"""

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import pymysql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.common.loris_url import LorisDatabaseAddress  # noqa: E402

ORIGIN = "spool_writer"


def message(number: int, rows: int) -> str:
    return f"spool row {number} of {rows}"


def is_verbose(number: int) -> bool:
    return number % 2 == 0


def is_error(number: int) -> bool:
    return number % 5 == 0


def connect() -> pymysql.connections.Connection:
    address = LorisDatabaseAddress.from_url(os.environ["LORIS_DATABASE_URL"])
    return pymysql.connect(host=address.host, port=address.port, user=address.user, password=address.password,
                           database=address.database, charset="utf8mb4", autocommit=True)


def yes_no(flag: bool) -> str:
    return "Y" if flag else "N"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-id", type=int, required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--per-insert", type=int, default=1000)
    parser.add_argument("--times-file", type=Path, required=True)
    args = parser.parse_args()
    times = []
    with connect() as db, db.cursor() as cursor:
        cursor.execute("SELECT NotificationTypeID FROM notification_types WHERE Type = 'mri upload runner'")
        (type_id,) = cursor.fetchone()
        for first in range(1, args.rows + 1, args.per_insert):
            numbers = range(first, min(first + args.per_insert, args.rows + 1))
            cursor.executemany(
                """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error,
                                                   Verbose, Origin, Active) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                [(type_id, args.upload_id, datetime.now(), message(n, args.rows), yes_no(is_error(n)),
                  yes_no(is_verbose(n)), ORIGIN, "Y") for n in numbers])
            times.append(time.time())
        cursor.execute("UPDATE mri_upload SET InsertionComplete = 1, Inserting = 0, number_of_mincCreated = 0, "
                       "number_of_mincInserted = 0 WHERE UploadID = %s", (args.upload_id,))
    args.times_file.write_text(f"{times[0]} {times[-1]}\n")


if __name__ == "__main__":
    main()
