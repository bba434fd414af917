"""Each series to NIfTI with dcm2niix, one series at a time, without a shell.

The series' files are hard-linked (or copied) into a folder of their own in
the work directory, so that dcm2niix sees that series only, and its images are
written to another folder there; the caller decides which to keep.

An image carries no identifying value of the files: its name is the caller's,
no BIDS sidecar is written (-b n), and the header's aux_file, where dcm2niix
copies the free-text ImageComments, is emptied (-c ""); its descrip holds the
echo and acquisition times only.
"""

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import PipelineFailure
from pipeline.tarchive import Series
from services.common.exit_codes import ExitCode

PROGRAM = "dcm2niix"
IMAGE_ENDINGS = (".nii.gz", ".nii")
# Lines of dcm2niix's output that say nothing about why a series was not converted.
_NOISE = re.compile(r"^(Chris Rorden's dcm2niiX|Defaults ignored|Found \d+ DICOM|Conversion required|"
                    r"Warning: Unable to determine manufacturer|Warning: Patient Position)")


@dataclass
class Converted:
    series: Series
    images: list[Path] = field(default_factory=list)  # in the work directory
    reason: str | None = None  # why no image was made
    output: list[str] = field(default_factory=list)  # dcm2niix's lines, for the detailed log


def find_dcm2niix(setting: str) -> str | None:
    """The dcm2niix program: UPLOADER_DCM2NIIX when set, else the one next to this Python (the venv's), else PATH's.

    None when it is not installed; a setting that names no program fails the run (exit 25).
    """
    if setting:
        program = shutil.which(setting)
        if program is None:
            raise PipelineFailure(
                ExitCode.BAD_CONFIG_SETTING,
                f"The pipeline setting UPLOADER_DCM2NIIX is wrong: {setting} is not a program that can be run.",
                "Ask your LORIS administrator to correct UPLOADER_DCM2NIIX, or to leave it empty.",
            )
        return program
    beside_python = Path(sys.executable).parent / PROGRAM
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which(PROGRAM)


def convert_series(program: str, series: Series, number: int, root: Path, work_dir: Path, name: str) -> Converted:
    """Run dcm2niix on one series (the `number`th) of the files under `root`; images are named `name`..."""
    source, target = work_dir / f"series-{number}", work_dir / f"nifti-{number}"
    target.mkdir(parents=True)
    links = _link_files(series, root, source)
    command = [program, "-z", "y", "-b", "n", "-c", "", "-g", "i", "-f", name, "-o", str(target), str(source)]
    completed = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace", check=False)
    output = [_readable(line, source, links) for line in completed.stdout.splitlines() if line.strip()]
    images = sorted(path for path in target.iterdir() if path.name.endswith(IMAGE_ENDINGS))
    shutil.rmtree(source, ignore_errors=True)
    if images:
        return Converted(series, images, None, output)
    return Converted(series, [], _reason(output, completed.returncode), output)


def _link_files(series: Series, root: Path, folder: Path) -> dict[str, str]:
    """The series' files in `folder`, numbered (two files may share a name); returns link name -> file path."""
    folder.mkdir(parents=True)
    links = {}
    for number, path in enumerate(series.files, start=1):
        link = f"{number:06d}.dcm"
        try:
            os.link(root / path, folder / link)
        except OSError:  # a file system without hard links
            shutil.copyfile(root / path, folder / link)
        links[link] = path
    return links


def _readable(line: str, folder: Path, links: dict[str, str]) -> str:
    """dcm2niix's line with the work directory's link names turned back into the archive's file names."""
    def archive_path(match: re.Match) -> str:
        return links.get(match.group(1), match.group(1))

    return re.sub(re.escape(str(folder)) + r"/?([^\s,;:]*)", archive_path, line).strip()


def _reason(output: list[str], exit_code: int) -> str:
    said = [line for line in output if not _NOISE.match(line)]
    reason = said[-1] if said else "it made no image"
    return f"dcm2niix: {reason} (exit code {exit_code})"


def image_stem(name: str, series: Series, number: int) -> str:
    """The NIfTI file name (without ending) of the `number`th series: letters, digits, "_" and "-" only."""
    parts = [name, f"series{series.number or number}", series.description or ""]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", "_".join(part for part in parts if part)).strip("-_")
