"""A service process's name among the replicas of its service: in every log
line, on the status page and as a launcher's owner of its runs.

UPLOADER_REPLICA names it where the host name says little (several replicas
on one machine under `make run`); the pid and a random tag keep it unique when
a container restarts under the same host name, and for each of several
services built in one test process.
"""

import os
import socket
import uuid

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import ENV_PREFIX


class ReplicaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    replica: str = Field(
        default="",
        description="the replica's name in log lines and on the status page, and its launcher's name on its runs "
                    "(the pid and a random tag are added); empty: the host name. `make run` sets it to honcho's "
                    "process name (`launcher.2`)")


def new_replica_name() -> str:
    return f"{ReplicaSettings().replica or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
