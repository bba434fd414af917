"""A pipeline parses archives from anyone who may upload: it runs with the environment it needs, never
the launcher's, which holds the database and broker passwords. A pipeline that prints the names of its
environment shows, in the upload's log, exactly what it was given."""

import json
import os

import pytest

from services.launcher.pipeline_environment import BASICS, PIPELINE_SETTINGS
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient

PRINT_ENVIRONMENT = ("{python} -c \"import json, os; print('[info] environment: ' + json.dumps(sorted(os.environ))); "
                     "print('[info] LORIS_CONFIG: ' + os.environ.get('LORIS_CONFIG', 'not set'))\"")
SITE_VARIABLES = {"LORIS_CONFIG": "/data/loris-mri/bin/mri/dicom-archive/.loris_mri"}


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {
        "UPLOADER_PIPELINE_COMMAND": PRINT_ENVIRONMENT,
        "UPLOADER_PIPELINE_ENVIRONMENT": "LORIS_CONFIG,MINC_TOOLKIT_DIR_NEVER_SET",
        "UPLOADER_ARCHIVE_MAX_RATIO": "50",
        **SITE_VARIABLES,
    }


async def test_the_pipeline_gets_only_the_allowed_variables_and_none_of_the_launchers_settings(
    client: UploaderClient, archive, stack, stack_overrides
):
    answer = await client.upload(archive(), candid="300001", pscid="MTL0001", visit_label="V1")
    upload_id = (await answer.json())["upload_id"]
    assert (await client.wait_for_progress(upload_id))["progress"] == "Success"

    async def printed() -> list[str]:  # the logstore may still be storing the log (the gateway tells the progress)
        messages = [line["message"] for line in (await client.log(upload_id))["lines"]]
        return messages if any(message.startswith("environment: ") for message in messages) else []

    messages = await eventually(printed, timeout=30, what="the pipeline's environment in the log")
    [names] = [set(json.loads(message.removeprefix("environment: "))) for message in messages
               if message.startswith("environment: ")]

    launcher_environment = {**os.environ, **stack.env}
    assert {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL", "UPLOADER_INTERNAL_SECRET"} <= set(launcher_environment)
    assert names == {name for name in (*BASICS, *PIPELINE_SETTINGS) if name in launcher_environment} | {"LORIS_CONFIG"}
    assert {"PATH", "UPLOADER_ARCHIVE_MAX_RATIO"} <= names
    assert f"LORIS_CONFIG: {SITE_VARIABLES['LORIS_CONFIG']}" in messages
