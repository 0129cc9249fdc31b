"""Validates Kubernetes manifests against schemas, strictly: an unknown field fails.

Built-in kinds are checked with kubernetes-validate (the API's OpenAPI schemas as JSON Schema, strict
variant) for each Kubernetes version given. Custom resources are checked against the
openAPIV3Schema of their CustomResourceDefinition, found in --crds, converted to JSON Schema the way
openapi2jsonschema does with strict mode: an object schema with `properties` rejects other properties
unless it sets `x-kubernetes-preserve-unknown-fields`. An object with neither a built-in schema nor a
CRD fails: nothing passes unchecked.

Usage: python validate_schemas.py --kubernetes-version 1.29.0 [...] --crds DIR [--json] FILE...
Exit status 1 when any object fails.
"""

import argparse
import copy
import functools
import json
import os
import sys

import jsonschema
import kubernetes_validate.utils as kv
import yaml

# kubernetes-validate reads and parses the version's schema files, _definitions.json (megabytes)
# included, on every call: once per object and version. Read each file once per run instead; the
# validators only read the parsed schemas.
kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)

# libyaml's loader where PyYAML has it (its wheels do): the CRDs are 4 MB of YAML, 12 s to parse in
# pure Python on 2 cores and well under a second in C. Same documents either way.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def strict(schema):
    """A CRD's structural schema as strict JSON Schema."""
    if not isinstance(schema, dict):
        return schema
    out = {key: value for key, value in schema.items() if key != "nullable"}
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in out:
        out["properties"] = {name: strict(sub) for name, sub in out["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields") and "additionalProperties" not in out:
            out["additionalProperties"] = False
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = strict(out["additionalProperties"])
    if "items" in out:
        out["items"] = strict(out["items"])
    for combinator in ("allOf", "anyOf", "oneOf"):
        if combinator in out:
            out[combinator] = [strict(sub) for sub in out[combinator]]
    if "not" in out:
        out["not"] = strict(out["not"])
    return out


def load_crds(directory):
    """{(apiVersion, kind): (crd name, strict schema)} for every served version of every CRD in directory."""
    schemas = {}
    for file in sorted(os.listdir(directory)) if directory and os.path.isdir(directory) else []:
        if not file.endswith((".yaml", ".yml")):
            continue
        with open(os.path.join(directory, file)) as stream:
            for crd in yaml.load_all(stream, Loader=SafeLoader):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = (version.get("schema") or {}).get("openAPIV3Schema")
                    if version.get("served", True) and schema:
                        schemas[(f"{group}/{version['name']}", kind)] = (crd["metadata"]["name"], strict(schema))
    return schemas


def error_path(error):
    return ".".join(str(part) for part in error.absolute_path) or "(root)"


def check_object(obj, versions, crds):
    """[(checked against, problem or None)] for one object."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [("(nothing)", "apiVersion and kind are required")]
    crd = crds.get((api_version, kind))
    if crd:
        name, schema = crd
        problems = [f"{error_path(e)}: {e.message}" for e in jsonschema.Draft4Validator(schema).iter_errors(obj)]
        # The CRD declares metadata as a bare object: hold it to ObjectMeta's schema as the API server does.
        meta = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj.get("metadata", {})}
        for version in versions:
            try:
                kv.validate(meta, version, strict=True)
            except kv.ValidationError as e:
                problems.append(f"{error_path(e)}: {e.message} (ObjectMeta, Kubernetes {version})")
        return [(f"CRD {name}", "; ".join(problems) or None)]
    results = []
    for version in versions:
        target = f"Kubernetes {version}"
        try:
            kv.validate(obj, version, strict=True)
            results.append((target, None))
        except kv.ValidationError as e:
            results.append((target, f"{error_path(e)}: {e.message}"))
        except kv.SchemaNotFoundError:
            results.append((target, f"no schema for {kind} {api_version} in Kubernetes {version}, and no CRD for it in the CRD folder"))
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", action="append", required=True)
    parser.add_argument("--crds", default="")
    parser.add_argument("--json", action="store_true", help="print one JSON report instead of lines")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    crds = load_crds(args.crds)
    report = []
    for file in args.files:
        try:
            with open(file) as stream:
                objects = [o for o in yaml.load_all(stream, Loader=SafeLoader) if o]
        except (OSError, yaml.YAMLError) as e:
            report.append({"file": file, "object": "", "against": "(nothing)", "problem": f"cannot read: {e}"})
            continue
        for obj in objects:
            if not isinstance(obj, dict):
                report.append({"file": file, "object": "", "against": "(nothing)", "problem": "not a mapping"})
                continue
            label = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            for against, problem in check_object(copy.deepcopy(obj), args.kubernetes_version, crds):
                report.append({"file": file, "object": label, "against": against, "problem": problem})

    failed = [r for r in report if r["problem"]]
    if args.json:
        print(json.dumps({"checked": len(report), "failed": failed, "results": report}))
    else:
        for r in report:
            status = "FAIL" if r["problem"] else "ok  "
            print(f"{status} {r['file']} {r['object']} against {r['against']}" + (f": {r['problem']}" if r["problem"] else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
