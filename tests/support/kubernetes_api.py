"""A local HTTPS server that answers a pod PATCH as the Kubernetes API does, for the launcher's pod
deletion cost: it checks the service account's bearer token, the path of a pod it knows and the patch's
content type, merges the annotations and answers with the pod; it can go away and come back on its port.
With a throwaway CA made by the openssl command, and the service account folder a pod would have."""

import json
import ssl
import subprocess
from pathlib import Path

from aiohttp import web

from tests.support.stack import free_port

TOKEN = "test-service-account-token"
PATCH_TYPES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
COST = "controller.kubernetes.io/pod-deletion-cost"


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for 127.0.0.1 (as an API server's is for its Service's address):
    returns the CA's certificate, the server's certificate and its key."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=test-kubernetes-ca", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-new", *key, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver")
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                                       "authorityKeyIdentifier=keyid,issuer\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.crt", "-days", "1", "-extfile", "server.ext")
    return folder / "ca.crt", folder / "server.crt", folder / "server.key"


class FakeKubernetesApi:
    host = "127.0.0.1"

    def __init__(self, namespace: str, pod_names: list[str], folder: Path) -> None:
        """folder: where its CA and certificate are made."""
        self.ca, certificate, key = make_tls(folder)
        self.namespace = namespace
        self.pods = {name: {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "namespace": namespace, "annotations": {"prometheus.io/scrape": "true"}}}
            for name in pod_names}
        self.patches: list[tuple[str, str]] = []  # (pod name, cost) of each PATCH accepted
        self.refused: list[int] = []  # the status of each PATCH refused
        self.port = free_port()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(certificate, key)
        self._runner: web.AppRunner | None = None

    def in_cluster(self, pod_name: str) -> dict[str, str]:
        """The variables of a pod in this cluster: Kubernetes' own, and the manifest's downward API."""
        return {"KUBERNETES_SERVICE_HOST": self.host, "KUBERNETES_SERVICE_PORT": str(self.port),
                "POD_NAME": pod_name, "POD_NAMESPACE": self.namespace}

    def service_account(self, folder: Path) -> Path:
        """What Kubernetes mounts in a pod at /var/run/secrets/kubernetes.io/serviceaccount."""
        folder.mkdir()
        (folder / "token").write_text(TOKEN + "\n")
        (folder / "ca.crt").write_bytes(self.ca.read_bytes())
        (folder / "namespace").write_text(self.namespace)
        return folder

    def cost(self, pod_name: str) -> str | None:
        return self.pods[pod_name]["metadata"]["annotations"].get(COST)

    def cost_is(self, pod_name: str, value: str):
        """A check for tests.integration.helpers.eventually."""
        async def check() -> bool:
            return self.cost(pod_name) == value

        return check

    async def up(self) -> None:
        app = web.Application()
        app.router.add_patch("/api/v1/namespaces/{namespace}/pods/{name}", self._patch_pod)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port, ssl_context=self._tls).start()

    async def down(self) -> None:
        """Away, its open connections closed: the port refuses connections until up()."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _patch_pod(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self._status(401, "Unauthorized", "Unauthorized")
        if request.content_type not in PATCH_TYPES:
            return self._status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                                f"accepted media types include: {', '.join(PATCH_TYPES)}")
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        if namespace != self.namespace or name not in self.pods:
            return self._status(404, "NotFound", f'pods "{name}" not found')
        patch = await request.json()
        annotations = patch.get("metadata", {}).get("annotations", {})
        self.pods[name]["metadata"]["annotations"].update(annotations)
        if COST in annotations:
            self.patches.append((name, annotations[COST]))
        return web.json_response(self.pods[name])

    def _status(self, code: int, reason: str, message: str) -> web.Response:
        self.refused.append(code)
        body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
                "code": code}
        return web.Response(status=code, text=json.dumps(body), content_type="application/json")
