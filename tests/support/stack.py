"""Running services as real processes, the way `make run` does, for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("logstore", "validator", "launcher", "gateway")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceStack:
    def __init__(self, env: dict[str, str], log_dir: Path, services: tuple[str, ...] = SERVICES) -> None:
        self.env = env
        self.log_dir = log_dir
        self.services = services
        self.ports = {
            "gateway": int(env["UPLOADER_GATEWAY_PORT"]),
            "logstore": int(env["UPLOADER_LOGSTORE_PORT"]),
            "validator": int(env["UPLOADER_VALIDATOR_PORT"]),
            "launcher": int(env["UPLOADER_LAUNCHER_PORT"]),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self) -> None:
        for name in self.services:
            self.start_service(name)
        for name in self.services:
            self.wait_healthy(name)

    def start_service(self, name: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, name: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.ports[name]}/readyz"
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.processes[name].returncode}:\n{self.log_tail(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become healthy:\n{self.log_tail(name)}")

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        process.send_signal(sig)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError(f"{name} did not stop within {timeout} s after signal {sig}") from None

    def __enter__(self) -> "ServiceStack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            try:
                self.stop_service(name)
            except RuntimeError:
                pass

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
