"""Turn a CustomResourceDefinition's openAPIV3Schema into a strict JSON schema.

Used once to produce the *.json files beside this script (they are kept in the repo so the
chart tests run offline). Usage:

    python tests/helm/crd-schemas/crd_to_jsonschema.py CRD.yaml VERSION > kind-group-version.json

The conversion mirrors what the API server does with a structural schema under strict field
validation: `x-kubernetes-int-or-string` becomes "integer or string", objects that declare
`properties` and do not preserve unknown fields reject unknown keys, descriptions are dropped.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml


def convert(node: Any) -> Any:
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-"):
            continue
        if key == "pattern" and "(?i)" in value:
            # Go accepts an inline flag anywhere; Python only at the start of the pattern.
            out[key] = "(?i)" + value.replace("(?i)", "")
        elif key == "properties":
            out[key] = {name: convert(sub) for name, sub in value.items()}
        else:
            out[key] = convert(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def main(crd_path: str, version: str) -> None:
    with open(crd_path, encoding="utf-8") as fh:
        crd = yaml.safe_load(fh)
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    schema = convert(served["schema"]["openAPIV3Schema"])
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = f"{crd['spec']['names']['kind']} {crd['spec']['group']}/{version}"
    json.dump(schema, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
