"""`kustomize build` for the subset of kustomize that deploy/k8s uses, since neither kubectl
nor kustomize runs here (and PyPI offers no kustomize build).

Supported: `resources` (files, multi-document too, and directories with a kustomization),
`namespace`, `labels` (pairs added to metadata.labels only: no includeSelectors or
includeTemplates), `images` (name, newName, newTag) and `patches` given by `path`, each file
one object merged into the object of its kind and name as a strategic merge does for these
manifests (maps merged, lists of named items merged by name, other lists replaced). Any other
field of a kustomization, or a `$patch` directive, is an error rather than ignored.
"""

from copy import deepcopy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "namespace", "labels", "images", "resources", "patches"}
CLUSTER_SCOPED = {"Namespace"}


def build(directory: Path) -> list[dict[str, Any]]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(spec) - SUPPORTED
    if unsupported:
        raise ValueError(f"{directory}: kustomization fields not supported: {unsupported}")
    objects: list[dict[str, Any]] = []
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        objects += build(path) if path.is_dir() else _documents(path)
    for patch in spec.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only patches by path are supported: {patch}")
        for document in _documents(directory / patch["path"]):
            _merge_into(objects, document)
    for item in spec.get("labels", []):
        if set(item) != {"pairs"}:
            raise ValueError(f"{directory}: only label pairs are supported: {item}")
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(item["pairs"])
    for image in spec.get("images", []):
        _set_image(objects, image)
    if "namespace" in spec:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = spec["namespace"]
    return objects


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _merge_into(objects: list[dict[str, Any]], patch: dict[str, Any]) -> None:
    key = (patch["kind"], patch["metadata"]["name"])
    for obj in objects:
        if (obj["kind"], obj["metadata"]["name"]) == key:
            _merge(obj, patch)
            return
    raise ValueError(f"a patch of {key}, which no resource defines")


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if key.startswith("$"):
            raise ValueError(f"patch directive {key} not supported")
        old = target.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            _merge(old, value)
        elif isinstance(old, list) and isinstance(value, list) and _named(old + value):
            by_name = {item["name"]: item for item in old}
            for item in value:
                if item["name"] in by_name:
                    _merge(by_name[item["name"]], item)
                else:
                    old.append(deepcopy(item))
        else:
            target[key] = deepcopy(value)


def _named(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) and "name" in item for item in items)


def _set_image(objects: list[dict[str, Any]], image: dict[str, str]) -> None:
    for obj in objects:
        for container in (
            obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        ):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")
