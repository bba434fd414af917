"""The output directory, changed all at once when a run succeeds, never half-written.

    <output-dir>/tarchive_info.json    the DICOM archive summary
    <output-dir>/nifti/*.nii.gz        one image (or more) per converted series

The result is built in a hidden sibling folder, `.<name>.partial-<random>`,
and swapped into place at the end: a run that fails, or is killed, leaves the
output directory as it was (a killed run's sibling is removed by the next run).
A run again replaces the result whole.
"""

import os
import secrets
import shutil
from pathlib import Path

from pipeline import PipelineFailure
from services.common.exit_codes import ExitCode

IMAGES = "nifti"


class ResultFolder:
    """Where a run builds its result; without an output directory, nothing is kept (`path` is None)."""

    def __init__(self, output_dir: Path | None):
        self.output_dir = output_dir
        self.path: Path | None = None

    def __enter__(self) -> "ResultFolder":
        if self.output_dir is None:
            return self
        try:
            if not self.output_dir.name or (self.output_dir.exists() and not self.output_dir.is_dir()):
                raise FileExistsError(f"{self.output_dir} is not a directory the pipeline may replace")
            self.output_dir.parent.mkdir(parents=True, exist_ok=True)
            for leftover in self._siblings():
                shutil.rmtree(leftover, ignore_errors=True)
            self.path = self._sibling("partial")
            self.path.mkdir()
            (self.path / IMAGES).mkdir()
        except OSError as error:
            raise PipelineFailure(
                ExitCode.CANNOT_CREATE_DIRECTORY,
                f"The output directory could not be prepared: {error}.",
                "Ask your LORIS administrator to check the pipeline's output directory.",
            ) from error
        return self

    def keep_image(self, image: Path) -> Path | None:
        """Moves an image into nifti/ under a name of its own; None without an output directory."""
        if self.path is None:
            return None
        target = self.path / IMAGES / image.name
        stem, ending = _split_ending(image.name)
        copy = 1
        while target.exists():
            copy += 1
            target = self.path / IMAGES / f"{stem}_{copy}{ending}"
        shutil.move(image, target)
        return target

    def commit(self) -> None:
        """The built result becomes the output directory; a former one is removed."""
        if self.path is None:
            return
        former = self._sibling("former") if self.output_dir.exists() else None
        if former:
            os.rename(self.output_dir, former)
        os.rename(self.path, self.output_dir)
        self.path = None
        if former:
            shutil.rmtree(former, ignore_errors=True)

    def __exit__(self, *exc_info) -> None:
        if self.path is not None:  # not committed: the run failed or was stopped
            shutil.rmtree(self.path, ignore_errors=True)

    def _sibling(self, kind: str) -> Path:
        return self.output_dir.with_name(f".{self.output_dir.name}.{kind}-{secrets.token_hex(4)}")

    def _siblings(self) -> list[Path]:
        prefix = f".{self.output_dir.name}."
        return [path for path in self.output_dir.parent.iterdir()
                if path.name.startswith((f"{prefix}partial-", f"{prefix}former-"))]


def _split_ending(name: str) -> tuple[str, str]:
    for ending in (".nii.gz", ".nii"):
        if name.endswith(ending):
            return name[: -len(ending)], ending
    return name, ""
