"""Browse and Log Viewer polling through the gateway, beside the same queries
made straight to PostgreSQL, on a year of data.

    .venv/bin/python bench/browse_latency.py [--seconds 30] [--pollers 200] [--uploads 100000] [--lines 10000000]
    make bench-latency          # bench/preflight_latency.py, then this (about 4 minutes, 1 of them loading)

It loads 100,000 uploads and 10 million log lines with COPY straight into the
logstore's tables (bench/browse_data.py), starts the logstore and the
gateway as real processes on a database and a RabbitMQ vhost of their own
(bench_browse_<random>, removed at the end), checks that the gateway's
answers hold what PostgreSQL finds, and runs 200 pollers: half poll browse
(GET /api/v1/uploads with the filters, sorts and pages a Browse page asks,
each poller keeping one view for a while; a quarter of them a coordinator
who may see only site MTL), half follow one upload's log
(GET /api/v1/uploads/{id}/log?after=N&mode=summary, passing back the answer's
last_line_id as a Log Viewer does), half of those an upload whose pipeline
is writing: a writer appends 200 lines a second to 50 uploads in progress
during every phase.

Through the gateway a request is authenticated (the bearer token), proxied to
the logstore with the user's scope, answered from PostgreSQL and encoded as
JSON. The direct baseline runs the very same SQL (the statements of
services/logstore/queries.py; the log's two in one read-only transaction, as
the logstore does) with asyncpg from this process, with the same pollers,
and no HTTP and no JSON.

Two measurements, because 200 pollers on a 2-core machine can ask far more
than the machine can answer:

(a) saturation throughput: each poller asks again as soon as it has its
    answer (closed loop), so the CPU is saturated and latency only says how
    long the queue is. The figure that counts is queries per second; the goal
    is that the gateway serves at least half as many as PostgreSQL answers
    directly. The CPU each process spends per request shows where the time
    goes: with cheap queries the two HTTP hops (client -> gateway ->
    logstore) cost more than the queries, so this ratio falls as the SQL gets
    faster.
(b) latency at a realistic poll rate: each poller asks once a second (a Log
    Viewer polls every few seconds, so this is already several times the load
    of 200 open pages), 200 requests a second in all. The goal is p99 under
    50 ms through the gateway.

Each phase measures for --seconds after --warmup seconds. The script prints
each phase's p50/p99/mean/max, requests per second and the CPU cores each
process used, the ratios, and whether each goal is met. The machine's other
load is shown too ("whole machine"): other runs on it disturb the figures.

To measure again without loading again: --keep-as NAME keeps a copy of the
loaded database, --template NAME starts from it (drop it by hand afterwards).
"""

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench import browse_data  # noqa: E402
from bench.latencies import HEADER, Samples, row, verdict  # noqa: E402
from bench.stack import TOKEN, BenchStack, cpu_seconds  # noqa: E402
from services.common.api_models import LogQuery, UploadListQuery  # noqa: E402
from services.common.db import open_pool  # noqa: E402
from services.common.scope import OWN_SITES, UPLOADER_PERMISSIONS, scope_of  # noqa: E402
from services.gateway.auth.users import save_user  # noqa: E402
from services.logstore import queries  # noqa: E402
from tests.support import servers  # noqa: E402

MTL_TOKEN = "bench-mtl-coordinator-token"
USERS = {
    "bench": (TOKEN, scope_of("bench", UPLOADER_PERMISSIONS, ())),
    "mtl": (MTL_TOKEN, scope_of("bench_mtl", {OWN_SITES}, ("MTL",))),
}
LIVE_UPLOADS = 50  # uploads whose pipeline is writing lines during the run
P99_GOAL_MS = 50
QPS_RATIO_GOAL = 0.5


# --- what the pollers ask ----------------------------------------------------------------------------------

def browse_view(rng: random.Random, uploads: list[browse_data.Upload]) -> dict[str, str]:
    """The query of one Browse page: mostly no filter or one, newest first, the first pages."""
    subject = rng.choice([u for u in rng.sample(uploads, 20) if not u.is_phantom])
    r = rng.random()
    if r < 0.35:
        view = {}
    elif r < 0.50:
        view = {"site": rng.choice(("MTL", "OTT"))}
    elif r < 0.60:
        view = {"progress": rng.choice(("Failure", "In Progress", "Not Started", "Success"))}
    elif r < 0.72:
        view = {"candid": subject.candid}
    elif r < 0.78:
        view = {"pscid": subject.pscid}
    elif r < 0.84:
        view = {"is_phantom": "true"}
    elif r < 0.94:
        view = {"site": subject.site, "progress": rng.choice(("Failure", "Success"))}
    else:
        view = {"candid": subject.candid, "visit_label": subject.visit_label}
    view["sort"] = "-uploaded_at" if rng.random() < 0.8 else "uploaded_at"
    r = rng.random()
    view["page"] = str(1 if r < 0.7 else rng.randint(2, 5) if r < 0.95 else rng.randint(6, 20))
    view["page_size"] = str(rng.choice((20, 50, 50, 50, 100)))
    return view


class Gateway:
    name = "gateway"

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                             timeout=aiohttp.ClientTimeout(total=30))
        self.headers = {user: {"Authorization": f"Bearer {token}"} for user, (token, _) in USERS.items()}

    async def browse(self, user: str, view: dict[str, str], query: UploadListQuery) -> None:
        async with self.session.get(f"{self.url}/api/v1/uploads?{urlencode(view)}", headers=self.headers[user]) as answer:
            await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"browse answered {answer.status}")

    async def log(self, user: str, upload_id: int, after: int) -> int:
        url = f"{self.url}/api/v1/uploads/{upload_id}/log?after={after}&mode=summary"
        async with self.session.get(url, headers=self.headers[user]) as answer:
            body = await answer.read()
            if answer.status != 200:
                raise RuntimeError(f"log answered {answer.status}")
        return json.loads(body)["last_line_id"]

    async def close(self) -> None:
        await self.session.close()


class Direct:
    """The same statements as the logstore runs, straight to PostgreSQL."""

    name = "direct to PostgreSQL"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def browse(self, user: str, view: dict[str, str], query: UploadListQuery) -> None:
        count_sql, page_sql, args = queries.browse_statements(query, USERS[user][1])
        async with self.pool.acquire() as conn:
            total = await conn.fetchval(count_sql, *args)
            if total > (query.page - 1) * query.page_size:  # as list_uploads does
                await conn.fetch(page_sql, *args)

    async def log(self, user: str, upload_id: int, after: int) -> int:
        upload_sql, args = queries.upload_statement(USERS[user][1])
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            upload = await conn.fetchrow(upload_sql, upload_id, *args)
            lines = await conn.fetch(queries.LOG_LINES_SQL, *queries.log_lines_arguments(
                upload_id, upload["attempt"], LogQuery(after=after, mode="summary")))
        return max((line["line_id"] for line in lines), default=after)

    async def close(self) -> None:
        await self.pool.close()


async def verify_same_answers(gateway: Gateway, direct: Direct, uploads: list[browse_data.Upload]) -> int:
    """Before measuring: the gateway's answers hold what the direct queries find. Returns how many were compared."""
    rng = random.Random(99)
    compared = 0
    for n in range(40):
        user = "mtl" if n % 4 == 0 else "bench"
        view = browse_view(rng, uploads)
        query = UploadListQuery.model_validate(view)
        async with gateway.session.get(f"{gateway.url}/api/v1/uploads?{urlencode(view)}",
                                       headers=gateway.headers[user]) as answer:
            page = await answer.json()
        count_sql, page_sql, args = queries.browse_statements(query, USERS[user][1])
        async with direct.pool.acquire() as conn:
            total = await conn.fetchval(count_sql, *args)
            ids = [r["upload_id"] for r in await conn.fetch(page_sql, *args)]
        if (page["total"], [item["upload_id"] for item in page["items"]]) != (total, ids):
            raise RuntimeError(f"browse {view} as {user}: the gateway and PostgreSQL disagree")
        compared += 1
    for upload in rng.sample([u for u in uploads if u.progress in ("Success", "Failure")], 20):
        async with gateway.session.get(f"{gateway.url}/api/v1/uploads/{upload.upload_id}/log?mode=summary",
                                       headers=gateway.headers["bench"]) as answer:
            log = await answer.json()
        async with direct.pool.acquire() as conn:
            ids = [r["line_id"] for r in await conn.fetch(queries.LOG_LINES_SQL, *queries.log_lines_arguments(
                upload.upload_id, upload.attempt, LogQuery(after=0, mode="summary")))]
        if [line["line_id"] for line in log["lines"]] != ids or not ids:
            raise RuntimeError(f"log of upload {upload.upload_id}: the gateway and PostgreSQL disagree")
        compared += 1
    return compared


# --- one phase ---------------------------------------------------------------------------------------------

@dataclass
class Window:
    """The measured stretch of a phase: requests that start and end inside it count."""

    start: float
    end: float

    def covers(self, started: float, ended: float) -> bool:
        return self.start <= started and ended <= self.end


@dataclass
class PhaseResult:
    browse: Samples
    log: Samples
    cpu: dict[str, float] = field(default_factory=dict)  # cores used by each process during the window

    @property
    def both(self) -> Samples:
        return self.browse.merged(self.log)


class Poller:
    def __init__(self, target, rng: random.Random, window: Window, interval: float | None, samples: Samples) -> None:
        self.target, self.rng, self.window, self.interval, self.samples = target, rng, window, interval, samples

    async def run(self) -> None:
        next_at = time.perf_counter() + (self.rng.uniform(0, self.interval) if self.interval else 0)
        while True:
            if self.interval:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at = max(next_at + self.interval, time.perf_counter())
            started = time.perf_counter()
            if started >= self.window.end:
                return
            try:
                await self.poll()
                ended = time.perf_counter()
                if self.window.covers(started, ended):
                    self.samples.add(ended - started)
            except Exception:  # noqa: BLE001 - counted and shown; a benchmark keeps going
                if self.window.covers(started, time.perf_counter()):
                    self.samples.errors += 1
                await asyncio.sleep(0.1)


class BrowsePoller(Poller):
    def __init__(self, *args, uploads: list[browse_data.Upload], user: str) -> None:
        super().__init__(*args)
        self.uploads, self.user, self.left = uploads, user, 0

    async def poll(self) -> None:
        if self.left == 0:
            self.view = browse_view(self.rng, self.uploads)
            self.query = UploadListQuery.model_validate(self.view)
            self.left = self.rng.randint(5, 20)
        self.left -= 1
        await self.target.browse(self.user, self.view, self.query)


class LogPoller(Poller):
    def __init__(self, *args, followed: list[browse_data.Upload]) -> None:
        super().__init__(*args)
        self.followed, self.left = followed, 0

    async def poll(self) -> None:
        if self.left == 0:
            self.upload_id, self.after = self.rng.choice(self.followed).upload_id, 0
            self.left = self.rng.randint(10, 30)
        self.left -= 1
        self.after = await self.target.log("bench", self.upload_id, self.after)


class CpuMeter:
    """CPU time of the bench's own processes and of its database's backends, and of the whole machine."""

    def __init__(self, pool: asyncpg.Pool, database: str, services: dict[str, int]) -> None:
        self.pool, self.database, self.services = pool, database, services

    async def read(self) -> dict[str, dict[int, float]]:
        backends = [r["pid"] for r in await self.pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", self.database)]
        usage = resource.getrusage(resource.RUSAGE_SELF)
        values = {"bench client": {0: usage.ru_utime + usage.ru_stime}}
        for name, pid in self.services.items():
            values[name] = {pid: cpu_seconds(pid)}
        values["postgres backends"] = {pid: cpu_seconds(pid) for pid in backends}
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        idle = int(fields[3]) + int(fields[4])
        values["machine"] = {0: (sum(int(f) for f in fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")}
        return values

    @staticmethod
    def cores(before: dict, after: dict, seconds: float) -> dict[str, float]:
        """Cores used between two readings (a backend that connected in between counts from zero)."""
        return {name: sum(value - before[name].get(pid, 0.0) for pid, value in after[name].items()) / seconds
                for name in after}


async def run_phase(target, uploads, live, *, pollers: int, seconds: float, warmup: float,
                    interval: float | None, meter: CpuMeter, seed: int) -> PhaseResult:
    now = time.perf_counter()
    window = Window(now + warmup, now + warmup + seconds)
    result = PhaseResult(Samples(window=seconds), Samples(window=seconds))
    rng = random.Random(seed)
    tasks = []
    followed_old = [u for u in uploads if u.progress in ("Success", "Failure")]
    for n in range(pollers):
        poller_rng = random.Random(rng.getrandbits(64))
        if n % 2 == 0:
            user = "mtl" if n % 8 == 0 else "bench"
            poller = BrowsePoller(target, poller_rng, window, interval, result.browse, uploads=uploads, user=user)
        else:
            followed = live if n % 4 == 1 else followed_old
            poller = LogPoller(target, poller_rng, window, interval, result.log, followed=followed)
        tasks.append(asyncio.ensure_future(poller.run()))
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    before = await meter.read()
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    after = await meter.read()
    await asyncio.gather(*tasks)
    result.cpu = CpuMeter.cores(before, after, seconds)
    return result


class LineWriter:
    """A pipeline writing log lines to the live uploads, as the logstore's consumer would record them."""

    def __init__(self, pool: asyncpg.Pool, live: list[browse_data.Upload], per_second: float) -> None:
        self.pool, self.live, self.per_second = pool, live, per_second
        self.written = 0

    async def run(self) -> None:
        rng = random.Random(5)
        batch = max(1, round(self.per_second / 10))
        async with self.pool.acquire() as conn:
            while True:
                chosen = [rng.choice(self.live) for _ in range(batch)]
                await conn.execute(
                    """INSERT INTO logstore.log_lines (upload_id, attempt, event_id, logged_at, origin, message, is_verbose)
                       SELECT u, a, gen_random_uuid(), now(), 'pipeline', m, v
                       FROM unnest($1::bigint[], $2::int[], $3::text[], $4::boolean[]) AS t(u, a, m, v)""",
                    [u.upload_id for u in chosen], [u.attempt for u in chosen],
                    [f"Converting series {self.written + i}" for i in range(batch)],
                    [rng.random() < 0.4 for _ in range(batch)],
                )
                self.written += batch
                await asyncio.sleep(0.1)


# --- the run -----------------------------------------------------------------------------------------------

async def copy_database(name: str, copy: str) -> None:
    admin = await asyncpg.connect(servers.POSTGRES_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{name}"')
    finally:
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds of each phase")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls at the realistic rate")
    parser.add_argument("--uploads", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=10_000_000)
    parser.add_argument("--candidates", type=int, default=5_000)
    parser.add_argument("--write-lines-per-second", type=float, default=200)
    parser.add_argument("--template", help="copy this database (made by an earlier run with --keep-as) instead of "
                        "loading the data again")
    parser.add_argument("--keep-as", help="also keep a copy of the loaded data under this database name")
    parser.add_argument("--direct-pool-size", type=int, default=10,
                        help="connections of the direct baseline (the logstore's pool has 10)")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, load average {Path('/proc/loadavg').read_text().split()[0]} at the start")
    stack = BenchStack("browse", ("logstore", "gateway"))
    pool = gateway = direct = writer_task = None
    try:
        started = time.perf_counter()
        pool = await stack.prepare(args.template)
        async with pool.acquire() as conn:
            await save_user(conn, "bench_mtl", [OWN_SITES], MTL_TOKEN, ["MTL"])
        uploads = browse_data.plan(args.uploads, args.lines, args.candidates)
        if args.template is None:
            await browse_data.load(pool, uploads)
        if args.keep_as:
            await pool.close()
            await copy_database(stack.name, args.keep_as)
            pool = await open_pool(stack.database_url)
        async with pool.acquire() as conn:
            sizes = await conn.fetchrow(
                "SELECT pg_size_pretty(pg_total_relation_size('logstore.uploads')) AS uploads, "
                "pg_size_pretty(pg_total_relation_size('logstore.log_lines')) AS lines")
        how = f"copied from {args.template}" if args.template else "loaded with COPY"
        print(f"{how}: {args.uploads:,} uploads ({sizes['uploads']}) and {args.lines:,} log lines "
              f"({sizes['lines']}) in {time.perf_counter() - started:.0f} s")
        stack.start()
        direct_pool = await asyncpg.create_pool(stack.database_url, min_size=args.direct_pool_size,
                                                max_size=args.direct_pool_size)
        gateway, direct = Gateway(stack.gateway_url), Direct(direct_pool)
        compared = await verify_same_answers(gateway, direct, uploads)
        print(f"checked {compared} answers of the gateway against PostgreSQL's: the same uploads, totals and lines")
        live = random.Random(3).sample([u for u in uploads if u.progress == "In Progress"], LIVE_UPLOADS)
        writer = LineWriter(pool, live, args.write_lines_per_second)
        writer_task = asyncio.ensure_future(writer.run())

        services = {"gateway": stack.pid("gateway"), "logstore": stack.pid("logstore")}
        meters = {direct: CpuMeter(pool, stack.name, {}), gateway: CpuMeter(pool, stack.name, services)}

        phase = dict(pollers=args.pollers, seconds=args.seconds, warmup=args.warmup)
        results = {}
        for mode, interval in (("closed loop", None), (f"one poll per {args.interval:g} s", args.interval)):
            for target in (direct, gateway):
                print(f"  measuring {target.name}, {mode} ...", flush=True)
                results[target.name, mode] = await run_phase(target, uploads, live, interval=interval, meter=meters[target],
                                                             seed=42, **phase)
        report(results, args, writer)
    finally:
        if writer_task is not None:
            writer_task.cancel()
        for target in (gateway, direct):
            if target is not None:
                await target.close()
        if pool is not None:
            await pool.close()
        await stack.close()


def report(results: dict, args, writer: LineWriter) -> None:
    direct, gateway = Direct.name, Gateway.name
    closed, paced = "closed loop", f"one poll per {args.interval:g} s"
    print()
    print(f"{args.pollers} pollers (half browse, half log after=N), {args.seconds:g} s measured per phase; "
          f"{writer.written:,} log lines written meanwhile")
    for mode in (closed, paced):
        print(f"\n{mode}:")
        print(HEADER)
        for target in (direct, gateway):
            result = results[target, mode]
            print(row(f"{target}: browse", result.browse))
            print(row(f"{target}: log after=N", result.log))
            print(row(f"{target}: all", result.both))
        for target in (direct, gateway):
            cpu = dict(results[target, mode].cpu)
            machine = cpu.pop("machine")
            ours = ", ".join(f"{name} {cores:.2f}" for name, cores in cpu.items())
            print(f"  CPU cores used, {target}: {ours} (whole machine {machine:.2f} of {os.cpu_count()})")

    saturated = {t: results[t, closed] for t in (direct, gateway)}
    print("\nsaturation throughput, gateway / direct (goal >= 0.50):")
    for kind in ("browse", "log", "both"):
        ratio = getattr(saturated[gateway], kind).per_second / getattr(saturated[direct], kind).per_second
        print(f"  {kind:6s} {getattr(saturated[gateway], kind).per_second:8.1f} / "
              f"{getattr(saturated[direct], kind).per_second:8.1f} req/s = {ratio:5.2f}")
    print("  CPU per request at saturation (where the time goes):")
    for target in (direct, gateway):
        cpu = {name: cores / saturated[target].both.per_second * 1000
               for name, cores in saturated[target].cpu.items() if name != "machine"}
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in cpu.items())
        print(f"    {target}: {sum(cpu.values()):.2f} ms ({parts})")
    qps_ratio = saturated[gateway].both.per_second / saturated[direct].both.per_second
    at_rate = results[gateway, paced].both
    p99 = at_rate.percentile(99)
    errors = sum(r.browse.errors + r.log.errors for r in results.values())
    print("\ngoals:")
    print(f"  p99 through the gateway at one poll per {args.interval:g} s per poller: {p99:.1f} ms "
          f"(goal < {P99_GOAL_MS} ms; direct: {results[direct, paced].both.percentile(99):.1f} ms) "
          f"-> {verdict(p99 < P99_GOAL_MS)}")
    print(f"  gateway / direct queries per second at saturation: {qps_ratio:.2f} (goal >= {QPS_RATIO_GOAL}) "
          f"-> {verdict(qps_ratio >= QPS_RATIO_GOAL)}")
    if errors:
        print(f"  {errors} requests failed: the figures above do not count them")


if __name__ == "__main__":
    asyncio.run(main())
