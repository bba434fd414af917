"""A year of uploads and their log lines, loaded with COPY straight into the
logstore's tables (logstore.uploads, logstore.log_lines), the way the
logstore's consumer would have left them.

Uploads spread over candidates of sites MTL (60 %) and OTT, visits V1 to V6,
5 % phantoms, progress mostly Success, uploaded_at over the past year in
upload_id order, a few second attempts. Log lines: about 100 per finished
upload (fewer for uploads not started or still running), 40 % verbose,
errors at the end of failed runs, line_id growing in time with the lines of
four uploads at a time interleaved (launchers run several pipelines at once).
"""

import asyncio
import itertools
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

SITES = (("MTL", 300001, 0.6), ("OTT", 400001, 0.4))
VISITS = tuple(f"V{n}" for n in range(1, 7))
USERS = tuple(f"coordinator{n:02d}" for n in range(1, 21))
PROGRESS = (("Success", 90, 0.80), ("Failure", 90, 0.10), ("Not Started", 20, 0.07), ("In Progress", 40, 0.03))
MESSAGES = (
    "Extracting the archive",
    "Found {n} DICOM files in {m} series",
    "Checking PatientName of file {n} of {m}",
    "dcm2niix: converting series {n} (T1w, {m} slices)",
    "dcm2niix: converting series {n} (T2w, {m} slices)",
    "dcm2niix: converting series {n} (FLAIR, {m} slices)",
    "Inserting image file {n} of {m} into the database",
    "Computing the DICOM archive checksum ({n} MiB)",
    "De-identification check passed for file {n} of {m}",
    "Series {n}: protocol matched ({m} volumes)",
)
LINE_COLUMNS = ("line_id", "upload_id", "attempt", "event_id", "logged_at", "origin", "message", "is_error",
                "is_verbose")
UPLOAD_COLUMNS = ("upload_id", "file_name", "candid", "pscid", "visit_label", "is_phantom", "uploaded_by",
                  "size_bytes", "attempt", "state_rank", "progress", "exit_code", "uploaded_at", "updated_at",
                  "site", "scan_key", "tarchive", "minc_created", "minc_inserted")
INTERLEAVED = 4
CHUNK_LINES = 250_000


@dataclass(frozen=True)
class Upload:
    upload_id: int
    candid: str | None
    pscid: str | None
    visit_label: str | None
    site: str | None
    is_phantom: bool
    progress: str
    attempt: int
    uploaded_at: datetime
    lines: int


def make_uploads(count: int, total_lines: int, candidates: int, rng: random.Random) -> list[Upload]:
    now = datetime.now(timezone.utc)
    starts = sorted(rng.uniform(0, 365 * 86400) for _ in range(count))
    uploads = []
    for index, offset in enumerate(starts):
        upload_id = index + 1
        progress = rng.choices([p[0] for p in PROGRESS], [p[2] for p in PROGRESS])[0]
        uploaded_at = now - timedelta(days=365) + timedelta(seconds=offset)
        if rng.random() < 0.05:
            candid = pscid = visit = site = None
            phantom = True
        else:
            site, first, _ = rng.choices(SITES, [s[2] for s in SITES])[0]
            number = rng.randrange(int(candidates * (0.6 if site == "MTL" else 0.4)))
            candid, pscid, visit, phantom = str(first + number), f"{site}{number + 1:04d}", rng.choice(VISITS), False
        lines = {"Not Started": rng.randint(1, 3), "In Progress": rng.randint(20, 80)}.get(progress) or rng.randint(85, 125)
        uploads.append(Upload(upload_id, candid, pscid, visit, site, phantom, progress,
                              2 if rng.random() < 0.05 else 1, uploaded_at, lines))
    return _with_total_lines(uploads, total_lines, rng)


def _with_total_lines(uploads: list[Upload], total: int, rng: random.Random) -> list[Upload]:
    """Nudge the finished uploads' line counts until they add up to exactly `total`."""
    counts = [u.lines for u in uploads]
    finished = [i for i, u in enumerate(uploads) if u.progress in ("Success", "Failure")]
    difference = total - sum(counts)
    step = 1 if difference > 0 else -1
    while difference:
        i = rng.choice(finished)
        if counts[i] + step >= 10:
            counts[i] += step
            difference -= step
    return [Upload(**{**u.__dict__, "lines": n}) for u, n in zip(uploads, counts)]


def upload_record(u: Upload, rng: random.Random) -> tuple:
    rank = dict((p[0], p[1]) for p in PROGRESS)[u.progress]
    name = f"phantom_{u.upload_id}.tgz" if u.is_phantom else f"{u.pscid}_{u.candid}_{u.visit_label}_{u.upload_id}.tgz"
    success, failure = u.progress == "Success", u.progress == "Failure"
    return (
        u.upload_id, name, u.candid, u.pscid, u.visit_label, u.is_phantom, rng.choice(USERS),
        rng.randint(100, 4000) * 1024**2, u.attempt, rank, u.progress,
        0 if success else (rng.choice((1, 2, 3, 4, 6, 8)) if failure else None),
        u.uploaded_at, u.uploaded_at + timedelta(minutes=rng.randint(1, 90)), u.site,
        None if success else f"{u.upload_id}/{u.attempt}/{name}",
        f"DCM_{u.uploaded_at:%Y-%m-%d}_{name[:-4]}.tar" if success else None,
        rng.randint(2, 12) if success else None, rng.randint(2, 12) if success else None,
    )


def line_records(group: list[Upload], first_line_id: int, event_ids: list[uuid.UUID]):
    """The lines of a few uploads, interleaved as their pipelines wrote them."""
    line_id = first_line_id
    streams = [_lines_of(u) for u in group]
    for lines in itertools.zip_longest(*streams):
        for line in lines:
            if line is not None:
                yield (line_id, *line[:2], event_ids[line_id % len(event_ids)], *line[2:])
                line_id += 1


_MESSAGES = [MESSAGES[k % len(MESSAGES)].format(n=k % 37 + 1, m=k % 37 + 12) for k in range(1000)]
_SECONDS = [timedelta(seconds=k) for k in range(1000)]


def _lines_of(u: Upload):
    failed = u.progress == "Failure"
    first_attempt_lines = u.lines * 2 // 5 if u.attempt == 2 else 0
    upload_id, at = u.upload_id, u.uploaded_at
    for k in range(u.lines):
        attempt = 1 if k < first_attempt_lines else u.attempt
        if k == 0 or k == first_attempt_lines:
            yield (upload_id, attempt, at + _SECONDS[k % 1000], "gateway", f"Upload received: attempt {attempt}.", False, False)
        else:
            yield (upload_id, attempt, at + _SECONDS[k % 1000], "pipeline", _MESSAGES[k % 1000], failed and k >= u.lines - 3,
                   k % 5 in (1, 3))


def plan(uploads: int, total_lines: int, candidates: int, seed: int = 11) -> list[Upload]:
    """The uploads to load (the same for the same arguments)."""
    return make_uploads(uploads, total_lines, candidates, random.Random(seed))


async def load(pool: asyncpg.Pool, made: list[Upload], seed: int = 12) -> None:
    """COPY the uploads and their lines."""
    rng = random.Random(seed)
    total_lines = sum(u.lines for u in made)
    async with pool.acquire() as conn:
        await conn.copy_records_to_table("uploads", schema_name="logstore", columns=UPLOAD_COLUMNS,
                                         records=[upload_record(u, rng) for u in made])
    event_ids = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(100_003)]
    groups = [made[i:i + INTERLEAVED] for i in range(0, len(made), INTERLEAVED)]
    queue: asyncio.Queue = asyncio.Queue(maxsize=2)

    async def produce() -> None:
        line_id, chunk = 1, []
        for group in groups:
            chunk.extend(line_records(group, line_id, event_ids))
            line_id += sum(u.lines for u in group)
            if len(chunk) >= CHUNK_LINES:
                await queue.put(chunk)
                chunk = []
        await queue.put(chunk)
        for _ in range(2):
            await queue.put(None)

    async def copy() -> None:
        async with pool.acquire() as conn:
            while (chunk := await queue.get()) is not None:
                await conn.copy_records_to_table("log_lines", schema_name="logstore", columns=LINE_COLUMNS,
                                                 records=chunk)

    async with pool.acquire() as conn:
        rebuild = await _drop_indexes(conn, "logstore", "log_lines")
    await asyncio.gather(produce(), copy(), copy())
    async with pool.acquire() as conn:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for statement in rebuild:
            await conn.execute(statement)
        await conn.execute("SELECT setval('logstore.log_lines_line_id_seq', $1)", total_lines)
        await conn.execute("VACUUM ANALYZE logstore.uploads")
        await conn.execute("VACUUM ANALYZE logstore.log_lines")


async def _drop_indexes(conn: asyncpg.Connection, schema: str, table: str) -> list[str]:
    """Drop a table's primary key and indexes (COPY into a bare table is several times faster);
    returns the statements that put them back exactly as the migrations made them."""
    relation = f"{schema}.{table}"
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = $1::regclass "
        "AND contype IN ('p', 'u')", relation)
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = $2 "
        "AND indexname <> ALL($3::text[])", schema, table, [c["conname"] for c in constraints])
    for index in indexes:
        await conn.execute(f'DROP INDEX {schema}."{index["indexname"]}"')
    for constraint in constraints:
        await conn.execute(f'ALTER TABLE {relation} DROP CONSTRAINT "{constraint["conname"]}"')
    return ([f'ALTER TABLE {relation} ADD CONSTRAINT "{c["conname"]}" {c["definition"]}' for c in constraints]
            + [index["indexdef"] for index in indexes])
