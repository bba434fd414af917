"""A PostgreSQL cluster, a RabbitMQ node and a MariaDB server of a test's own, on free ports, that the test
may stop and restart while services use them. The shared servers (PostgreSQL on 5432, RabbitMQ on 5672,
MariaDB on 3306) are never touched: a private server has its own data directory, port, socket, configuration
and (for RabbitMQ) Erlang node name and cookie. Each is a context manager (processes.Started); leaving the
block stops the server and removes its files, also when the test failed.

    with PrivatePostgres() as postgres:      # postgres.url("postgres"), postgres.restart(downtime=3)
        ...
    with PrivateRabbitMQ() as rabbitmq:      # rabbitmq.amqp_url, rabbitmq.restart(downtime=2)
        ...
    with PrivateMariaDB() as mariadb:        # mariadb.url("loris"), mariadb.restart(downtime=4)
        ...

PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user (runuser), in a
directory under /tmp that this user owns. RabbitMQ runs as whoever runs the tests, from the package's
own scripts (not the /usr/sbin wrapper, which would switch to the shared node's user and home), with
every file it reads or writes in its directory: an empty plugin list (no management listener on 15672,
no Prometheus on 15692), a configuration that listens on its port only, and an environment file of
its own instead of /etc/rabbitmq/rabbitmq-env.conf. MariaDB reads no option file (--no-defaults): everything
it needs is on its command line; as root, it runs as the `mysql` user, in a directory that this user owns.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pymysql

from tests.support.processes import Started, stop_process
from tests.support.stack import free_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
MARIADB_SERVER = Path("/usr/sbin/mariadbd")
MARIADB_INSTALL_DB = Path("/usr/bin/mariadb-install-db")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivatePostgres(Started):
    """A PostgreSQL 15 cluster in a temporary directory, on 127.0.0.1:port and a socket in that directory, with
    trust authentication, or with Debian's (`debian_authentication`: peer on the socket, scram-sha-256 over
    TCP)."""

    def __init__(self, debian_authentication: bool = False) -> None:
        self.authentication = ["--auth-local=peer", "--auth-host=scram-sha-256"] if debian_authentication else [
            "-A", "trust"]
        self.port = free_port()
        self.dir: Path | None = None
        self._as_postgres: list[str] = []

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    @property
    def log_path(self) -> Path:
        return self.dir / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        if not (POSTGRES_BIN / "initdb").exists():
            raise RuntimeError(f"{POSTGRES_BIN}/initdb is missing: run scripts/setup.sh first")
        self.dir = Path(tempfile.mkdtemp(prefix="uploader-test-postgres-"))
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(self.dir, postgres.pw_uid, postgres.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]
        self._run(POSTGRES_BIN / "initdb", "-D", self.data_dir, *self.authentication, "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        self.resume()

    def resume(self) -> None:
        """Start the cluster (again), and wait until it accepts connections."""
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")
        self._run(POSTGRES_BIN / "pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-w", "-t", "60",
                  "-o", options, "start")

    def pause(self, mode: str = "fast") -> None:
        """Stop the cluster: `fast` disconnects every client (as a restart by an operator does), `immediate`
        is a crash (recovery at the next start)."""
        self._run(POSTGRES_BIN / "pg_ctl", "-D", self.data_dir, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, downtime: float, mode: str = "fast") -> None:
        self.pause(mode)
        time.sleep(downtime)
        self.resume()

    def stop(self) -> None:
        if self.dir is None:
            return
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            done = subprocess.run([*self._as_postgres, POSTGRES_BIN / "pg_ctl", "-D", self.data_dir, "-m", "immediate",
                                   "-w", "-t", "30", "stop"], capture_output=True, timeout=60)
            if done.returncode != 0 and pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                except (ProcessLookupError, ValueError, IndexError):
                    pass
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines) if self.dir else ""

    def _run(self, *argv) -> None:
        done = subprocess.run([*self._as_postgres, *map(str, argv)], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
                               f"\n{self.log_tail()}")


class PrivateRabbitMQ(Started):
    """A RabbitMQ node named uploader_test_<random>@localhost, with its AMQP listener on 127.0.0.1:port,
    and `extra_config` (rabbitmq.conf lines) if given."""

    def __init__(self, extra_config: str = "") -> None:
        self.extra_config = extra_config
        self.port = free_port()
        self.dist_port = free_port()
        self.node = f"uploader_test_{uuid.uuid4().hex[:10]}@localhost"
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    @property
    def log_path(self) -> Path:
        return self.dir / "rabbitmq.out"

    def start(self) -> None:
        if not (RABBITMQ_SCRIPTS / "rabbitmq-server").exists():
            raise RuntimeError(f"{RABBITMQ_SCRIPTS}/rabbitmq-server is missing: run scripts/setup.sh first")
        self.dir = Path(tempfile.mkdtemp(prefix="uploader-test-rabbitmq-"))
        (self.dir / "home").mkdir()
        (self.dir / "enabled_plugins").write_text("[].\n")
        (self.dir / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n{self.extra_config}")
        (self.dir / "rabbitmq-env.conf").write_text("")
        self.resume()

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.dir / "home"),  # its own Erlang cookie
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.dir / "plugins-expand"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_SERVER_START_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def resume(self, timeout: float = 90) -> None:
        """Start the node (again, on the same data), and wait until its AMQP port answers."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(RABBITMQ_SCRIPTS / "rabbitmq-server")], cwd=self.dir,
                                            env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.monotonic() + timeout
        while not _port_answers(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ did not listen on {self.port} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def pause(self, timeout: float = 60) -> None:
        """Stop the node cleanly (SIGTERM: the Erlang VM stops RabbitMQ as `rabbitmqctl stop` does)."""
        self._end_node(timeout)

    def restart(self, downtime: float) -> None:
        self.pause()
        time.sleep(downtime)
        self.resume()

    def stop(self) -> None:
        self._end_node(30)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines) if self.dir else ""

    def ctl(self, *args: str) -> str:
        """rabbitmqctl against this node; its output."""
        return subprocess.run([str(RABBITMQ_SCRIPTS / "rabbitmqctl"), "-n", self.node, *args], env=self.environment(),
                              capture_output=True, text=True, check=True, timeout=60).stdout

    def _end_node(self, timeout: float) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            stop_process(self.process, timeout, signal.SIGTERM)
        # What the node started in its session (erl_child_setup, inet_gethost), should any outlive it.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process = None


class PrivateMariaDB(Started):
    """A MariaDB server in a temporary directory, on 127.0.0.1:port and a socket in that directory; its root
    needs no password (over TCP too, as on the shared server the tests administer)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self._user: list[str] = []

    @property
    def socket(self) -> Path:
        return self.dir / "mariadb.sock"

    @property
    def log_path(self) -> Path:
        return self.dir / "mariadb.err"

    def url(self, database: str) -> str:
        return f"mysql://root@127.0.0.1:{self.port}/{database}"

    def client_environment(self) -> dict[str, str]:
        """For the mariadb client (scripts/local_mariadb.sh): this server, by its port, and by its socket."""
        return {"MARIADB_PORT": str(self.port), "MYSQL_UNIX_PORT": str(self.socket)}

    def start(self) -> None:
        if not MARIADB_SERVER.exists():
            raise RuntimeError(f"{MARIADB_SERVER} is missing: run scripts/setup.sh --with-loris first")
        self.dir = Path(tempfile.mkdtemp(prefix="uploader-test-mariadb-"))
        if os.geteuid() == 0:
            mysql = pwd.getpwnam("mysql")
            os.chown(self.dir, mysql.pw_uid, mysql.pw_gid)
            self._user = ["--user=mysql"]
        done = subprocess.run(
            [str(MARIADB_INSTALL_DB), "--no-defaults", f"--datadir={self.dir / 'data'}", *self._user,
             "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
            capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        self.resume()

    def resume(self, timeout: float = 60) -> None:
        """Start the server (again, on the same data), and wait until its root can connect over TCP."""
        self.process = subprocess.Popen(
            [str(MARIADB_SERVER), "--no-defaults", f"--datadir={self.dir / 'data'}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir / 'mariadb.pid'}",
             f"--log-error={self.log_path}", *self._user, "--skip-name-resolve", "--skip-log-bin",
             "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self._root_connects():
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"MariaDB did not answer on {self.port} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def pause(self, timeout: float = 60) -> None:
        """Stop the server cleanly (SIGTERM: a shutdown, as an operator's restart), every client cut off."""
        if self.process is not None:
            stop_process(self.process, timeout, signal.SIGTERM)
            self.process = None

    def restart(self, downtime: float) -> None:
        self.pause()
        time.sleep(downtime)
        self.resume()

    def stop(self) -> None:
        self.pause(30)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines) if self.dir else ""

    def _root_connects(self) -> bool:
        try:
            pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
            return True
        except pymysql.err.MySQLError:
            return False
