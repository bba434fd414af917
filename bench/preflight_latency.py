"""Latency of the pre-flight check (POST /api/v1/uploads/check) through the
gateway, against a bare aiohttp handler measured in the same run.

    .venv/bin/python bench/preflight_latency.py [--requests 4000] [--clients 10] [--warmup 400]
    .venv/bin/python bench/preflight_latency.py --loris [--candidates 100000]
    make bench-latency          # this and bench/browse_latency.py
    make bench-loris            # this with --loris, and bench/loris_spool_throughput.py

The gateway asks the validator over RabbitMQ (request/reply) for the rules of
the registry and the user's site scope, adds its own (file type, size, a
name already taken in its own table), and answers
{"ok", "errors", "existing", "max_upload_bytes"}. The gateway and the
validator run as real processes on a database and a RabbitMQ vhost of their
own (bench_preflight_<random>, removed at the end), with the demo registry
and one upload already recorded (MTL0001_300001_V1.tgz, so that a check of
that name finds it).

The requests mix valid and invalid checks of the demo registry (valid
300001/MTL0001 V1 and 400001/OTT0001 V1, an inactive candidate, an inactive
visit, a PSCID of another candidate, an unknown or malformed CandID, a name
that does not match, a .tar, a file too large, a name already taken, with
and without overwrite, a phantom, and OTT0001 asked by a coordinator of MTL
only), from --clients clients at once, each sending its next request as soon
as it has its answer. Each answer is checked against what it must say.

The baseline is the same requests, from the same clients, to a bare aiohttp
handler that reads the JSON body and answers a fixed JSON
(bench/bare_json_server.py): what HTTP and JSON cost on this machine. The
two are measured in alternating blocks, so that the machine's other load
falls on both alike. Goal: p99 through the gateway under 100 ms.

--loris: the gateway and the validator run in LORIS site mode (UPLOADER_LORIS_DATABASE_URL) on a LORIS database
of the bench's own on the local MariaDB (bench/loris_site.py), as the uploader's own MariaDB user, granted only
what docs/loris-site.md lists: LORIS's tables, the demo project, LORIS accounts for the bench's two users, and
--candidates more candidates with a visit each, inserted in bulk. The same mix, plus checks of two of those
candidates (one valid, one inactive); MariaDB's CPU is counted too.
"""

import argparse
import asyncio
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.latencies import HEADER, Samples, row, verdict  # noqa: E402
from bench.loris_site import BenchLorisSite, BulkCandidate  # noqa: E402
from bench.stack import TOKEN, BenchStack, cpu_seconds, machine_busy_seconds  # noqa: E402
from services.common.scope import OWN_SITES  # noqa: E402
from services.gateway.auth.users import save_user  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402
from tests.support.stack import free_port  # noqa: E402

MTL_TOKEN = "bench-mtl-coordinator-token"
MAX_UPLOAD_BYTES = 50 * 1024**3
TAKEN_NAME = "MTL0001_300001_V1.tgz"
P99_GOAL_MS = 100
BLOCK = 250  # requests per block; the gateway and the bare handler take turns
OTHER_LOAD_WARNING = 0.10  # of the machine's CPU, beyond which the bench says its figures were disturbed


@dataclass(frozen=True)
class Kind:
    """One kind of check: its body, whose token, and what the answer must say."""

    name: str
    weight: int
    body: dict
    ok: bool
    codes: tuple[str, ...] = ()
    token: str = TOKEN


def check(candid, pscid, visit_label, file_name, *, file_size=200 * 1024**2, is_phantom=False, overwrite=False) -> dict:
    return {"candid": candid, "pscid": pscid, "visit_label": visit_label, "is_phantom": is_phantom,
            "overwrite": overwrite, "file_name": file_name, "file_size": file_size}


KINDS = (
    Kind("valid MTL0001 V1", 30, check("300001", "MTL0001", "V1", "MTL0001_300001_V1_t1.tgz"), True),
    Kind("valid OTT0001 V1", 10, check("400001", "OTT0001", "V1", "OTT0001_400001_V1.tar.gz"), True),
    Kind("phantom", 5, check(None, None, None, "phantom_2024_03.zip", is_phantom=True), True),
    Kind("name taken, overwrite", 5, check("300001", "MTL0001", "V1", TAKEN_NAME, overwrite=True), True),
    Kind("name taken", 5, check("300001", "MTL0001", "V1", TAKEN_NAME), False, ("already_uploaded",)),
    Kind("inactive candidate", 8, check("300002", "MTL0002", "V1", "MTL0002_300002_V1.tgz"), False,
         ("candidate_active",)),
    Kind("inactive visit", 7, check("300001", "MTL0001", "V2", "MTL0001_300001_V2.tgz"), False,
         ("session_active",)),
    Kind("PSCID of another", 5, check("300001", "MTL0002", "V1", "MTL0002_300001_V1.tgz"), False,
         ("pscid_matches_candid",)),
    Kind("unknown CandID", 5, check("999999", "MTL0009", "V1", "MTL0009_999999_V1.tgz"), False, ("candid_exists",)),
    Kind("malformed CandID", 3, check("3000x1", "MTL0001", "V1", "MTL0001_3000x1_V1.tgz"), False,
         ("invalid_candid",)),
    Kind("name mismatch", 5, check("300001", "MTL0001", "V1", "MTL0001_300001_V2.tgz"), False,
         ("file_name_mismatch",)),
    Kind(".tar", 4, check("300001", "MTL0001", "V1", "MTL0001_300001_V1.tar"), False, ("unsupported_file_type",)),
    Kind("too large", 3, check("300001", "MTL0001", "V1", "MTL0001_300001_V1_big.tgz",
                               file_size=MAX_UPLOAD_BYTES + 1), False, ("file_too_large",)),
    Kind("OTT0001 by an MTL coordinator", 5, check("400001", "OTT0001", "V1", "OTT0001_400001_V1_x.tgz"), False,
         ("site_not_permitted",), MTL_TOKEN),
)


def bulk_candidate_kinds(count: int) -> tuple[Kind, ...]:
    """Checks of two of the `count` candidates of the LORIS site's bulk: a valid one halfway through them, and an
    inactive one (its visit active) a third of the way."""
    valid = next(c for c in map(BulkCandidate, range(count // 2, count)) if c.active and c.visit_active)
    inactive = next(c for c in map(BulkCandidate, range(count // 3, count)) if not c.active and c.visit_active)
    return (
        Kind(f"valid {valid.pscid} V1 (bulk)", 10,
             check(valid.candid, valid.pscid, "V1", f"{valid.pscid}_{valid.candid}_V1.tgz"), True),
        Kind(f"inactive {inactive.pscid} (bulk)", 5,
             check(inactive.candid, inactive.pscid, "V1", f"{inactive.pscid}_{inactive.candid}_V1.tgz"), False,
             ("candidate_active",)),
    )


def requests(kinds: tuple[Kind, ...], count: int, rng: random.Random) -> list[Kind]:
    return rng.choices(kinds, [k.weight for k in kinds], k=count)


class Target:
    def __init__(self, name: str, url: str, session: aiohttp.ClientSession, verify: bool) -> None:
        self.name, self.url, self.session, self.verify = name, url, session, verify
        self.samples = Samples()

    async def ask(self, kind: Kind) -> float:
        headers = {"Authorization": f"Bearer {kind.token}"}
        started = time.perf_counter()
        async with self.session.post(f"{self.url}/api/v1/uploads/check", json=kind.body, headers=headers) as answer:
            body = await answer.read()
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            raise RuntimeError(f"{self.name} answered {answer.status} to {kind.name}: {body[:300]!r}")
        if self.verify:
            verify(kind, json.loads(body))
        return elapsed


def verify(kind: Kind, answer: dict) -> None:
    codes = tuple(error["code"] for error in answer["errors"])
    if answer["ok"] != kind.ok or codes != kind.codes:
        raise RuntimeError(f"check {kind.name!r}: expected ok={kind.ok} {kind.codes}, got ok={answer['ok']} {codes}")
    if kind.body["file_name"] == TAKEN_NAME and answer["existing"] is None:
        raise RuntimeError(f"check {kind.name!r}: the name is taken, yet no existing upload was named")


async def run(target: Target, kinds: list[Kind], clients: int, measure: bool) -> float:
    """Send every request, `clients` at a time; returns the wall time."""
    queue = iter(kinds)

    async def client() -> None:
        for kind in queue:
            elapsed = await target.ask(kind)
            if measure:
                target.samples.add(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


def tiny_archive() -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        content = b"not a DICOM file, only something to archive\n"
        info = tarfile.TarInfo("scan/readme.txt")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    return data.getvalue()


async def record_taken_upload(session: aiohttp.ClientSession, gateway_url: str, pool: asyncpg.Pool) -> None:
    """One upload under TAKEN_NAME, validated, so that a check of that name finds it (Not Started)."""
    form = aiohttp.FormData()
    for name, value in (("candid", "300001"), ("pscid", "MTL0001"), ("visit_label", "V1")):
        form.add_field(name, value)
    form.add_field("file", tiny_archive(), filename=TAKEN_NAME, content_type="application/gzip")
    async with session.post(f"{gateway_url}/api/v1/uploads", data=form,
                            headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
        if answer.status != 202:
            raise RuntimeError(f"the upload of {TAKEN_NAME} answered {answer.status}: {await answer.text()}")
    deadline = time.monotonic() + 30
    while await pool.fetchval("SELECT state FROM gateway.uploads WHERE file_name = $1", TAKEN_NAME) != "upload.validated":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the upload of {TAKEN_NAME} was not validated within 30 s")
        await asyncio.sleep(0.1)


def pids_of(command: str) -> list[int]:
    """The processes of a server by their name (beam.smp: RabbitMQ's; mariadbd: MariaDB's)."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and _read(p / "comm").strip() == command]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


async def cpu_of(processes: dict[str, list[int]], pool: asyncpg.Pool, database: str) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process, and of the database's backends (the bench's own one left out)."""
    backends = [r["pid"] for r in await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)]
    return {name: {pid: cpu_seconds(pid) for pid in pids}
            for name, pids in {**processes, "postgres backends": backends}.items()}


def start_bare_server() -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "bench" / "bare_json_server.py"), str(port)])
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"the bare server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the bare server never answered")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="measured requests to each server")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=400, help="requests to each server before measuring")
    parser.add_argument("--loris", action="store_true", help="LORIS site mode, on a LORIS database of its own")
    parser.add_argument("--candidates", type=int, default=100_000,
                        help="--loris: candidates (a visit each) inserted in bulk beside the demo project")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, load average {Path('/proc/loadavg').read_text().split()[0]} at the start")
    # The logstore is not started: a pre-flight does not ask it. Auto-launch off: no launcher runs here.
    stack = BenchStack("preflight", ("validator", "gateway"),
                       env={"UPLOADER_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES), "UPLOADER_AUTO_LAUNCH": "false"})
    site = BenchLorisSite("preflight", stack.work) if args.loris else None
    kinds = KINDS + bulk_candidate_kinds(args.candidates) if args.loris else KINDS
    bare_process = session = pool = None
    try:
        pool = await stack.prepare()
        async with pool.acquire() as conn:
            await save_user(conn, "bench_mtl", [OWN_SITES], MTL_TOKEN, ["MTL"])
            if site is None:
                await load_demo_registry(conn)
        if site is not None:
            await make_loris_site(site, args.candidates)
            stack.extra_env["UPLOADER_LORIS_DATABASE_URL"] = site.uploader_url
        stack.start()
        bare_process, bare_url = start_bare_server()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        await record_taken_upload(session, stack.gateway_url, pool)
        gateway = Target("gateway", stack.gateway_url, session, verify=True)
        bare = Target("bare aiohttp handler", bare_url, session, verify=False)

        rng = random.Random(7)
        for target in (gateway, bare):
            await run(target, requests(kinds, args.warmup, rng), args.clients, measure=False)
        processes = {"gateway": [stack.pid("gateway")], "validator": [stack.pid("validator")],
                     "RabbitMQ (whole broker)": pids_of("beam.smp")}
        if site is not None:
            processes["MariaDB (whole server)"] = pids_of("mariadbd")
        cpu_before = await cpu_of(processes, pool, stack.name)
        rest_before = machine_busy_seconds() - bench_cpu(bare_process)
        walls = {gateway.name: 0.0, bare.name: 0.0}
        for start in range(0, args.requests, BLOCK):
            block = requests(kinds, min(BLOCK, args.requests - start), rng)
            for target in (gateway, bare):
                walls[target.name] += await run(target, block, args.clients, measure=True)
        cpu_after = await cpu_of(processes, pool, stack.name)
        rest = machine_busy_seconds() - bench_cpu(bare_process) - rest_before
        cpu = {name: sum(seconds - cpu_before[name].get(pid, 0.0) for pid, seconds in pids.items())
               for name, pids in cpu_after.items()}
        report(gateway, bare, walls, cpu, kinds, args)
        report_other_load(rest - sum(cpu.values()), sum(walls.values()))
    finally:
        if pool is not None:
            await pool.close()
        if session is not None:
            await session.close()
        if bare_process is not None:
            bare_process.terminate()
            bare_process.wait(30)
        await stack.close()
        if site is not None:
            await site.drop()


async def make_loris_site(site: BenchLorisSite, candidates: int) -> None:
    """The LORIS database: the demo project, the bench's users as LORIS accounts (their tokens are the uploader's),
    and the candidates in bulk."""
    await site.create()
    await site.add_account("bench", ["superuser"])
    await site.add_account("bench_mtl", [OWN_SITES], ["MTL"])
    started = time.perf_counter()
    await site.add_candidates(candidates)
    print(f"LORIS database {site.name}: the demo project and {candidates:,} candidates with a visit each "
          f"(inserted in {time.perf_counter() - started:.1f} s); the services connect as the uploader's own user")


def bench_cpu(bare_process: subprocess.Popen) -> float:
    """CPU seconds so far of this bench's client and of its bare handler."""
    return cpu_seconds(os.getpid()) + cpu_seconds(bare_process.pid)


def report_other_load(other_seconds: float, wall: float) -> None:
    share = other_seconds / ((os.cpu_count() or 1) * wall)
    if share > OTHER_LOAD_WARNING:
        print(f"other processes took {share:.0%} of the machine during the measured blocks: the figures are higher "
              "than on a quiet machine")


def report(gateway: Target, bare: Target, walls: dict[str, float], cpu: dict[str, float], kinds: tuple[Kind, ...],
           args) -> None:
    mode = f"LORIS site mode, {args.candidates:,} candidates more in LORIS's tables" if args.loris else "standalone"
    print(f"\nPOST /api/v1/uploads/check ({mode}), {args.clients} clients at once, {args.requests} measured "
          f"requests to each server ({len(kinds)} kinds of check, {sum(not k.ok for k in kinds)} of them refused; "
          f"every gateway answer checked), after {args.warmup} to warm up:")
    print(HEADER)
    for target in (bare, gateway):
        target.samples.window = walls[target.name]
        print(row(target.name, target.samples))
    p50 = gateway.samples.percentile(50) / bare.samples.percentile(50)
    p99 = gateway.samples.percentile(99) / bare.samples.percentile(99)
    mean = gateway.samples.mean / bare.samples.mean
    registry = "LORIS's tables in MariaDB" if args.loris else "registry"
    print(f"gateway / bare handler: p50 {p50:.1f}x, p99 {p99:.1f}x, mean {mean:.1f}x "
          f"(the cost of the checks: validator over RabbitMQ, {registry} and the gateway's own table)")
    per_request = {name: seconds / gateway.samples.count * 1000 for name, seconds in cpu.items()}
    print("CPU per check: " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in per_request.items()))
    p99_ms = gateway.samples.percentile(99)
    print(f"goal: p99 through the gateway {p99_ms:.1f} ms (goal < {P99_GOAL_MS} ms) -> {verdict(p99_ms < P99_GOAL_MS)}")


if __name__ == "__main__":
    asyncio.run(main())
