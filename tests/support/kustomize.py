"""What `kubectl apply -k` would create from deploy/kubernetes/, without kustomize: enough of it for our files.

Supports exactly what our kustomizations use and refuses anything else, so an overlay cannot use a feature this
reading would get wrong: `resources` (files and directories), `components`, `namespace`, `patches` by `path`
(a strategic-merge patch: maps merged, and the lists `containers`, `initContainers`, `volumes` and `env` merged
by `name`, as Kubernetes' patch merge keys say; a custom resource's patch is a JSON merge patch, lists replaced
whole, as kustomize does for kinds it has no schema of), and `configMapGenerator` / `secretGenerator` from
`files` and `envs` with `generatorOptions.disableNameSuffixHash` (names stay as written), and `images` (a new
name, tag or digest for a container image, as `kustomize edit set image` writes).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

Object = dict[str, Any]

BUILTIN_API_VERSIONS = {"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2", "networking.k8s.io/v1"}
CLUSTER_SCOPED = {"Namespace"}
MERGED_BY_NAME = {"containers", "initContainers", "volumes", "env"}
KEYS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "components",
    "patches",
    "generatorOptions",
    "configMapGenerator",
    "secretGenerator",
    "images",
}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}


def build(
    directory: Path, *, env_files: Mapping[str, str] | None = None, components: tuple[Path, ...] = ()
) -> list[Object]:
    """The objects of the kustomization in `directory`, with `components` added as if listed in it.

    `env_files`: text for a generator's env file that is not on disk (an overlay's git-ignored .env).
    """
    objects = _apply(directory, [], env_files or {}, extra_components=components)
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        assert key not in seen, f"{directory}: {key} defined twice"
        seen.add(key)
    return objects


def _apply(
    directory: Path, objects: list[Object], env_files: Mapping[str, str], *, extra_components: tuple[Path, ...] = ()
) -> list[Object]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unknown = set(spec) - KEYS
    assert not unknown, (
        f"{directory}/kustomization.yaml uses {sorted(unknown)}, which tests/support/kustomize.py cannot apply"
    )
    objects = list(objects)
    for resource in spec.get("resources", []):
        path = directory / resource
        objects += build(path, env_files=env_files) if path.is_dir() else _documents(path)
    for component in [directory / c for c in spec.get("components", [])] + list(extra_components):
        component_spec = yaml.safe_load((component / "kustomization.yaml").read_text(encoding="utf-8"))
        assert component_spec["kind"] == "Component", f"{component} is not a Component"
        objects = _apply(component, objects, env_files)
    objects += _generated(directory, spec, env_files)
    for patch in spec.get("patches", []):
        assert set(patch) == {"path"}, f"{directory}: only patches by path are supported: {patch}"
        (document,) = _documents(directory / patch["path"])
        objects = [_patched(obj, document) for obj in objects]
        assert any(_same(obj, document) for obj in objects), f"{directory}/{patch['path']} patches nothing"
    for image in spec.get("images", []):
        assert set(image) <= IMAGE_KEYS, f"{directory}: {image}"
        objects = [_imaged(obj, image) for obj in objects]
    if namespace := spec.get("namespace"):
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objects


def _documents(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _generated(directory: Path, spec: dict[str, Any], env_files: Mapping[str, str]) -> list[Object]:
    if spec.get("configMapGenerator") or spec.get("secretGenerator"):
        assert spec.get("generatorOptions", {}).get("disableNameSuffixHash") is True, (
            f"{directory}: generated names must stay as written (generatorOptions.disableNameSuffixHash)"
        )
    generated: list[Object] = []
    for kind, generators in (
        ("ConfigMap", spec.get("configMapGenerator", [])),
        ("Secret", spec.get("secretGenerator", [])),
    ):
        for generator in generators:
            assert set(generator) <= {"name", "files", "envs", "options"}, f"{directory}: {generator}"
            data: dict[str, str] = {}
            for name in generator.get("files", []):
                data[Path(name).name] = (directory / name).read_text(encoding="utf-8")
            for name in generator.get("envs", []):
                path = directory / name
                data |= _env_file(path.read_text(encoding="utf-8") if path.exists() else env_files[name])
            metadata: dict[str, Any] = {"name": generator["name"]}
            if labels := generator.get("options", {}).get("labels"):
                metadata["labels"] = dict(labels)
            obj: Object = {"apiVersion": "v1", "kind": kind, "metadata": metadata}
            if kind == "Secret":
                obj["type"] = "Opaque"
                obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
            else:
                obj["data"] = data
            generated.append(obj)
    return generated


def _env_file(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value for key, value in pairs}


def _imaged(obj: Object, image: dict[str, str]) -> Object:
    """kustomize's image transformer: a container whose image is `name` (any tag) gets the new name, tag or digest."""
    pod = obj.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        reference = container["image"].partition("@")[0]
        name, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
        if name != image["name"]:
            continue
        new_name, new_tag = image.get("newName", name), image.get("newTag", tag)
        if "digest" in image:
            container["image"] = f"{new_name}@{image['digest']}"
        else:
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    return obj


def _same(obj: Object, patch: Object) -> bool:
    return obj["kind"] == patch["kind"] and obj["metadata"]["name"] == patch["metadata"]["name"]


def _patched(obj: Object, patch: Object) -> Object:
    if not _same(obj, patch):
        return obj
    assert obj["apiVersion"] == patch["apiVersion"], f"{patch['metadata']['name']}: apiVersion differs"
    strategic = obj["apiVersion"] in BUILTIN_API_VERSIONS
    return _merge(copy.deepcopy(obj), copy.deepcopy(patch), strategic=strategic, key="")


def _merge(base: Any, patch: Any, *, strategic: bool, key: str) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        assert "$patch" not in patch, "$patch directives are not supported"
        for name, value in patch.items():
            if value is None:
                base.pop(name, None)
            else:
                base[name] = _merge(base[name], value, strategic=strategic, key=name) if name in base else value
        return base
    if strategic and key in MERGED_BY_NAME and isinstance(base, list) and isinstance(patch, list):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            if item["name"] in by_name:
                _merge(by_name[item["name"]], item, strategic=strategic, key="")
            else:
                base.append(item)
        return base
    return patch
