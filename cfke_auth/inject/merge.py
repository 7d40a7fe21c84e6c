"""Adding a cloud's wiring to a pod template without clobbering what the user wrote.

Each volume, mount and variable is added when missing and left alone when already exactly as wanted. One that
exists with another value is replaced in place only when this tool wrote it: the template's ``cfke.io/injected``
annotation lists the clouds an earlier run wired, and those clouds' entries are the tool's to update. Anything else
already there is the user's, and a difference is an error rather than a silent overwrite.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, Sequence
from typing import Any

from .manifest import InjectError, PodTemplate, list_at, mapping_at
from .wiring import INJECTED_ANNOTATION, Wiring

__all__ = ["CONTAINER_LISTS", "apply_wiring", "injected_clouds", "set_service_account"]

#: Every list of containers in a pod spec; init containers include native sidecars (restartPolicy: Always).
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_CLOUD_ORDER = ("aws", "gcp", "azure")


def injected_clouds(metadata: Any) -> set[str]:
    """The clouds the ``cfke.io/injected`` annotation of ``metadata`` lists (none when it is not a mapping)."""
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    value = annotations.get(INJECTED_ANNOTATION) if isinstance(annotations, Mapping) else None
    return {cloud.strip() for cloud in value.split(",")} if isinstance(value, str) else set()


def _same(existing: Any, wanted: Mapping[str, Any]) -> bool:
    """Whether a manifest entry equals a wanted one, whatever mapping type the manifest uses."""
    return isinstance(existing, Mapping) and dict(existing) == wanted


def _mount_path(mount: Mapping[str, Any]) -> str:
    path = mount.get("mountPath")
    return path.rstrip("/") if isinstance(path, str) else ""


def _same_mount(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> bool:
    """Equal mounts, a trailing slash on the path aside."""
    return _same({**existing, "mountPath": _mount_path(existing)}, {**wanted, "mountPath": _mount_path(wanted)})


def _put(
    entries: MutableSequence[Any],
    wanted: dict[str, Any],
    owned: bool,
    field: str,
    *,
    same: Callable[[Mapping[str, Any], Mapping[str, Any]], bool],
    refusal: Callable[[Mapping[str, Any]], str],
) -> None:
    """Make ``wanted`` the one entry of its name in ``entries``: appended when there is none, kept when equal,
    replaced when this tool owns it; ``refusal(entry)`` says why an entry the user wrote cannot stay."""
    matches = [index for index, entry in enumerate(entries) if entry.get("name") == wanted["name"]]
    if not matches:
        entries.append(copy.deepcopy(wanted))
        return
    for index in matches:
        if not same(entries[index], wanted):
            if not owned:
                raise InjectError(f"{field}[{index}]", refusal(entries[index]))
            entries[index] = copy.deepcopy(wanted)
    for index in reversed(matches[1:]):
        del entries[index]


def _set_volume(volumes: MutableSequence[Any], wanted: dict[str, Any], owned: bool, field: str) -> None:
    def refusal(_: Mapping[str, Any]) -> str:
        return f"a volume named {wanted['name']!r} already exists with another definition; remove or rename it"

    _put(volumes, wanted, owned, field, same=_same, refusal=refusal)


def _set_mount(mounts: MutableSequence[Any], wanted: dict[str, Any], owned: bool, field: str) -> None:
    for index, mount in enumerate(mounts):
        if mount.get("name") != wanted["name"] and _mount_path(mount) == _mount_path(wanted):
            raise InjectError(
                f"{field}[{index}]", f"{wanted['mountPath']} is already mounted from volume {mount.get('name')!r}"
            )

    def refusal(_: Mapping[str, Any]) -> str:
        return (
            f"volume {wanted['name']!r} is already mounted otherwise (wanted at {wanted['mountPath']}, read-only); "
            "remove that mount"
        )

    _put(mounts, wanted, owned, field, same=_same_mount, refusal=refusal)


def _set_env(env: MutableSequence[Any], name: str, value: str, owned: bool, field: str) -> None:
    def refusal(entry: Mapping[str, Any]) -> str:
        if "value" in entry:
            now = f"set to {entry['value']!r}"
        else:
            now = "set from valueFrom" if "valueFrom" in entry else "set empty"
        return f"{name} is already {now}, not {value!r}; remove it or pass that value"

    _put(env, {"name": name, "value": value}, owned, field, same=_same, refusal=refusal)


def _containers(template: PodTemplate) -> Sequence[tuple[MutableMapping[str, Any], str]]:
    """Every container of the pod with its field path."""
    return [
        (container, template.child(index, template.child(key)))
        for key in CONTAINER_LISTS
        if key in template.spec
        for index, container in enumerate(list_at(template.spec, key, template.spec_path))
    ]


def apply_wiring(template: PodTemplate, wiring: Wiring) -> None:
    """Add one cloud's volumes, its mounts and env in every container, and record the cloud in the annotation."""
    owned = wiring.cloud in injected_clouds(template.metadata)
    volumes = list_at(template.spec, "volumes", template.spec_path)
    for volume in wiring.volumes:
        _set_volume(volumes, volume, owned, template.child("volumes"))
    for container, path in _containers(template):
        mounts = list_at(container, "volumeMounts", path)
        for mount in wiring.mounts:
            _set_mount(mounts, mount, owned, template.child("volumeMounts", path))
        env = list_at(container, "env", path)
        for name, value in wiring.env:
            _set_env(env, name, value, owned, template.child("env", path))
    annotations = mapping_at(template.metadata, "annotations", template.child("metadata", template.path), create=True)
    clouds = injected_clouds(template.metadata) | {wiring.cloud}
    annotations[INJECTED_ANNOTATION] = ",".join(cloud for cloud in _CLOUD_ORDER if cloud in clouds)


def set_service_account(template: PodTemplate, name: str) -> None:
    """Run the pod as ``name``; the deprecated ``serviceAccount`` alias, when present, is kept in step."""
    template.spec["serviceAccountName"] = name
    if "serviceAccount" in template.spec:
        template.spec["serviceAccount"] = name
