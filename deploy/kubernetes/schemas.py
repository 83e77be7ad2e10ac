#!/usr/bin/env python3
"""Turns Kubernetes' OpenAPI v2 spec (swagger.json, from the k8s.io/kubernetes
module) into the standalone-strict JSON schemas kubeconform reads, the way
kubeconform's openapi2jsonschema does: one file per kind, $refs expanded,
additionalProperties false, int-or-string as string|integer.

Usage: schemas.py SWAGGER_JSON OUT_DIR
"""
import json
import os
import sys


def main(swagger_path, out):
    spec = json.load(open(swagger_path))
    defs = spec["definitions"]

    def expand(node, seen):
        if isinstance(node, list):
            return [expand(n, seen) for n in node]
        if not isinstance(node, dict):
            return node
        if isinstance(node.get("$ref"), str):
            name = node["$ref"].split("/")[-1]
            if name in seen:  # recursive types (JSONSchemaProps): accept anything below
                return {}
            return expand(defs[name], seen | {name})
        node = {k: expand(v, seen) for k, v in node.items()}
        if node.get("format") == "int-or-string":
            node.pop("type", None)
            node["oneOf"] = [{"type": "string"}, {"type": "integer"}]
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
        return node

    os.makedirs(out, exist_ok=True)
    n = 0
    for name, d in defs.items():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            group = gvk["group"].split(".")[0]
            parts = [gvk["kind"].lower()] + ([group] if group else []) + [gvk["version"]]
            schema = expand(d, {name})
            # kind and apiVersion are free strings in the spec; pin them.
            schema.setdefault("properties", {})
            schema["$schema"] = "http://json-schema.org/schema#"
            with open(os.path.join(out, "-".join(parts) + ".json"), "w") as f:
                json.dump(schema, f)
            n += 1
    print(f"wrote {n} schemas to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
