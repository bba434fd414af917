"""Upload throughput of the gateway against two baselines measured in the same run.

    python bench/upload_throughput.py [--size-mib 1024] [--memory-sizes-mib 1024,4096] [--repeat 5]

Prints MB/s for: a plain file copy on the same disk, a bare aiohttp handler
that streams the body to disk, and the gateway (multipart parsing, type
sniffing, size limit, fsync, rename, database record and outbox event);
the ratios; and the gateway's peak memory (VmHWM) for each upload size.
Both servers get the same request from the same client (curl, multipart
form); the bare handler writes the raw body to disk as it comes. The gateway
runs with the validator it asks its rules of before reading the file, on a
database and a vhost of their own that are removed at the end.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.stack import TOKEN, BenchStack  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402
from tests.support.stack import free_port  # noqa: E402
MIB = 1024**2


def make_archive_like_file(path: Path, size: int) -> None:
    """Incompressible bytes behind a gzip magic number, written 1 MiB at a time."""
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        handle.write(b"\x1f\x8b" + block[2:])
        for _ in range(size // MIB - 1):
            handle.write(block)


def timed(action) -> float:
    os.sync()  # start each run with no dirty pages left by the one before
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def curl(*args: str) -> None:
    result = subprocess.run(["curl", "-sS", "--fail-with-body", "-o", "/dev/null", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"curl failed: {result.stderr} {result.stdout}")


def upload_form(source: Path, file_name: str) -> list[str]:
    """The same multipart request for both servers; the bare handler writes the whole body as it comes."""
    return [
        "-H", f"Authorization: Bearer {TOKEN}",
        "-F", "candid=300001", "-F", "pscid=MTL0001", "-F", "visit_label=V1",
        "-F", f"file=@{source};filename={file_name}",
    ]


def wait_for(url: str, process: subprocess.Popen) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        if subprocess.run(["curl", "-s", "-o", "/dev/null", url]).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} never answered")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def reset_peak_rss(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def empty(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)


class Gateway:
    """The real gateway, run as `make run` runs it, with the validator it asks its rules of, on a database
    and a vhost of their own (bench/stack.py)."""

    def __init__(self) -> None:
        self.stack = BenchStack("upload", ("validator", "gateway"))
        self.incoming = self.stack.work / "incoming"
        self.uploads = 0

    async def prepare(self) -> None:
        pool = await self.stack.prepare()
        try:
            async with pool.acquire() as conn:
                await load_demo_registry(conn)
        finally:
            await pool.close()
        self.stack.start()
        self.process = self.stack.stack.processes["gateway"]

    def upload(self, source: Path) -> None:
        self.uploads += 1
        curl(*upload_form(source, f"MTL0001_300001_V1_bench{self.uploads}.tgz"), f"{self.stack.gateway_url}/api/v1/uploads")

    async def close(self) -> None:
        await self.stack.close()


class BareHandler:
    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.directory = work / "bare"
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "bench" / "bare_upload_server.py"), str(self.port), str(self.directory)]
        )
        wait_for(f"http://127.0.0.1:{self.port}/", self.process)

    def upload(self, source: Path) -> None:
        curl(*upload_form(source, "bare.tgz"), f"http://127.0.0.1:{self.port}/upload")

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def throughput(size: int, seconds: list[float]) -> float:
    return size / 1e6 / statistics.median(seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--memory-sizes-mib", default="1024,4096")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed: apt-get install curl")
    work = Path(tempfile.mkdtemp(prefix="uploader-bench-", dir=REPO_ROOT / "var" if (REPO_ROOT / "var").is_dir() else None))
    size = args.size_mib * MIB
    source = work / "source.tgz"
    make_archive_like_file(source, size)
    gateway, bare = Gateway(), BareHandler(work)
    try:
        await gateway.prepare()
        times = {"plain file copy": [], "bare aiohttp handler": [], "gateway": []}
        for _ in range(args.repeat):
            times["plain file copy"].append(timed(lambda: shutil.copyfile(source, work / "copy")))
            (work / "copy").unlink()
            times["bare aiohttp handler"].append(timed(lambda: bare.upload(source)))
            empty(bare.directory)
            times["gateway"].append(timed(lambda: gateway.upload(source)))
            empty(gateway.incoming)
        report_throughput(size, times)
        await report_memory(gateway, work, [int(mib) for mib in args.memory_sizes_mib.split(",")])
    finally:
        bare.close()
        await gateway.close()
        shutil.rmtree(work, ignore_errors=True)


def report_throughput(size: int, times: dict[str, list[float]]) -> None:
    rates = {name: throughput(size, seconds) for name, seconds in times.items()}
    print(f"Upload of {size // MIB} MiB, median of {len(times['gateway'])} runs:")
    for name, rate in rates.items():
        runs = " ".join(f"{size / 1e6 / seconds:.0f}" for seconds in times[name])
        print(f"  {name:22s} {rate:8.1f} MB/s   (runs: {runs})")
    print(f"  gateway / bare handler  {rates['gateway'] / rates['bare aiohttp handler']:8.2f}   (goal: >= 0.90)")
    print(f"  gateway / file copy     {rates['gateway'] / rates['plain file copy']:8.2f}")


async def report_memory(gateway: Gateway, work: Path, sizes_mib: list[int]) -> None:
    print("Gateway peak memory (VmHWM) during one upload:")
    for mib in sizes_mib:
        source = work / f"memory-{mib}.tgz"
        make_archive_like_file(source, mib * MIB)
        reset_peak_rss(gateway.process.pid)
        seconds = timed(lambda: gateway.upload(source))
        print(f"  {mib:5d} MiB upload: peak {peak_rss_mib(gateway.process.pid):6.1f} MiB   ({mib * MIB / 1e6 / seconds:.0f} MB/s)")
        source.unlink()
        empty(gateway.incoming)


if __name__ == "__main__":
    asyncio.run(main())
