"""Write the JSON Schemas of KEDA's ScaledObject and TriggerAuthentication kept
beside this file, for validating deploy/kubernetes/keda/ offline.

KEDA's CRDs cannot be downloaded where the tests run. The PyPI package
cloudcoil-models-keda (Apache-2.0, like KEDA) carries pydantic models generated
from KEDA's CRDs; this script turns two of them back into JSON Schemas that
read like the CRDs under `kubectl apply --validate=strict`:

- a field that may be omitted is just optional (pydantic's "or null" dropped);
- apiVersion and kind are required and fixed;
- status is left out: a manifest never sets it;
- every object with declared fields forbids others (additionalProperties:
  false), as strict field validation rejects unknown fields; maps such as
  labels and a trigger's metadata keep their declared value type.

It needs the package, which the project does not install; run it once in a
throwaway virtual environment, from the repository's root:

    python3 -m venv /tmp/keda-models
    /tmp/keda-models/bin/pip install cloudcoil-models-keda==2.16.1.0 cloudcoil==0.6.0
    /tmp/keda-models/bin/python deploy/kubernetes/schemas/derive_keda_schemas.py
"""

import json
import re
from importlib.metadata import version
from pathlib import Path

from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

HERE = Path(__file__).resolve().parent
PACKAGE = "cloudcoil-models-keda"
NULL = {"type": "null"}
DROPPED_KEYS = ("title", "default")


def strict_schema(model) -> dict:
    schema = model.model_json_schema(by_alias=True, mode="validation")
    kind = schema["title"]
    schema["properties"].pop("status")
    schema["properties"]["apiVersion"] = {"const": "keda.sh/v1alpha1", "type": "string"}
    schema["properties"]["kind"] = {"const": kind, "type": "string"}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    schema = _tidy(schema)
    schema["$defs"] = _reachable_definitions(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": (
            f"KEDA {kind} (keda.sh/v1alpha1), from the CRDs of KEDA {_keda_version()}, as carried by the PyPI package "
            f"{PACKAGE}=={version(PACKAGE)} (Apache-2.0; KEDA is Apache-2.0 too). Written by derive_keda_schemas.py "
            "beside this file; do not edit by hand."
        ),
        **schema,
    }


def _tidy(node):
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: value for key, value in node.items() if key not in DROPPED_KEYS}
    options = node.get("anyOf")
    if options and NULL in options and len(options) == 2:
        node.pop("anyOf")
        node.update(next(option for option in options if option != NULL))
    node = {key: _tidy(value) for key, value in node.items()}
    if node.get("type") == "object" and node.get("properties"):
        node.setdefault("additionalProperties", False)
    elif node.get("properties") == {}:
        node.pop("properties")  # free-form, as managedFields' fieldsV1
    return node


def _reachable_definitions(schema: dict) -> dict:
    """The definitions the schema still uses, now that status is gone."""
    definitions, reached, todo = schema["$defs"], {}, [schema["properties"]]
    while todo:
        for name in re.findall(r'"#/\$defs/([^"]+)"', json.dumps(todo.pop())):
            if name not in reached:
                reached[name] = definitions[name]
                todo.append(definitions[name])
    return reached


def _keda_version() -> str:
    """The models' version is KEDA's, with one more number for the package's own releases."""
    return ".".join(version(PACKAGE).split(".")[:3])


def main() -> None:
    for model in (ScaledObject, TriggerAuthentication):
        path = HERE / f"keda-{_keda_version()}-{model.__name__.lower()}.schema.json"
        path.write_text(json.dumps(strict_schema(model), indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
