"""The Kubernetes manifests (deploy/kubernetes/) are valid, with no cluster and no network, and say
what the services need: each probe asks its service on the port it listens on, the launcher outlives
its shutdown grace, the gateway and the launchers share one ReadWriteMany volume at the incoming
path, every secret comes from the Secret, KEDA scales the launcher on a query that runs against
the project's real schema, and a launcher may set its own pod's deletion cost and nothing else."""

import json
import re

import asyncpg
import jsonschema
import kubernetes_validate
import pytest

from services.common.settings import ENV_PREFIX, GatewaySettings, LauncherSettings, LogstoreSettings, ValidatorSettings
from services.launcher.pod_deletion_cost import ANNOTATION, IN_CLUSTER
from tests.support.kubernetes_manifests import (
    BASE,
    KEDA,
    KUBERNETES,
    TEMPLATES,
    FieldRef,
    SecretRef,
    applied_files,
    claim_mounted_at,
    documents,
    environment,
    objects_by_kind_and_name,
    only_container,
    pod_spec,
    probe_problems,
)

REPO_ROOT = KUBERNETES.parents[1]
# The oldest Kubernetes still common in managed clusters, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
KEDA_SCHEMAS = {
    "ScaledObject": KUBERNETES / "schemas" / "keda-2.16.1-scaledobject.schema.json",
    "TriggerAuthentication": KUBERNETES / "schemas" / "keda-2.16.1-triggerauthentication.schema.json",
}
SETTINGS = {"gateway": GatewaySettings, "logstore": LogstoreSettings, "validator": ValidatorSettings,
            "launcher": LauncherSettings}
SERVICES = tuple(SETTINGS)
SECRET = "uploader-secrets"
# The settings each service needs that must stay secret (services/common/settings.py; the gateway and
# the logstore refuse to start without the internal secret).
SECRETS_NEEDED = {
    "gateway": {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL", "UPLOADER_INTERNAL_SECRET"},
    "logstore": {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL", "UPLOADER_INTERNAL_SECRET"},
    "validator": {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL"},
    "launcher": {"UPLOADER_DATABASE_URL", "UPLOADER_AMQP_URL"},
}
ALL_FILES = [*applied_files(KEDA), *TEMPLATES]
OBJECTS = objects_by_kind_and_name(ALL_FILES)


def kubernetes_documents() -> list[tuple[str, dict]]:
    return [(f"{path.relative_to(KUBERNETES)}:{document['kind']}/{document['metadata']['name']}", document)
            for path in ALL_FILES for document in documents(path)
            if not document["apiVersion"].startswith("keda.sh/")]


def keda_documents() -> list[dict]:
    return [document for path in applied_files(KEDA) for document in documents(path)
            if document["apiVersion"].startswith("keda.sh/")]


def validate_keda(document: dict) -> None:
    schema = json.loads(KEDA_SCHEMAS[document["kind"]].read_text())
    jsonschema.Draft202012Validator(schema).validate(document)


def deployment(name: str) -> dict:
    return OBJECTS[("Deployment", name)]


def scaled_object() -> dict:
    return OBJECTS[("ScaledObject", "launcher")]


# Validity


def test_base_applies_every_manifest_beside_it_and_keda_adds_only_its_own():
    assert set(applied_files(BASE)) == set(BASE.glob("*.yaml")) - {BASE / "kustomization.yaml"}
    assert set(applied_files(KEDA)) - set(applied_files(BASE)) == set(KEDA.glob("*.yaml")) - {KEDA / "kustomization.yaml"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("name", "document"), kubernetes_documents(), ids=[name for name, _ in kubernetes_documents()])
def test_every_manifest_is_valid_kubernetes_with_no_unknown_field(name, document, version):
    kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("document", keda_documents(), ids=lambda document: document["kind"])
def test_the_keda_objects_match_keda_s_schema(document):
    validate_keda(document)


def test_the_kept_keda_schemas_are_json_schemas():
    for path in KEDA_SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("good", "bad"), [
    ("readinessProbe:", "readinesProbe:"),  # a misspelt field
    ("replicas: 2", "replicas: two"),  # a wrong type
    ("containerPort: 8080", "containerPort: http"),
])
def test_a_broken_manifest_fails_validation(tmp_path, version, good, bad):
    broken = tmp_path / "gateway.yaml"
    broken.write_text((BASE / "gateway.yaml").read_text().replace(good, bad, 1))
    with pytest.raises(kubernetes_validate.ValidationError):
        for document in documents(broken):
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize(("good", "bad"), [
    ("cooldownPeriod:", "cooldownPeriods:"),  # a misspelt field
    ("  scaleTargetRef:\n    name: launcher\n", "  scaleTargetRef: {}\n"),  # a required field missing
    ('targetQueryValue: "2"', "targetQueryValue: 2"),  # trigger metadata must be strings
    ("stabilizationWindowSeconds: 900", "stabilizationWindowSeconds: 7200"),  # over the HPA's limit
])
def test_a_broken_scaled_object_fails_keda_s_schema(tmp_path, good, bad):
    source = (KEDA / "launcher-scaled-object.yaml").read_text()
    assert good in source
    broken = tmp_path / "launcher-scaled-object.yaml"
    broken.write_text(source.replace(good, bad, 1))
    with pytest.raises(jsonschema.ValidationError):
        validate_keda(documents(broken)[0])


# What the services rely on


def variable_names(settings_class) -> set[str]:
    return {field.validation_alias or f"{ENV_PREFIX}{name.upper()}" for name, field in settings_class.model_fields.items()}


def test_every_setting_in_the_config_map_is_one_a_service_reads():
    """A misspelt name would be ignored without a word (the settings ignore unknown variables)."""
    known = set().union(*(variable_names(settings_class) for settings_class in SETTINGS.values()))
    assert set(OBJECTS[("ConfigMap", "uploader-settings")]["data"]) - known == set()


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_reads_its_settings_from_the_manifests_and_listens_where_kubernetes_looks(service, monkeypatch):
    for name, value in environment(deployment(service), OBJECTS).items():
        if isinstance(value, SecretRef):
            value = "secret-from-the-secret-" + value.key
        elif isinstance(value, FieldRef):
            value = "from-the-pod-" + value.path
        monkeypatch.setenv(name, value)
    settings = SETTINGS[service]()
    assert (settings.host, settings.port) == ("0.0.0.0", only_container(deployment(service))["ports"][0]["containerPort"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_probe_asks_its_service_on_the_port_it_listens_on(service):
    assert probe_problems(deployment(service), environment(deployment(service), OBJECTS)) == []


@pytest.mark.parametrize(("good", "bad"), [
    ("containerPort: 8080", "containerPort: 9090"),
    ("path: /readyz", "path: /healthz"),
    ('prometheus.io/port: "8080"', 'prometheus.io/port: "9090"'),
])
def test_a_probe_on_the_wrong_port_or_path_is_noticed(tmp_path, good, bad):
    broken = tmp_path / "gateway.yaml"
    broken.write_text((BASE / "gateway.yaml").read_text().replace(good, bad, 1))
    gateway = objects_by_kind_and_name([broken])[("Deployment", "gateway")]
    assert probe_problems(gateway, environment(gateway, OBJECTS)) != []


def test_the_gateway_reaches_the_logstore_through_its_service():
    service = OBJECTS[("Service", "logstore")]
    [port] = service["spec"]["ports"]
    assert environment(deployment("gateway"), OBJECTS)["UPLOADER_LOGSTORE_URL"] == f"http://logstore:{port['port']}"
    assert service["spec"]["selector"].items() <= deployment("logstore")["spec"]["template"]["metadata"]["labels"].items()
    assert port["targetPort"] in {entry["name"] for entry in only_container(deployment("logstore"))["ports"]}


def test_the_launcher_outlives_its_shutdown_grace():
    """Kubernetes kills a pod at terminationGracePeriodSeconds: it must come after the grace the
    launcher gives its running pipelines, or they are killed without their outcome recorded."""
    launcher = deployment("launcher")
    grace = float(environment(launcher, OBJECTS)["UPLOADER_SHUTDOWN_GRACE_SECONDS"])
    assert pod_spec(launcher)["terminationGracePeriodSeconds"] > grace


def test_the_gateway_and_the_launchers_share_one_read_write_many_claim_at_the_incoming_path():
    claims = [claim_mounted_at(deployment(name), environment(deployment(name), OBJECTS)["UPLOADER_INCOMING_PATH"])
              for name in ("gateway", "launcher")]
    assert claims[0] == claims[1] == {"claimName": "incoming-scans", "readOnly": False}
    assert OBJECTS[("PersistentVolumeClaim", "incoming-scans")]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_launchers_keep_the_pipeline_output_on_a_read_write_many_claim_of_its_own():
    launcher = deployment("launcher")
    claim = claim_mounted_at(launcher, environment(launcher, OBJECTS)["UPLOADER_PIPELINE_OUTPUT_PATH"])
    assert claim == {"claimName": "pipeline-output", "readOnly": False}
    assert OBJECTS[("PersistentVolumeClaim", "pipeline-output")]["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_secret_a_service_needs_comes_from_the_secret(service):
    variables = environment(deployment(service), OBJECTS)
    assert {name: variables.get(name) for name in SECRETS_NEEDED[service]} == {
        name: SecretRef(SECRET, name) for name in SECRETS_NEEDED[service]}


def test_the_secret_template_holds_every_key_taken_from_it_and_its_command_creates_the_services_ones():
    taken = {value.key for kind, name in OBJECTS if kind in {"Deployment", "Job"}
             for value in environment(OBJECTS[(kind, name)], OBJECTS).values()
             if isinstance(value, SecretRef) and not value.optional}
    taken |= {ref["key"] for kind, name in OBJECTS if kind == "TriggerAuthentication"
              for ref in OBJECTS[(kind, name)]["spec"]["secretTargetRef"]}
    command = re.findall(r"--from-literal=(UPLOADER_\w+)=", (KUBERNETES / "secret.example.yaml").read_text())
    assert taken <= set(OBJECTS[("Secret", SECRET)]["stringData"])
    assert set().union(*SECRETS_NEEDED.values()) <= set(command)
    assert not taken & set(OBJECTS[("ConfigMap", "uploader-settings")]["data"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_runs_as_the_image_s_own_unprivileged_user(service):
    user, group = re.search(r"^USER (\d+):(\d+)$", (REPO_ROOT / "deploy" / "Dockerfile").read_text(), re.M).groups()
    pod = pod_spec(deployment(service))["securityContext"]
    container = only_container(deployment(service))["securityContext"]
    assert (pod["runAsNonRoot"], pod["runAsUser"], pod["runAsGroup"]) == (True, int(user), int(group))
    assert (container["allowPrivilegeEscalation"], container["capabilities"]["drop"]) == (False, ["ALL"])


# Scaling down removes idle launchers first

LAUNCHER_ACCOUNT = "imaging-uploader-launcher"


def test_the_launcher_knows_its_own_pod_from_the_downward_api():
    variables = environment(deployment("launcher"), OBJECTS)
    assert (variables["POD_NAME"], variables["POD_NAMESPACE"]) == (FieldRef("metadata.name"), FieldRef("metadata.namespace"))
    assert set(IN_CLUSTER) - {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"} <= set(variables), (
        "the launcher keeps its pod's cost only when it is given every variable it looks for")


def test_the_launchers_alone_run_as_an_account_that_may_only_patch_pods():
    accounts = {name: pod_spec(deployment(name)).get("serviceAccountName") for name in SERVICES}
    assert accounts == {"gateway": None, "logstore": None, "validator": None, "launcher": LAUNCHER_ACCOUNT}
    assert OBJECTS[("ServiceAccount", LAUNCHER_ACCOUNT)].get("automountServiceAccountToken", True)
    assert pod_spec(deployment("launcher")).get("automountServiceAccountToken", True)
    binding = OBJECTS[("RoleBinding", LAUNCHER_ACCOUNT)]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LAUNCHER_ACCOUNT}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": LAUNCHER_ACCOUNT}]  # of the binding's namespace
    assert OBJECTS[("Role", LAUNCHER_ACCOUNT)]["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["patch"]}]


def test_an_admission_policy_narrows_the_launchers_patches_to_the_deletion_cost_of_launcher_pods():
    """RBAC cannot name a Deployment's pods, and a pipeline in the launcher's container could read its token."""
    policy = OBJECTS[("ValidatingAdmissionPolicy", "imaging-uploader-launcher-pod-deletion-cost")]["spec"]
    binding = OBJECTS[("ValidatingAdmissionPolicyBinding", "imaging-uploader-launcher-pod-deletion-cost")]["spec"]
    assert (binding["policyName"], binding["validationActions"]) == (
        "imaging-uploader-launcher-pod-deletion-cost", ["Deny"])
    assert policy["failurePolicy"] == "Fail"
    assert policy["matchConstraints"]["resourceRules"] == [
        {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["pods"]}]
    [condition] = policy["matchConditions"]
    assert condition["expression"] == (
        f'request.userInfo.username == "system:serviceaccount:" + request.namespace + ":{LAUNCHER_ACCOUNT}"')
    assert policy["variables"] == [{"name": "cost", "expression": f'"{ANNOTATION}"'}]
    expressions = " ".join(validation["expression"] for validation in policy["validations"])
    launcher_label = deployment("launcher")["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    assert f'oldObject.metadata.labels["app.kubernetes.io/component"] == "{launcher_label}"' in expressions
    for unchanged in ("spec", "metadata.labels", "metadata.ownerReferences", "metadata.finalizers"):
        assert f"object.{unchanged} == oldObject.{unchanged}" in expressions


# KEDA


def test_keda_scales_the_launcher_deployment_one_launcher_per_slots_of_runs():
    spec = scaled_object()["spec"]
    [trigger] = spec["triggers"]
    launcher = deployment("launcher")
    target = spec["scaleTargetRef"]
    assert (target["name"], target.get("kind", "Deployment")) == ("launcher", "Deployment")
    assert "replicas" not in launcher["spec"]  # or each `kubectl apply` would undo KEDA's scaling
    assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert trigger["type"] == "postgresql"
    assert trigger["metadata"]["targetQueryValue"] == environment(launcher, OBJECTS)["UPLOADER_MAX_CONCURRENT_RUNS"]


def test_keda_connects_with_the_launchers_database_url():
    [trigger] = scaled_object()["spec"]["triggers"]
    authentication = OBJECTS[("TriggerAuthentication", trigger["authenticationRef"]["name"])]
    assert authentication["spec"]["secretTargetRef"] == [
        {"parameter": "connection", "name": SECRET, "key": "UPLOADER_DATABASE_URL"}]
    assert environment(deployment("launcher"), OBJECTS)["UPLOADER_DATABASE_URL"] == SecretRef(
        SECRET, "UPLOADER_DATABASE_URL")


RUN_STATES = ("queued", "queued", "queued", "running", "running", "succeeded", "failed", "superseded")


async def count_with_runs_added(pool: asyncpg.Pool, query: str) -> tuple[int, int]:
    """The query's answer before and after adding RUN_STATES' runs, in a transaction rolled back after."""
    async with pool.acquire() as conn:
        transaction = conn.transaction(isolation="repeatable_read")
        await transaction.start()
        try:
            before = await conn.fetchval(query)
            for number, state in enumerate(RUN_STATES, start=1):
                await conn.execute(
                    "INSERT INTO launcher.runs (upload_id, attempt, scan, state) VALUES ($1, 1, '{}'::jsonb, $2)",
                    -number, state)
            return before, await conn.fetchval(query)
        finally:
            await transaction.rollback()


async def test_keda_s_query_counts_the_queued_and_running_runs_in_the_real_schema(pool):
    [trigger] = scaled_object()["spec"]["triggers"]
    before, after = await count_with_runs_added(pool, trigger["metadata"]["query"])
    assert after - before == 5


async def test_a_query_naming_a_column_the_schema_lacks_fails(pool):
    [trigger] = scaled_object()["spec"]["triggers"]
    with pytest.raises(asyncpg.UndefinedColumnError):
        await count_with_runs_added(pool, trigger["metadata"]["query"].replace("state", "status"))


LORIS_URL = "UPLOADER_LORIS_DATABASE_URL"


def test_loris_site_mode_is_the_secret_s_optional_key_for_the_services_that_read_it():
    holders = {service: environment(deployment(service), OBJECTS).get(LORIS_URL) for service in SERVICES}
    assert holders == {"gateway": SecretRef(SECRET, LORIS_URL, optional=True), "logstore": None,
                       "validator": SecretRef(SECRET, LORIS_URL, optional=True),
                       "launcher": SecretRef(SECRET, LORIS_URL, optional=True)}


def test_the_secret_template_says_how_to_turn_loris_site_mode_on_and_leaves_it_off():
    template = (KUBERNETES / "secret.example.yaml").read_text()
    assert f"--from-literal={LORIS_URL}='mysql://" in template
    assert f"  # {LORIS_URL}: \"mysql://" in template
    assert LORIS_URL not in OBJECTS[("Secret", SECRET)]["stringData"]
