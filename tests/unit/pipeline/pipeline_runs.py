"""Running the reference pipeline as the launcher does, `python -m pipeline ...` in a subprocess,
and reading what it printed: tagged log lines and `[report] ` JSON objects."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NAME = "MTL0001_300001_V1"
TAGGED_LINE = re.compile(r"\[(info|verbose|error|report)\] \S")


@dataclass
class Run:
    exit_code: int
    lines: list[str]
    temp_dir: Path  # the TMPDIR the pipeline made its work directory in

    def tagged(self, tag: str) -> list[str]:
        prefix = f"[{tag}] "
        return [line.removeprefix(prefix) for line in self.lines if line.startswith(prefix)]

    def error_lines_naming(self, *words: str) -> list[str]:
        return [line for line in self.tagged("error") if all(word in line for word in words)]

    def reports(self, kind: str) -> list[dict]:
        """The [report] objects of one type, without their "type"."""
        objects = [json.loads(line) for line in self.tagged("report")]
        return [{key: value for key, value in item.items() if key != "type"} for item in objects
                if item["type"] == kind]

    def report(self, kind: str) -> dict:
        [item] = self.reports(kind)
        return item

    def outcomes(self) -> dict[str, tuple[str, str | None]]:
        """file -> (outcome, reason)"""
        files = self.reports("file")
        assert len({item["file"] for item in files}) == len(files), "one outcome per file"
        return {item["file"]: (item["outcome"], item["reason"]) for item in files}


def pipeline_command(archive: Path | str, *options: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "--upload-id", "42", *options, str(archive)]


def pipeline_environment(tmp_path: Path, **settings: str) -> tuple[dict[str, str], Path]:
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir(exist_ok=True)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UPLOADER_")}
    return {**environment, "TMPDIR": str(temp_dir), **settings}, temp_dir


def run_pipeline(tmp_path: Path, command: list[str], **settings: str) -> Run:
    env, temp_dir = pipeline_environment(tmp_path, **settings)
    completed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    lines = completed.stdout.splitlines()
    assert completed.stderr == ""
    assert all(TAGGED_LINE.match(line) for line in lines), lines
    return Run(completed.returncode, lines, temp_dir)


def run_with_name(tmp_path: Path, archive: Path, *options: str, **settings: str) -> Run:
    return run_pipeline(tmp_path, pipeline_command(archive, "--patient-name", NAME, *options), **settings)
