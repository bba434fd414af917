"""The LORIS-MRI command docs/pipeline.md shows works as written: bash sources the
environment file, then runs imaging_upload_file.pl with the placeholders as
its own arguments, whatever they hold."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from services.common.messages import ScanFacts
from services.launcher.pipeline_command import CommandNotPossible, TemplateCommand
from tests.support.stack import REPO_ROOT

DOCUMENTED_ENVIRONMENT = "/data/loris-mri/bin/mri/environment"


def documented_command() -> str:
    page = (REPO_ROOT / "docs" / "pipeline.md").read_text()
    line = re.search(r"^UPLOADER_PIPELINE_COMMAND=(.*)$", page, re.MULTILINE)
    (value,) = shlex.split(line.group(1))  # as the shell assigns it
    return value


def test_the_documented_loris_mri_command_sources_the_environment_then_passes_each_argument_whole(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "imaging_upload_file.pl"
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$LORIS_MRI_SOURCED" "$@"\n')
    fake.chmod(0o755)
    environment = tmp_path / "environment"
    environment.write_text(f"export PATH={bin_dir}:$PATH\nexport LORIS_MRI_SOURCED=yes\n")
    command = TemplateCommand(documented_command().replace(DOCUMENTED_ENVIRONMENT, str(environment)), profile="prod")
    scan = ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key="k", candid="300001", pscid="MTL0001",
                     visit_label="V1")
    odd_path = Path("/incoming/demo/7/attempt-1/MTL0001 300001 $(touch x); V1.tgz")

    printed = subprocess.run(command.argv(7, 1, scan, odd_path, loris_upload_id=41), capture_output=True, text=True,
                             check=True).stdout

    assert printed.splitlines() == ["yes", "-profile", "prod", "-upload_id", "41", str(odd_path)]


def test_the_documented_command_is_not_made_for_an_upload_without_a_loris_upload_id():
    command = TemplateCommand(documented_command(), profile="prod")
    scan = ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key="k", candid="300001", pscid="MTL0001",
                     visit_label="V1")

    with pytest.raises(CommandNotPossible, match=r"needs the upload's LORIS UploadID .* upload 7 has none"):
        command.argv(7, 1, scan, Path("/incoming/x.tgz"))
