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
import subprocess
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
from services.gateway.auth.users import save_user  # noqa: E402
from tests.support import servers  # noqa: E402
from tests.support.stack import ServiceStack, free_port  # noqa: E402

TOKEN = "bench-token"
INTERNAL_SECRET = "bench-internal-secret-of-gateway-and-logstore"


class ReplicaStack(ServiceStack):
    """The services as processes, where any of them may run as named replicas (launcher.1, launcher.2, ... as
    `make run LAUNCHERS=n` names them): each a process of its own, on its own port, with UPLOADER_REPLICA its
    name, which is also the owner of a launcher's runs. A replica not started before gets a free port."""

    def start_service(self, name: str) -> None:
        service = name.partition(".")[0]
        env = {**os.environ, **self.env, "UPLOADER_REPLICA": name}
        env[f"UPLOADER_{service.upper()}_PORT"] = str(self.ports.setdefault(name, free_port()))
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen([sys.executable, "-m", f"services.{service}"], cwd=REPO_ROOT,
                                                    env=env, stdout=log, stderr=subprocess.STDOUT)


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
            self.database_url = servers.local_postgres_url(self.name)
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


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU time a process has used so far (0 once it has gone); with `children`, that of its
    children it has waited for too (a launcher's pipeline processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(command: str) -> float:
    """CPU time used so far by every process of a server (`command`: its processes' name, e.g. postgres or
    beam.smp), the ended ones included: those its main process waited for. Counts the server's work for
    everyone on this machine, not for one database or vhost."""
    seconds = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, fields = stat.read_text().split(" (", 1)[1].rsplit(") ", 1)
        except (OSError, ValueError, IndexError):
            continue
        if name == command:
            seconds += cpu_seconds(int(stat.parent.name), children=_command_of(int(fields.split()[1])) != command)
    return seconds


def _command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (/proc/stat: all but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(processes: dict[str, subprocess.Popen], servers: dict[str, str]) -> dict[str, float]:
    """CPU seconds used so far, by group: each service of `processes` (its replicas, launcher.1, launcher.2, ...,
    under the service's name), "runs" (the launchers' pipeline processes, once ended), "client" (this process),
    each server of `servers` (group: the name of its processes, e.g. {"postgres": "postgres"}), and "other": the
    rest of the machine's busy time."""
    used = dict.fromkeys(("runs", "client"), 0.0)
    for name, process in processes.items():
        service = name.partition(".")[0]
        own = cpu_seconds(process.pid)
        used[service] = used.get(service, 0.0) + own
        if service == "launcher":
            used["runs"] += cpu_seconds(process.pid, children=True) - own
    used["client"] = cpu_seconds(os.getpid())
    for group, command in servers.items():
        used[group] = server_cpu_seconds(command)
    used["other"] = machine_busy_seconds() - sum(used.values())
    return used
