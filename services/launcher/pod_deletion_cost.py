"""Idle launchers go first when Kubernetes scales the launchers down.

A ReplicaSet that scales down removes, among its ready pods, those with the
lowest `controller.kubernetes.io/pod-deletion-cost` first (else the newest).
Each launcher keeps its own pod's cost at its runs in flight: an idle launcher
(0) goes before a busy one, and one with one run before one with two. Each
change is one PATCH of the pod's annotation, sent by a background task: a run
never waits for it, and while the API is away the task tries again with
backoff and sends the latest count once the API answers. At start the cost is
set to 0, in case a former launcher of this pod (a restarted container) left
it higher.

On only in a pod whose manifest gives POD_NAME and POD_NAMESPACE (the downward
API, deploy/kubernetes/base/launcher.yaml) beside Kubernetes'
KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT; the launcher calls the API
as its pod's service account. Elsewhere nothing changes.
"""

import asyncio
import contextlib
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

log = logging.getLogger(__name__)

ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
PATCH_TYPE = "application/merge-patch+json"
IN_CLUSTER = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAME", "POD_NAMESPACE")
TIMEOUT = aiohttp.ClientTimeout(total=10)
RETRY_MAX_SECONDS = 30.0

RunsInFlight = Callable[[int], None]


@dataclass(frozen=True)
class OwnPod:
    """This launcher's pod, and the Kubernetes API it is reached through."""

    api_url: str
    namespace: str
    name: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> "OwnPod | None":
        if not all(environ.get(name) for name in IN_CLUSTER):
            return None
        host = environ["KUBERNETES_SERVICE_HOST"]
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        api_url = f"https://{host}:{environ['KUBERNETES_SERVICE_PORT']}"
        return cls(api_url, environ["POD_NAMESPACE"], environ["POD_NAME"])

    @property
    def url(self) -> str:
        return f"{self.api_url}/api/v1/namespaces/{self.namespace}/pods/{self.name}"


class PodDeletionCost:
    def __init__(self, pod: OwnPod, session: aiohttp.ClientSession, token_path: Path,
                 retry_max_seconds: float = RETRY_MAX_SECONDS) -> None:
        self._pod = pod
        self._session = session
        self._token_path = token_path
        self._retry_max_seconds = retry_max_seconds
        self._wanted = 0
        self._sent: int | None = None
        self._changed = asyncio.Event()
        self._changed.set()  # send the first 0

    def runs_in_flight(self, count: int) -> None:
        """The runs in flight changed: never waits, never fails; the latest count is sent in the background."""
        self._wanted = count
        self._changed.set()

    async def keep_sending(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            if self._wanted != self._sent:
                self._sent = await self._send_latest()

    async def _send_latest(self) -> int:
        async for attempt in AsyncRetrying(wait=wait_exponential(multiplier=0.2, max=self._retry_max_seconds),
                                           before_sleep=_say_not_sent):
            with attempt:
                cost = self._wanted
                await self._patch(cost)
        log.debug("pod deletion cost set", extra={"cost": cost})
        return cost

    async def _patch(self, cost: int) -> None:
        token = self._token_path.read_text().strip()  # read each time: Kubernetes rotates it
        body = json.dumps({"metadata": {"annotations": {ANNOTATION: str(cost)}}})
        headers = {"Authorization": f"Bearer {token}", "Content-Type": PATCH_TYPE, "Accept": "application/json"}
        async with self._session.patch(self._pod.url, data=body, headers=headers) as response:
            if response.status >= 400:
                raise PatchRefused(f"{response.status} {response.reason}: {(await response.text())[:300]}")


class PatchRefused(Exception):
    """The Kubernetes API answered the PATCH with an error."""


def _say_not_sent(state: RetryCallState) -> None:
    log.warning("could not set the pod deletion cost, will try again",
                extra={"error": repr(state.outcome.exception()), "retry_in_seconds": round(state.upcoming_sleep, 1)})


def _ignore(_count: int) -> None:
    pass


@contextlib.asynccontextmanager
async def pod_deletion_cost(service_account: Path, environ: Mapping[str, str] = os.environ,
                            retry_max_seconds: float = RETRY_MAX_SECONDS) -> AsyncIterator[RunsInFlight]:
    """What the launch slots tell their runs in flight: kept on the pod in Kubernetes, ignored elsewhere.
    service_account: the folder of the pod's service account (its `token` and the API's `ca.crt`)."""
    pod = OwnPod.from_environment(environ)
    if pod is None:
        yield _ignore
        return
    try:
        tls = ssl.create_default_context(cafile=service_account / "ca.crt")
    except (OSError, ssl.SSLError) as error:
        log.warning("pod deletion cost not kept: no service account CA", extra={"error": repr(error)})
        yield _ignore
        return
    async with aiohttp.ClientSession(timeout=TIMEOUT, connector=aiohttp.TCPConnector(ssl=tls)) as session:
        cost = PodDeletionCost(pod, session, service_account / "token", retry_max_seconds)
        sending = asyncio.create_task(cost.keep_sending())
        try:
            yield cost.runs_in_flight
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
