"""Debian's Prometheus, run against a test stack with the shipped configuration
(deploy/prometheus/): only the targets are rewritten, to local ports, and the
intervals shortened so that a test sees data within seconds."""

import copy
import json
import shutil
import subprocess
from pathlib import Path

import aiohttp
import yaml

from tests.support.processes import Started, stop_process, wait_until_ready
from tests.support.stack import REPO_ROOT, free_port

PROMETHEUS_DIR = REPO_ROOT / "deploy" / "prometheus"
GRAFANA_DIR = REPO_ROOT / "deploy" / "grafana"
GRAFANA_DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
RABBITMQ_PROMETHEUS_ADDRESS = "127.0.0.1:15692"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is missing: run `bash scripts/setup.sh --with-monitoring` (make test does)")
    return path


def shipped_config() -> dict:
    return yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())


def local_config(targets: dict[str, str], interval: str = "1s") -> dict:
    """The shipped configuration with each job's targets replaced by `targets[job]` (host:port), and
    every interval set to `interval`. Paths, parameters and rule files stay as shipped."""
    config = copy.deepcopy(shipped_config())
    config["global"].update(scrape_interval=interval, scrape_timeout=interval, evaluation_interval=interval)
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    if jobs != set(targets):
        raise ValueError(f"the shipped jobs {sorted(jobs)} are not the ones given targets: {sorted(targets)}")
    for job in config["scrape_configs"]:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
    return config


class Prometheus(Started):
    """A Prometheus process on a free port, its storage in `work_dir`; a context manager."""

    def __init__(self, config: dict, work_dir: Path) -> None:
        self.config = config
        self.work_dir = work_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        config_path = self.work_dir / "prometheus.yml"
        config_path.write_text(json.dumps(self.config, indent=2))  # JSON is YAML
        self.log_path = self.work_dir / "prometheus.log"
        self.process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={config_path}", f"--storage.tsdb.path={self.work_dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, 15)
            self.process = None

    def _wait_ready(self, timeout: float = 30) -> None:
        wait_until_ready("prometheus", self.process, f"{self.url}/-/ready", self.log_path.read_text, timeout)

    async def api(self, http: aiohttp.ClientSession, path: str, **params) -> dict:
        """GET /api/v1/<path>: the whole answer, {"status": "success" or "error", "data" or "error": ...}."""
        async with http.get(f"{self.url}/api/v1/{path}", params=params) as answer:
            return await answer.json()

    async def query(self, http: aiohttp.ClientSession, expr: str) -> dict:
        """An instant query, now (a form POST: no length limit on the expression)."""
        async with http.post(f"{self.url}/api/v1/query", data={"query": expr}) as answer:
            return await answer.json()
