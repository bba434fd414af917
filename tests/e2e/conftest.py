import uuid
from pathlib import Path

import pytest

from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.stack import ServiceStack


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    """A test module overrides this to run the stack with other settings."""
    return {}


@pytest.fixture(scope="module")
def stack(service_env, stack_overrides, tmp_path_factory):
    with ServiceStack({**service_env, **stack_overrides}, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture
async def client(stack, http) -> UploaderClient:
    return UploaderClient(http, stack.gateway_url, DEMO_TOKEN)


@pytest.fixture
def archive(tmp_path):
    """Make a DICOM archive named after the candidate, with a unique suffix so tests never collide."""

    def make(pscid="MTL0001", candid="300001", visit="V1", ending=".tgz", patient_name=None, **kwargs) -> Path:
        name = f"{pscid}_{candid}_{visit}_{uuid.uuid4().hex[:8]}{ending}"
        return make_dicom_archive(tmp_path / name, patient_name or f"{pscid}_{candid}_{visit}", **kwargs)

    return make
