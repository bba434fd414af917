"""What the uploader adds around the pipeline it runs: the launchers' overhead with a pipeline that does
nothing, RabbitMQ's raw rate beside it, and the reference pipeline's own speed beside tar.

    .venv/bin/python bench/pipeline_overhead.py [--uploads 300] [--replicas 1,2,4] [--raw-messages 20000]
        [--dicom-mib 256] [--in-flight 8] [--rate R] [--runs-per-launcher 2] [--skip-launchers]
        [--skip-broker] [--skip-pipeline]

1. Launcher overhead. The services run as processes of their own (logstore, validator, gateway, and
   launcher.1, launcher.2, ... each on its own port, as `make run LAUNCHERS=n` names them) on a database and
   a RabbitMQ vhost of their own (bench_pipeline_<random>, removed at the end; bench/stack.py), with
   UPLOADER_PIPELINE_COMMAND=/bin/true and UPLOADER_MAX_CONCURRENT_RUNS=--runs-per-launcher. One stack
   serves every replica count: launchers are started (or stopped) between the rows, so that a row differs
   from the others by its launchers alone, on warm services. After 10 uploads to warm up, each row sends
   --uploads one-file DICOM archives (--in-flight at a time, at most --rate a second, each under a file
   name of its own, as bench/soak.py sends them). A row prints:
   - 202s per second, and uploads per second from the first 202 to the last Success, with its ratio to the
     first row's;
   - p50/p99 of each upload's time from its 202 to the logstore's Success (when the 202s come faster than
     the Successes, uploads wait in the run queue and these times include the wait; a --rate below the
     stack's pace leaves it out);
   - the CPU time used per upload by each service; "runs" is the launchers' pipeline processes (the process
     guard and /bin/true); postgres and rabbitmq are the whole servers (every database and vhost on this
     machine); "other" is the rest of the machine's busy time; "busy" is the machine's CPU used, all cores.
     It says so when other processes took more than a tenth of the machine.
2. RabbitMQ alone (bench/broker_rate.py), after the stack has stopped: --raw-messages persistent JSON
   messages of 1 KiB published with confirms, 200 at a time as the outbox relay does, to a quorum queue
   declared as the services declare theirs, and consumed with acks (the services' prefetch), on a vhost of
   its own: messages per second. Beside it, the events an upload made in part 1 (counted in the services'
   outboxes) and each row's messaging share: uploads/s x events per upload / the raw rate (and the same
   with deliveries: an event reaches every queue bound to it, plus the rule check's request and reply).
3. Reference pipeline speed (bench/pipeline_speed.py): a .tgz of --dicom-mib MiB of 512 KiB DICOM slices,
   run through `python -m pipeline --upload-id 1 --patient-name=NAME [--output-dir DIR] ARCHIVE` (the
   default command's form), beside `tar -xzf` and `gzip -dc` of the same archive: seconds and s/GiB of
   DICOM files, the ratio, the pipeline's peak RSS for a 1/16 archive and the full one (memory must stay
   flat), and whether dcm2niix was found.

Figures vary from run to run on a small machine; the ratios, each against a baseline of the same run, less.
Everything it made (services, database, vhosts, temporary files) is removed at the end, after Ctrl-C or
SIGTERM too.
"""

import argparse
import asyncio
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.broker_rate import RawRate, UploadMessages, count_upload_messages, raw_rate  # noqa: E402
from bench.pipeline_speed import pipeline_speed  # noqa: E402
from bench.soak import Tally, failure_causes, note_finished, percentile, send_all  # noqa: E402
from bench.stack import BenchStack, ReplicaStack, cpu_snapshot  # noqa: E402
from services.gateway.admin.demo_archive import DEMO_PATIENT_NAME, make_dicom_archive  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402

CORE = ("logstore", "validator", "gateway")
NO_OP_PIPELINE = "/bin/true"
WARM_UP_UPLOADS = 10
# "runs": the launchers' pipeline processes (the process guard and the command); "other": the rest of the
# machine's busy time.
CPU_GROUPS = ("gateway", "validator", "logstore", "launcher", "runs", "client", "postgres", "rabbitmq", "other")
SERVERS = {"postgres": "postgres", "rabbitmq": "beam.smp"}  # group: the name of its processes
OTHER_LOAD_WARNING = 0.10  # of the machine's CPU, beyond which part 1 says its figures were disturbed
FINAL_POLL_SECONDS = 0.1  # how often the end of a row is looked for (its times are the logstore's own)


@dataclass
class Row:
    launchers: int
    tally: Tally
    wall: float                # seconds from the first POST until the last upload was seen final
    cpu: dict[str, float]      # CPU seconds used in that time, by CPU_GROUPS
    failure_causes: dict

    @property
    def latencies(self) -> list[float]:
        return [self.tally.success_at[i] - self.tally.accepted_at[i] for i in self.tally.success_at]

    @property
    def accepted_per_second(self) -> float:
        """202s from the first POST to the last 202: above the Success rate, uploads wait in the run queue."""
        span = self.tally.last_accepted - self.tally.first_post
        return len(self.tally.accepted_at) / span if span > 0 else 0.0

    @property
    def per_second(self) -> float:
        """Successes from the first 202 to the last Success."""
        span = max(self.tally.success_at.values(), default=0) - min(self.tally.accepted_at.values(), default=0)
        return len(self.tally.success_at) / span if span > 0 else 0.0


async def scale_launchers(stack: ReplicaStack, count: int) -> None:
    """Start launcher.1 .. launcher.<count> that are not running, and stop any beyond."""
    wanted = [f"launcher.{number}" for number in range(1, count + 1)]
    for name in [name for name in stack.processes if name.startswith("launcher.") and name not in wanted]:
        await asyncio.to_thread(stack.stop_service, name)
    for name in [name for name in wanted if name not in stack.processes]:
        stack.start_service(name)
        await asyncio.to_thread(stack.wait_healthy, name)


async def run_row(stack: ReplicaStack, pool, archive: bytes, launchers: int, uploads: int, in_flight: int,
                  rate: float, tag: str, finish_seconds: float) -> Row:
    """Send `uploads` and wait until each is final (at most `finish_seconds` after the last 202)."""
    tally = Tally()
    before, started = cpu_snapshot(stack.processes, SERVERS), time.monotonic()
    await send_all(stack.gateway_url, archive, uploads, in_flight, rate, tally, tag)
    give_up = time.monotonic() + finish_seconds
    await note_finished(pool, tally)
    while tally.unfinished() and time.monotonic() < give_up:
        await asyncio.sleep(FINAL_POLL_SECONDS)
        await note_finished(pool, tally)
    after = cpu_snapshot(stack.processes, SERVERS)
    failed = [upload_id for upload_id, progress in tally.final.items() if progress == "Failure"]
    return Row(launchers, tally, time.monotonic() - started, {group: after[group] - before[group] for group in CPU_GROUPS},
               dict(await failure_causes(pool, failed)) if failed else {})


async def launcher_rows(args: argparse.Namespace) -> tuple[list[Row], UploadMessages | None]:
    """Part 1: one stack, the rows one after the other; and the messages the uploads made."""
    env = {"UPLOADER_PIPELINE_COMMAND": NO_OP_PIPELINE, "UPLOADER_MAX_CONCURRENT_RUNS": str(args.runs_per_launcher)}
    bench = BenchStack("pipeline", CORE, env=env)
    rows = []
    try:
        pool = await bench.prepare()
        async with pool.acquire() as conn:
            await load_demo_registry(conn)
        archive = make_dicom_archive(bench.work / f"{DEMO_PATIENT_NAME}.tgz", DEMO_PATIENT_NAME, 1).read_bytes()
        bench.stack = stack = ReplicaStack(bench.service_env(), bench.work, CORE)
        stack.start()
        await scale_launchers(stack, args.replicas[0])
        finish_seconds = max(60.0, args.uploads / 2)
        warm = await run_row(stack, pool, archive, args.replicas[0], WARM_UP_UPLOADS, args.in_flight, 0,
                             "warm", 60)
        for launchers in args.replicas:
            await scale_launchers(stack, launchers)
            rows.append(await run_row(stack, pool, archive, launchers, args.uploads, args.in_flight,
                                      args.rate, f"l{launchers}r{len(rows)}_", finish_seconds))
            print(f"   {launchers} launcher(s): {len(rows[-1].tally.success_at)} Success in {rows[-1].wall:.1f} s",
                  flush=True)
        accepted = len(warm.tally.accepted_at) + sum(len(row.tally.accepted_at) for row in rows)
        messages = await count_upload_messages(pool, accepted) if accepted else None
        await pool.close()
    finally:
        await bench.close()
    return rows, messages


def print_rows(rows: list[Row], args: argparse.Namespace) -> None:
    pace = f"at most {args.rate:g}/s" if args.rate else "unpaced"
    print(f"\n1. Launcher overhead: {args.uploads} uploads a row through the whole stack, pipeline {NO_OP_PIPELINE},"
          f" {args.in_flight} in flight ({pace}), {args.runs_per_launcher} runs at once a launcher")
    first = rows[0]
    left = (f"   {'launchers':>9s} {'202/s':>6s} {'uploads/s':>9s} {f'vs {first.launchers}':>5s} {'p50 s':>5s}"
            f" {'p99 s':>5s} {'fail':>4s} {'lost':>4s}")
    cpu_header = " ".join(f"{group:>6s}" for group in CPU_GROUPS)
    print(f"{'':{len(left)}s} | {'CPU ms per upload':^{len(cpu_header)}s} |")
    print(f"{left} | {cpu_header} | busy")
    cores = os.cpu_count() or 1
    for row in rows:
        latencies, done = row.latencies, max(1, len(row.tally.final))
        failed = sum(1 for progress in row.tally.final.values() if progress == "Failure")
        p50, p99 = (percentile(latencies, 0.50), percentile(latencies, 0.99)) if latencies else (float("nan"),) * 2
        ratio = row.per_second / first.per_second if first.per_second else float("nan")
        cpu = " ".join(f"{row.cpu[group] / done * 1000:{max(6, len(group))}.1f}" for group in CPU_GROUPS)
        busy = sum(row.cpu.values()) / (cores * row.wall)
        print(f"   {row.launchers:9d} {row.accepted_per_second:6.1f} {row.per_second:9.2f} {ratio:5.2f} {p50:5.2f}"
              f" {p99:5.2f} {failed:4d} {len(row.tally.unfinished()):4d} | {cpu} | {busy:4.0%}")
        if row.failure_causes or row.tally.not_accepted:
            print(f"             failed by cause: {row.failure_causes}; not accepted: {row.tally.not_accepted[:3]}")
    print("   (202/s above uploads/s: uploads wait in the run queue, and p50/p99 include the wait;"
          " busy: the machine's CPU, all cores)")
    other = sum(row.cpu["other"] for row in rows) / sum(cores * row.wall for row in rows)
    if other > OTHER_LOAD_WARNING:
        print(f"   other processes took {other:.0%} of the machine during these rows: the figures are lower than"
              " on a quiet machine")


def print_broker(raw: RawRate, rows: list[Row], messages: UploadMessages | None) -> None:
    print(f"\n2. RabbitMQ alone: {raw.messages:,} persistent {raw.body_bytes:,}-byte messages through one quorum queue,"
          " published with confirms, consumed with acks")
    print(f"   raw rate             {raw.per_second:9,.0f} messages/s   (published and confirmed:"
          f" {raw.messages / raw.published_in:,.0f}/s)")
    if messages is None:
        return
    print(f"   an upload makes      {messages.events_per_upload:9.2f} events   ({messages.by_type()};"
          f" {messages.mean_event_bytes:,.0f} bytes each on average)")
    print(f"                        {messages.deliveries_per_upload:9.2f} deliveries   (each event to every queue bound"
          " to it, and the rule check's request and reply)")
    for row in rows:
        events = row.per_second * messages.events_per_upload
        deliveries = row.per_second * messages.deliveries_per_upload
        print(f"   {row.launchers} launcher(s)         {row.per_second:9.2f} uploads/s x {messages.events_per_upload:.2f}"
              f" = {events:6.0f} events/s: messaging share {events / raw.per_second:6.1%}"
              f"   (deliveries: {deliveries / raw.per_second:6.1%})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=300, help="uploads a row of part 1")
    parser.add_argument("--replicas", default="1,2,4", help="launcher replicas of each row of part 1")
    parser.add_argument("--in-flight", type=int, default=8, help="uploads being sent at once")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="uploads started per second at most (default: as fast as --in-flight allows; below the"
                             " stack's pace, the 202-to-Success times leave out the wait in the run queue)")
    parser.add_argument("--runs-per-launcher", type=int, default=2,
                        help="UPLOADER_MAX_CONCURRENT_RUNS (its default is 2)")
    parser.add_argument("--raw-messages", type=int, default=20_000, help="messages of part 2")
    parser.add_argument("--dicom-mib", type=float, default=256, help="MiB of DICOM files in part 3's archive")
    parser.add_argument("--skip-launchers", action="store_true", help="skip part 1")
    parser.add_argument("--skip-broker", action="store_true", help="skip part 2")
    parser.add_argument("--skip-pipeline", action="store_true", help="skip part 3")
    args = parser.parse_args()
    args.replicas = [int(count) for count in args.replicas.split(",")]
    if min(args.replicas) < 1:
        parser.error("--replicas: each count must be 1 or more")
    return args


async def stack_parts(args: argparse.Namespace) -> None:
    rows, messages = await launcher_rows(args) if not args.skip_launchers else ([], None)
    if rows:
        print_rows(rows, args)
    if not args.skip_broker:
        print_broker(await raw_rate(args.raw_messages), rows, messages)


def main() -> None:
    args = parse_args()
    # SIGTERM stops the run as Ctrl-C does, through the same clean-up.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    print(f"pipeline overhead: {os.cpu_count()} cores", flush=True)
    if not (args.skip_launchers and args.skip_broker):
        asyncio.run(stack_parts(args))
    if not args.skip_pipeline:
        pipeline_speed(args.dicom_mib)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted: what the bench made is removed", file=sys.stderr)
        sys.exit(130)
