"""A pipeline that writes LORIS-MRI's log as LORIS-MRI does: rows of notification_spool with ProcessID = the
upload's UploadID, one every --delay seconds, "spool row <i> of <n>" (Verbose 'Y' for every even i, Error 'Y'
for every fifth), and after every third an inactive row ("inactive row <i>", Active 'N') that must never be
shown. With --complete it then sets the mri_upload row as a successful insertion does; it exits 0 either way.
The LORIS database's URL comes from LORIS_DATABASE_URL. With --patient S it outlives a MariaDB restart (LORIS-MRI
would not): a statement the server did not take is tried again, on a new connection, for up to S seconds.
With --gate F it waits for file F to exist before writing --last-rows more rows ("last row <i>"); --exit-code
sets its exit code.

    python -m tests.support.spooling_pipeline --upload-id {loris_upload_id} --rows 20 --delay 0.1 [--complete] \
        [--linger 30] [--patient 60] [--gate /path --last-rows 2] [--exit-code 3]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import pymysql

from services.common.loris_db import LorisDatabaseAddress


def connect() -> pymysql.connections.Connection:
    address = LorisDatabaseAddress.from_url(os.environ["LORIS_DATABASE_URL"])
    return pymysql.connect(host=address.host, port=address.port, user=address.user, password=address.password,
                           database=address.database, charset="utf8mb4", autocommit=True)


class Database:
    """Statements on one connection, each committed on its own; a lost server is waited for `patience` seconds."""

    def __init__(self, patience: float) -> None:
        self.patience = patience
        self.conn: pymysql.connections.Connection | None = None

    def execute(self, statement: str, args: tuple) -> None:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                self.conn = self.conn or connect()
                with self.conn.cursor() as cursor:
                    cursor.execute(statement, args)
                return
            except (pymysql.err.OperationalError, pymysql.err.InterfaceError):
                self.close()
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def spool(db: Database, upload_id: int, message: str, *, verbose: bool, error: bool, active: bool = True) -> None:
    db.execute(
        """INSERT INTO notification_spool (NotificationTypeID, ProcessID, TimeSpooled, Message, Error, Verbose,
                                           Origin, Active)
           SELECT NotificationTypeID, %s, NOW(), %s, %s, %s, 'spooling_pipeline', %s
           FROM notification_types WHERE Type = 'mri upload runner'""",
        (upload_id, message, "Y" if error else "N", "Y" if verbose else "N", "Y" if active else "N"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-id", type=int, required=True)
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--complete", action="store_true")
    parser.add_argument("--with-pid", action="store_true", help="end each row with its writer's pid")
    parser.add_argument("--linger", type=float, default=0, help="seconds to wait after the rows, before ending")
    parser.add_argument("--patient", type=float, default=0, help="seconds to wait for a MariaDB that went away")
    parser.add_argument("--gate", type=Path, help="a file to wait for before the last rows")
    parser.add_argument("--last-rows", type=int, default=0)
    parser.add_argument("--exit-code", type=int, default=0)
    args = parser.parse_args()
    db = Database(args.patient)
    for number in range(1, args.rows + 1):
        by = f" from pid {os.getpid()}" if args.with_pid else ""
        spool(db, args.upload_id, f"spool row {number} of {args.rows}{by}", verbose=number % 2 == 0,
              error=number % 5 == 0)
        if number % 3 == 0:
            spool(db, args.upload_id, f"inactive row {number}", verbose=False, error=False, active=False)
        time.sleep(args.delay)
    if args.gate is not None:
        while not args.gate.exists():
            time.sleep(0.05)
    for number in range(1, args.last_rows + 1):
        spool(db, args.upload_id, f"last row {number}", verbose=False, error=True)
    if args.complete:
        db.execute("UPDATE mri_upload SET InsertionComplete = 1, Inserting = 0, number_of_mincCreated = 2, "
                   "number_of_mincInserted = 2 WHERE UploadID = %s", (args.upload_id,))
    db.close()
    time.sleep(args.linger)
    sys.exit(args.exit_code)


if __name__ == "__main__":
    main()
