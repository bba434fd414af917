"""Reading the Kubernetes manifests of deploy/kubernetes/ as a cluster would see them, for the tests:
which files each kustomization applies, the objects in them, and what a Deployment's container is
given (its settings from the ConfigMap and its env, the secrets it takes from the Secret)."""

from dataclasses import dataclass
from pathlib import Path

import yaml

KUBERNETES = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
BASE = KUBERNETES / "base"
KEDA = KUBERNETES / "keda"
# Beside base/ and keda/, applied by hand: the Secret's template and the demo project's Job.
TEMPLATES = (KUBERNETES / "secret.example.yaml", KUBERNETES / "demo-data-job.yaml")


@dataclass(frozen=True)
class SecretRef:
    secret: str
    key: str
    optional: bool = False  # the container starts without the key (the setting is then unset)


@dataclass(frozen=True)
class FieldRef:
    """A variable the downward API sets from the pod's own fields (metadata.name, ...)."""

    path: str


def documents(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def applied_files(folder: Path) -> list[Path]:
    """The manifest files `kubectl apply -k folder` applies, through the folders it includes."""
    files = []
    for entry in documents(folder / "kustomization.yaml")[0]["resources"]:
        path = (folder / entry).resolve()
        files.extend(applied_files(path) if path.is_dir() else [path])
    return files


def objects_by_kind_and_name(paths: list[Path]) -> dict[tuple[str, str], dict]:
    return {(document["kind"], document["metadata"]["name"]): document
            for path in paths for document in documents(path)}


def pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def only_container(workload: dict) -> dict:
    [container] = pod_spec(workload)["containers"]
    return container


def environment(workload: dict, objects: dict[tuple[str, str], dict]) -> dict[str, str | SecretRef | FieldRef]:
    """The container's variables as Kubernetes sets them: the ConfigMaps of envFrom, then env over them."""
    container = only_container(workload)
    variables: dict[str, str | SecretRef | FieldRef] = {}
    for source in container.get("envFrom", []):
        variables.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
    for variable in container.get("env", []):
        if "value" in variable:
            variables[variable["name"]] = variable["value"]
        elif "fieldRef" in variable["valueFrom"]:
            variables[variable["name"]] = FieldRef(variable["valueFrom"]["fieldRef"]["fieldPath"])
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            variables[variable["name"]] = SecretRef(ref["name"], ref["key"], ref.get("optional", False))
    return variables


def probe_problems(deployment: dict, variables: dict[str, str | SecretRef]) -> list[str]:
    """What is wrong with how Kubernetes asks a service whether it is up: each probe must ask the
    port the service listens on (its UPLOADER_<SERVICE>_PORT), readiness on /readyz, liveness and
    start-up on /healthz, and Prometheus must scrape /metrics there."""
    container = only_container(deployment)
    port = int(variables[f"UPLOADER_{deployment['metadata']['name'].upper()}_PORT"])
    ports = {entry.get("name"): entry["containerPort"] for entry in container.get("ports", [])}
    problems = []
    if list(ports.values()) != [port]:
        problems.append(f"the container declares ports {ports}, the service listens on {port}")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet")
        if get is None:
            problems.append(f"no HTTP {probe}")
            continue
        if get.get("path") != path:
            problems.append(f"{probe} asks {get.get('path')}, not {path}")
        if ports.get(get["port"], get["port"]) != port:
            problems.append(f"{probe} asks port {get['port']}, not {port}")
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    scrape = tuple(annotations.get(f"prometheus.io/{key}") for key in ("scrape", "port", "path"))
    if scrape != ("true", str(port), "/metrics"):
        problems.append(f"Prometheus scrapes {scrape}, not ('true', '{port}', '/metrics')")
    return problems


def claim_mounted_at(deployment: dict, mount_path: str) -> dict | None:
    """The PersistentVolumeClaim volume mounted at mount_path ({"claimName": ..., "readOnly": ...}), if any."""
    mount = next((m for m in only_container(deployment).get("volumeMounts", []) if m["mountPath"] == mount_path), None)
    if mount is None:
        return None
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    claim = volume.get("persistentVolumeClaim")
    return None if claim is None else {"claimName": claim["claimName"], "readOnly": mount.get("readOnly", False)}
