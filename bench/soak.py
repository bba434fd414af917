"""Soak under chaos: N uploads through the whole stack, with two launcher replicas, while a chaos loop
kills a random service process with SIGKILL every few seconds and starts it again.

    .venv/bin/python bench/soak.py [--uploads 1000] [--kill-every 5] [--seed N] [--rate R] [--keep-logs DIR]

The services run as processes of their own (gateway, validator, logstore, launcher.1 and launcher.2, each
on its own port, as `make run LAUNCHERS=2` would name them), on a database and a RabbitMQ vhost of their
own (bench_soak_<random>, removed at the end; bench/stack.py). The pipeline is the reference pipeline on a
one-file DICOM archive, behind a witness (bench/soak_pipeline.py) that proves or rules out two live
processes of one upload attempt.

Uploads are sent a few at a time (--in-flight; at most --rate a second), each with an Idempotency-Key; a
POST that fails because the gateway was killed (or answers 5xx while it starts) is sent again with the same
key until it gets its 202, and counts once. The chaos loop kills one service at a time, --kill-every seconds
apart on average, and starts it again --restart-after seconds later. It goes on until every accepted upload
is final (Success or Failure) or --deadline seconds after the last 202; then every service is up and the
stragglers get --settle more seconds. It prints:

- uploads per second (accepted uploads that ended in Success, from the first POST to the last Success),
  and p50/p99 of the time from each 202 to the logstore's Success;
- accepted, lost (accepted, never final), failed (Failure, by cause), double-run (two runs of one attempt
  overlapping in time, from logstore.runs and launcher.runs, and two live pipeline processes of one
  attempt, from the witness), and log lines stored twice;
- how many times each service was killed.

It exits 1 if an upload was lost or an attempt ran twice at once.
"""

import argparse
import asyncio
import collections
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.stack import TOKEN, BenchStack, ReplicaStack  # noqa: E402
from services.gateway.admin.demo_archive import write_demo_archive  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402

LAUNCHERS = ("launcher.1", "launcher.2")
SERVICES = ("logstore", "validator", *LAUNCHERS, "gateway")
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
FINAL = ("Success", "Failure")
POLL_SECONDS = 0.5
POST_RETRY_SECONDS = 0.5
POST_GIVE_UP_SECONDS = 180
SETTINGS = {
    # A launcher that dies is noticed within 3 heartbeats.
    "UPLOADER_HEARTBEAT_SECONDS": "1",
    "UPLOADER_OUTBOX_POLL_SECONDS": "0.5",
    "UPLOADER_SHUTDOWN_GRACE_SECONDS": "5",
    "UPLOADER_MAX_CONCURRENT_RUNS": "2",
    # The witness pipeline wraps the reference pipeline, which is safe to run again.
    "UPLOADER_PIPELINE_RERUN_SAFE": "true",
}


class ChaosStack(ReplicaStack):
    """The four services with two launcher replicas, each a process of its own that can be killed and started
    again. A launcher's replica name (launcher.1, launcher.2) is the owner of its runs, as under honcho."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        super().__init__(env, log_dir, SERVICES)

    def kill(self, name: str) -> None:
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()


@dataclass
class Tally:
    accepted_at: dict[int, float] = field(default_factory=dict)  # upload id: wall time of its 202
    final: dict[int, str] = field(default_factory=dict)          # upload id: Success or Failure
    success_at: dict[int, float] = field(default_factory=dict)   # upload id: the logstore's time of Success
    not_accepted: list[str] = field(default_factory=list)        # why a POST never got its 202
    post_retries: int = 0
    replayed: int = 0
    kills: collections.Counter = field(default_factory=collections.Counter)
    first_post: float = 0.0         # monotonic
    first_post_wall: float = 0.0
    last_accepted: float = 0.0
    sending_done: bool = False

    def unfinished(self) -> list[int]:
        return [upload_id for upload_id in self.accepted_at if upload_id not in self.final]


async def send_upload(http: aiohttp.ClientSession, gateway: str, archive: bytes, number: int, tally: Tally,
                      tag: str = "soak") -> None:
    """POST one upload until it gets its 202, the same Idempotency-Key each time; its file name is made unique
    by `tag` and `number`."""
    key = str(uuid.uuid4())
    file_name = f"MTL0001_300001_V1_{tag}{number:05d}.tgz"
    give_up = time.monotonic() + POST_GIVE_UP_SECONDS
    problem = ""
    while time.monotonic() < give_up:
        form = aiohttp.FormData()
        for name, value in (("candid", "300001"), ("pscid", "MTL0001"), ("visit_label", "V1")):
            form.add_field(name, value)
        form.add_field("file", archive, filename=file_name, content_type="application/gzip")
        try:
            async with http.post(f"{gateway}/api/v1/uploads", data=form,
                                 headers={**HEADERS, "Idempotency-Key": key}) as answer:
                body = await answer.json(content_type=None) if answer.status < 500 else None
                if answer.status == 202:
                    tally.accepted_at[body["upload_id"]] = time.time()
                    tally.last_accepted = time.monotonic()
                    tally.replayed += answer.headers.get("Idempotent-Replayed") == "true"
                    return
                if answer.status < 500:
                    tally.not_accepted.append(f"{answer.status} {body}")
                    return
                problem = f"HTTP {answer.status}"
        except (aiohttp.ClientError, TimeoutError) as error:
            problem = type(error).__name__
        tally.post_retries += 1
        await asyncio.sleep(POST_RETRY_SECONDS)
    tally.not_accepted.append(f"no 202 within {POST_GIVE_UP_SECONDS} s (last: {problem})")


async def send_all(gateway: str, archive: bytes, uploads: int, in_flight: int, rate: float, tally: Tally,
                   tag: str = "soak") -> None:
    """Every upload, `in_flight` at a time; with a `rate`, no faster than that many a second. The file names
    hold `tag`: a tag of its own for each batch sent to one stack."""
    numbers = iter(range(1, uploads + 1))
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async def sender() -> None:
            for number in numbers:
                if rate:
                    await asyncio.sleep(tally.first_post + (number - 1) / rate - time.monotonic())
                await send_upload(http, gateway, archive, number, tally, tag)

        tally.first_post, tally.first_post_wall = time.monotonic(), time.time()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
    tally.sending_done = True


async def watch(pool, tally: Tally, stop: asyncio.Event) -> None:
    """Note each accepted upload's end as the logstore records it (its progress and the time it changed)."""
    while not stop.is_set():
        await note_finished(pool, tally)
        await asyncio.sleep(POLL_SECONDS)


async def note_finished(pool, tally: Tally) -> None:
    rows = await pool.fetch("SELECT upload_id, progress, updated_at FROM logstore.uploads"
                            " WHERE upload_id = any($1::bigint[]) AND progress = any($2::text[])",
                            tally.unfinished(), list(FINAL))
    for row in rows:
        tally.final[row["upload_id"]] = row["progress"]
        if row["progress"] == "Success":
            tally.success_at[row["upload_id"]] = row["updated_at"].timestamp()


def everything_final(tally: Tally) -> bool:
    return tally.sending_done and not tally.unfinished()


async def chaos(stack: ChaosStack, rng: random.Random, kill_every: float, restart_after: float, deadline: float,
                tally: Tally) -> None:
    """Kill one random service at a time and start it again, until every accepted upload is final or the
    deadline after the last 202 has passed."""
    while True:
        await asyncio.sleep(rng.uniform(0.5, 1.5) * kill_every)
        if everything_final(tally) or (tally.sending_done and time.monotonic() > tally.last_accepted + deadline):
            return
        name = rng.choice(SERVICES)
        stack.kill(name)
        tally.kills[name] += 1
        await asyncio.sleep(restart_after)
        stack.start_service(name)
        await asyncio.to_thread(stack.wait_healthy, name)


async def double_runs(pool) -> dict[str, set[tuple[int, int]]]:
    """Upload attempts with two runs that overlap in time, by the table that shows them."""
    overlapping = {}
    for table, ended in (("logstore.runs", "ended_at"), ("launcher.runs", "finished_at")):
        rows = await pool.fetch(
            f"""SELECT DISTINCT a.upload_id, a.attempt FROM {table} a JOIN {table} b
                  ON a.upload_id = b.upload_id AND a.attempt = b.attempt AND a.run_id < b.run_id
                WHERE a.started_at < coalesce(b.{ended}, 'infinity') AND b.started_at < coalesce(a.{ended}, 'infinity')""")
        overlapping[table] = {(row["upload_id"], row["attempt"]) for row in rows}
    return overlapping


async def failure_causes(pool, upload_ids: list[int]) -> collections.Counter:
    """Each failed upload's cause: its last run's outcome (and exit code), or 'no run' (rejected)."""
    rows = await pool.fetch("SELECT DISTINCT ON (upload_id) upload_id, outcome, exit_code FROM logstore.runs"
                            " WHERE upload_id = any($1::bigint[]) ORDER BY upload_id, run_id DESC", upload_ids)
    causes = collections.Counter()
    for row in rows:
        causes[row["outcome"] if row["exit_code"] is None else f"{row['outcome']} (exit {row['exit_code']})"] += 1
    causes["no run recorded (rejected?)"] += len(upload_ids) - len(rows)
    return +causes


async def progress_by_api(gateway: str, upload_ids: list[int]) -> collections.Counter:
    """What the gateway's API says of each accepted upload at the end."""
    seen = collections.Counter()
    async with aiohttp.ClientSession() as http:
        for upload_id in upload_ids:
            async with http.get(f"{gateway}/api/v1/uploads/{upload_id}", headers=HEADERS) as answer:
                seen[(await answer.json())["progress"] if answer.status == 200 else f"HTTP {answer.status}"] += 1
    return seen


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills, on average")
    parser.add_argument("--restart-after", type=float, default=1.0, help="seconds a killed service stays down")
    parser.add_argument("--seed", type=int, default=None, help="of the chaos loop's choices (default: random)")
    parser.add_argument("--in-flight", type=int, default=8, help="uploads being sent at once")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="uploads started per second at most (default: as fast as --in-flight allows; below the"
                             " pipeline's pace, the 202-to-Success times leave out the wait in the queue)")
    parser.add_argument("--deadline", type=float, default=300.0,
                        help="seconds after the last 202 for every upload to be final, chaos going on")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="more seconds for the stragglers once the chaos stopped and every service is up")
    parser.add_argument("--keep-logs", type=Path, help="copy the services' logs and the witness journal here")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)

    journal = Path(tempfile.mkdtemp(prefix="uploader-soak-journal-"))
    pipeline = (f"{{python}} {REPO_ROOT / 'bench/soak_pipeline.py'} --journal {journal} --run {{upload_id}}-{{attempt}}"
                " -- --upload-id {upload_id} --patient-name={patient_name} {scan_path}")
    bench = BenchStack("soak", SERVICES, env={**SETTINGS, "UPLOADER_PIPELINE_COMMAND": pipeline})
    tally = Tally()
    try:
        pool = await bench.prepare()
        async with pool.acquire() as conn:
            await load_demo_registry(conn)
        archive = write_demo_archive(journal).read_bytes()
        bench.stack = stack = ChaosStack(bench.service_env(), bench.work)
        stack.start()
        print(f"soak: {args.uploads} uploads, {args.in_flight} in flight, a kill every ~{args.kill_every:g} s"
              f" (seed {seed}), services' logs in {bench.work}", flush=True)

        stop_watching = asyncio.Event()
        watcher = asyncio.create_task(watch(pool, tally, stop_watching))
        chaos_loop = asyncio.create_task(chaos(stack, rng, args.kill_every, args.restart_after, args.deadline, tally))
        await send_all(bench.gateway_url, archive, args.uploads, args.in_flight, args.rate, tally)
        print(f"soak: {len(tally.accepted_at)} accepted in {time.monotonic() - tally.first_post:.1f} s;"
              " waiting for them to end", flush=True)
        await chaos_loop
        for name in SERVICES:  # the chaos loop always starts again what it killed; a service may have died alone
            if stack.processes[name].poll() is not None:
                print(f"soak: {name} exited by itself with {stack.processes[name].returncode}; starting it again")
                stack.start_service(name)
                stack.wait_healthy(name)
        settle_until = time.monotonic() + args.settle
        while tally.unfinished() and time.monotonic() < settle_until:
            await asyncio.sleep(POLL_SECONDS)
        stop_watching.set()
        await watcher
        await note_finished(pool, tally)

        accepted = sorted(tally.accepted_at)
        by_api = await progress_by_api(bench.gateway_url, accepted)
        failed = [upload_id for upload_id in accepted if tally.final.get(upload_id) == "Failure"]
        causes = await failure_causes(pool, failed)
        overlapping = await double_runs(pool)
        stored = await pool.fetchval("SELECT count(*) FROM gateway.uploads")
        lines_twice = await pool.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM logstore.log_lines GROUP BY upload_id, event_id, message"
            " HAVING count(*) > 1) AS twice")
        await pool.close()
        witnessed = sorted(path.stem for path in journal.glob("*.overlap"))
        started_lines = (journal / "started").read_text().splitlines() if (journal / "started").exists() else []
        pipeline_processes = len(started_lines)
        attempts_run = len({line.split()[0] for line in started_lines})
        if args.keep_logs:
            shutil.copytree(bench.work, args.keep_logs / "logs", dirs_exist_ok=True, ignore=shutil.ignore_patterns("incoming"))
            shutil.copytree(journal, args.keep_logs / "journal", dirs_exist_ok=True)
    finally:
        await bench.close()
        shutil.rmtree(journal, ignore_errors=True)

    lost = tally.unfinished()
    successes = [tally.success_at[i] - tally.accepted_at[i] for i in accepted if i in tally.success_at]
    double = set().union(*overlapping.values()) | {tuple(map(int, name.split("-"))) for name in witnessed}
    last_success = max(tally.success_at.values(), default=None)
    span = last_success - tally.first_post_wall if last_success else None

    print(f"\nSoak: {args.uploads} uploads, two launchers, a SIGKILL every ~{args.kill_every:g} s (seed {seed})")
    if span:
        print(f"  uploads per second    {len(successes) / span:8.2f}   ({len(successes)} Success in {span:.1f} s,"
              " first POST to last Success)")
    if successes:
        print(f"  202 to Success        p50 {percentile(successes, 0.50):6.2f} s   p99 {percentile(successes, 0.99):6.2f} s"
              f"   max {max(successes):6.2f} s")
    print(f"  accepted              {len(accepted):8d}   ({tally.post_retries} POSTs sent again,"
          f" {tally.replayed} answered by an Idempotency-Key replay; the gateway holds {stored} uploads)")
    if tally.not_accepted:
        print(f"  not accepted          {len(tally.not_accepted):8d}   {collections.Counter(tally.not_accepted).most_common(3)}")
    print(f"  succeeded             {len(successes):8d}")
    print(f"  failed                {len(failed):8d}   "
          + (", ".join(f"{cause}: {n}" for cause, n in causes.most_common()) or "(Failure)"))
    print(f"  lost                  {len(lost):8d}   " + (f"upload ids {lost[:20]}" if lost else "(accepted, never final)"))
    print(f"  double-run            {len(double):8d}   (logstore.runs {len(overlapping['logstore.runs'])},"
          f" launcher.runs {len(overlapping['launcher.runs'])}, live processes {len(witnessed)})")
    print(f"  pipeline processes    {pipeline_processes:8d}   for {attempts_run} upload attempts")
    print(f"  log lines twice       {lines_twice:8d}   (a line of one event stored twice)")
    print("  as the API says       " + ", ".join(f"{progress}: {n}" for progress, n in by_api.most_common()))
    print(f"  kills                 {sum(tally.kills.values()):8d}   "
          + ", ".join(f"{name} {tally.kills[name]}" for name in SERVICES))
    return 1 if lost or double else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
