"""The services a latency benchmark runs, as real processes (`python -m
services.<name>`, as `make run` starts them), on a database and a RabbitMQ
vhost of their own (both named bench_<what>_<random>), removed at the end.

    stack = BenchStack("browse", ("logstore", "gateway"))
    pool = await stack.prepare()       # database, vhost, migrations, the bench user and its token
    ...                                # load data with the pool
    stack.start()                      # the services, each on a free port; waits until each is healthy
    ...
    await stack.close()
"""

import asyncio
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from services.common.db import open_pool  # noqa: E402
from services.common.migrations import apply_migrations  # noqa: E402
from services.common.scope import UPLOADER_PERMISSIONS  # noqa: E402
from services.gateway.users import save_user  # noqa: E402
from tests.support import servers  # noqa: E402
from tests.support.stack import ServiceStack, free_port  # noqa: E402

TOKEN = "bench-token"
INTERNAL_SECRET = "bench-internal-secret-of-gateway-and-logstore"


class BenchStack:
    def __init__(self, what: str, services: tuple[str, ...], env: dict[str, str] | None = None) -> None:
        self.name = f"bench_{what}_{uuid.uuid4().hex[:8]}"
        self.services = services
        self.extra_env = env or {}
        self.work = Path(tempfile.mkdtemp(prefix=f"uploader-{self.name}-"))
        self.ports = {name: free_port() for name in ("gateway", "logstore", "validator", "launcher")}
        self.database_url: str | None = None
        self.amqp_url: str | None = None
        self.stack: ServiceStack | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    async def prepare(self, template: str | None = None) -> asyncpg.Pool:
        """`template`: a database to copy (CREATE DATABASE ... TEMPLATE), to skip loading data again."""
        if template is None:
            self.database_url = await servers.create_database(self.name)
        else:
            admin = await asyncpg.connect(servers.POSTGRES_ADMIN_URL)
            try:
                await admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{template}"')
            finally:
                await admin.close()
            self.database_url = servers.POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.name}"
        self.amqp_url = await asyncio.to_thread(servers.create_vhost, self.name)
        pool = await open_pool(self.database_url)
        await apply_migrations(pool)
        async with pool.acquire() as conn:
            await save_user(conn, "bench", sorted(UPLOADER_PERMISSIONS), TOKEN)
        return pool

    def start(self) -> None:
        self.stack = ServiceStack(self.service_env(), self.work, self.services)
        self.stack.start()

    def service_env(self) -> dict[str, str]:
        """The services' environment: this bench's database, vhost, scan store and ports."""
        return {
            "UPLOADER_DATABASE_URL": self.database_url,
            "UPLOADER_AMQP_URL": self.amqp_url,
            "UPLOADER_INTERNAL_SECRET": INTERNAL_SECRET,
            "UPLOADER_INCOMING_PATH": str(self.work / "incoming"),
            "UPLOADER_PIPELINE_OUTPUT_PATH": str(self.work / "output"),
            "UPLOADER_LOGSTORE_URL": f"http://127.0.0.1:{self.ports['logstore']}",
            "UPLOADER_LOG_LEVEL": "WARNING",
            **{f"UPLOADER_{name.upper()}_PORT": str(port) for name, port in self.ports.items()},
            **self.extra_env,
        }

    def pid(self, service: str) -> int:
        return self.stack.processes[service].pid

    async def close(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        if self.database_url is not None:
            await servers.drop_database(self.name)
        if self.amqp_url is not None:
            await asyncio.to_thread(servers.delete_vhost, self.name)
        shutil.rmtree(self.work, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 once it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
