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


def new_replica_name() -> str:
    return f"{os.environ.get('UPLOADER_REPLICA') or socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
