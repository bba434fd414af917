"""The reference pipeline's speed on a large DICOM archive, beside a plain `tar -xzf` of the same archive
(and `gzip -dc`, its decompression alone), and its peak memory on a small and a large archive: memory must
stay flat however large the scan. bench/pipeline_overhead.py runs it as its third part."""

import io
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from services.gateway.admin.demo_archive import DEMO_PATIENT_NAME, dicom_bytes

REPO_ROOT = Path(__file__).resolve().parents[1]
MIB, GIB = 1024**2, 1024**3
SIDE = 512                   # 512 x 512 pixels of 16 bits: 512 KiB of pixel data a file
GZIP_LEVEL = 6               # gzip's and tar -z's default
SMALL_ARCHIVE_FRACTION = 16  # the small archive, for the memory check, holds 1/16 of the large one's files


@dataclass(frozen=True)
class Measured:
    seconds: float
    exit_code: int
    peak_rss_kib: int  # of the process and the children it waited for (wait4's ru_maxrss)
    own_peak_kib: int  # of the process alone (its VmHWM, read until it ends): the pipeline without dcm2niix


@dataclass(frozen=True)
class Archive:
    path: Path
    files: int
    dicom_bytes: int  # unpacked
    size: int         # of the .tgz


def measured_run(argv: list[str], *, cwd: Path | None = None, output: Path | None = None) -> Measured:
    """Run `argv` to its end, its output to `output` or nowhere: wall time, exit code and peak resident memory
    of that process and the children it waited for. A process's peak counts that of the process it was forked
    from, so it is started by a bare interpreter (SPAWNER, about 8 MiB), not by this one."""
    process = subprocess.Popen([sys.executable, "-I", "-S", "-c", SPAWNER, str(output or os.devnull), *argv], cwd=cwd,
                               stdout=subprocess.PIPE, start_new_session=True, text=True)
    try:
        answer, _ = process.communicate()
    finally:
        if process.poll() is None:  # interrupted: the command goes too (it runs in the spawner's session)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds, exit_code, peak_rss_kib, own_peak_kib = answer.split()
    return Measured(float(seconds), int(exit_code), int(peak_rss_kib), int(own_peak_kib))


SPAWNER = """
import os, sys, time
output, argv = sys.argv[1], sys.argv[2:]
writes = [(os.POSIX_SPAWN_OPEN, 1, output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), (os.POSIX_SPAWN_DUP2, 1, 2)]
started = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=writes)
own_peak = 0
while True:
    try:
        with open(f"/proc/{pid}/status") as status_file:
            own_peak = max([own_peak] + [int(line.split()[1]) for line in status_file if line.startswith("VmHWM:")])
    except OSError:
        pass
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.01)
print(time.perf_counter() - started, os.waitstatus_to_exitcode(status), usage.ru_maxrss, own_peak)
"""


def make_large_archive(path: Path, dicom_mib: float) -> Archive:
    """A .tgz of about `dicom_mib` MiB of 512 x 512 MR slices of one series, each ~512 KiB, with 12-bit noise
    as pixels (it compresses little: the .tgz is ~85% of the files) and a slice geometry a converter can stack."""
    template = pydicom.dcmread(io.BytesIO(dicom_bytes(DEMO_PATIENT_NAME, 1, 1)))
    template.Rows = template.Columns = SIDE
    template.PixelData = _noise_pixels(SIDE * SIDE)
    template.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    template.PixelSpacing = [0.5, 0.5]
    template.SliceThickness = 1
    files = max(1, math.ceil(dicom_mib * MIB / len(template.PixelData)))
    unpacked = 0
    with tarfile.open(path, "w:gz", compresslevel=GZIP_LEVEL) as tar:
        for number in range(1, files + 1):
            data = _slice_bytes(template, number)
            info = tarfile.TarInfo(f"study/series1/IM{number:05d}.dcm")
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
            unpacked += len(data)
    return Archive(path, files, unpacked, path.stat().st_size)


def _slice_bytes(template: pydicom.Dataset, number: int) -> bytes:
    template.InstanceNumber = number
    template.SOPInstanceUID = template.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    template.ImagePositionPatient = [0, 0, number]
    buffer = io.BytesIO()
    template.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _noise_pixels(count: int) -> bytes:
    """`count` little-endian 16-bit values below 4,096, at random."""
    noise = bytearray(os.urandom(2 * count))
    noise[1::2] = noise[1::2].translate(bytes(value & 0x0F for value in range(256)))
    return bytes(noise)


def converter() -> str | None:
    """dcm2niix, as the pipeline would find it: beside the interpreter, or on the PATH."""
    return shutil.which("dcm2niix", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))


def pipeline_takes_output_dir() -> bool:
    answer = subprocess.run([sys.executable, "-m", "pipeline", "--help"], cwd=REPO_ROOT, capture_output=True, text=True)
    return "--output-dir" in answer.stdout


def run_pipeline(archive: Archive, work: Path, output_dir: bool) -> Measured:
    """The launcher's default command's form, with the venv's python, from the repository."""
    argv = [sys.executable, "-m", "pipeline", "--upload-id", "1", f"--patient-name={DEMO_PATIENT_NAME}"]
    if output_dir:
        argv += ["--output-dir", str(Path(tempfile.mkdtemp(dir=work, prefix="out-")))]
    log = work / f"pipeline-{archive.path.stem}.log"
    measured = measured_run([*argv, str(archive.path)], cwd=REPO_ROOT, output=log)
    if measured.exit_code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-10:])
        print(f"  the pipeline exited with {measured.exit_code} on {archive.path.name}; its last lines:\n{tail}")
    for path in work.glob("out-*"):
        shutil.rmtree(path, ignore_errors=True)
    return measured


def run_tar(archive: Archive, work: Path) -> Measured:
    target = Path(tempfile.mkdtemp(dir=work, prefix="tar-"))
    try:
        return measured_run(["tar", "-xzf", str(archive.path), "-C", str(target)])
    finally:
        shutil.rmtree(target, ignore_errors=True)


def pipeline_speed(dicom_mib: float) -> None:
    """Part 3: make the archives, time the pipeline beside tar, and print the figures."""
    work = Path(tempfile.mkdtemp(prefix="uploader-bench-pipeline-"))
    try:
        started = time.perf_counter()
        large = make_large_archive(work / f"{DEMO_PATIENT_NAME}_large.tgz", dicom_mib)
        small = make_large_archive(work / f"{DEMO_PATIENT_NAME}_small.tgz", dicom_mib / SMALL_ARCHIVE_FRACTION)
        made_in = time.perf_counter() - started
        output_dir = pipeline_takes_output_dir()
        tar = run_tar(large, work)
        gunzip = measured_run(["gzip", "-dc", str(large.path)])
        pipeline = run_pipeline(large, work, output_dir)
        pipeline_small = run_pipeline(small, work, output_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(large, small, made_in, output_dir, tar, gunzip, pipeline, pipeline_small)


def report(large: Archive, small: Archive, made_in: float, output_dir: bool, tar: Measured, gunzip: Measured,
           pipeline: Measured, pipeline_small: Measured) -> None:
    gib = large.dicom_bytes / GIB
    found = converter()
    print(f"\n3. Reference pipeline: a {large.dicom_bytes / MIB:.0f} MiB DICOM archive ({large.files} files of"
          f" {large.dicom_bytes / large.files / 1024:.0f} KiB, {large.size / MIB:.0f} MiB as .tgz, made in {made_in:.1f} s)")
    print(f"   dcm2niix: {found or 'not found'}; --output-dir: {'given' if output_dir else 'not taken by this pipeline'}")
    print(f"   {'':26s} {'seconds':>8s} {'s/GiB':>8s} {'peak RSS':>10s} {'exit':>5s}")
    for label, measured in (("tar -xzf", tar), ("gzip -dc (decompress only)", gunzip), ("python -m pipeline", pipeline)):
        print(f"   {label:26s} {measured.seconds:8.2f} {measured.seconds / gib:8.2f} {measured.peak_rss_kib / 1024:6.0f} MiB"
              f" {measured.exit_code:5d}")
    print(f"   pipeline / tar -xzf        {pipeline.seconds / tar.seconds:8.2f}   (s/GiB of DICOM files, unpacked)")
    for label, small_kib, large_kib in (("pipeline's own peak RSS", pipeline_small.own_peak_kib, pipeline.own_peak_kib),
                                        ("with dcm2niix", pipeline_small.peak_rss_kib, pipeline.peak_rss_kib)):
        print(f"   {label:26s} {small_kib / 1024:.0f} MiB for {small.size / MIB:.0f} MiB .tgz ({small.files} files,"
              f" {pipeline_small.seconds:.2f} s), {large_kib / 1024:.0f} MiB for {large.size / MIB:.0f} MiB .tgz"
              f" ({large.files} files)")
    print("   (dcm2niix holds one series in memory as it converts it: its peak follows the largest series)")
