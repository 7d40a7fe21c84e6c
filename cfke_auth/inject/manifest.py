"""Finding the pod template in a Kubernetes object, and naming documents and fields in errors.

Objects are any mappings and sequences: the plain dicts of ``json.load`` (an admission review's Pod) as well as the
round-trip nodes of a YAML library, so nothing here knows how the manifest was read.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, MutableSequence
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigurationError

__all__ = [
    "InjectError",
    "PodTemplate",
    "describe",
    "is_object",
    "kind_of",
    "list_at",
    "mapping_at",
    "metadata_field",
    "pod_template",
]

#: Where each workload kind keeps its pod template, by (API group, kind); the core group is "".
_TEMPLATE_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "Pod"): (),
    ("apps", "Deployment"): ("spec", "template"),
    ("apps", "StatefulSet"): ("spec", "template"),
    ("apps", "DaemonSet"): ("spec", "template"),
    ("apps", "ReplicaSet"): ("spec", "template"),
    ("batch", "Job"): ("spec", "template"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template"),
}


class InjectError(ConfigurationError):
    """A manifest that cannot be wired as asked: the message names the document (when known) and the field."""

    def __init__(self, field: str, problem: str, document: str | None = None) -> None:
        super().__init__(": ".join(part for part in (document, field, problem) if part))
        self.field = field
        self.problem = problem
        self.document = document

    def __reduce__(self) -> tuple[type[InjectError], tuple[str, str, str | None]]:
        return type(self), (self.field, self.problem, self.document)

    def in_document(self, document: str) -> InjectError:
        """The same error, saying which document of the stream it is about."""
        return InjectError(self.field, self.problem, document)


def is_object(value: Any, group: str, kind: str) -> bool:
    """Whether ``value`` is a Kubernetes object of ``kind`` in API ``group`` (any version)."""
    if not isinstance(value, MutableMapping) or value.get("kind") != kind:
        return False
    api_version = value.get("apiVersion")
    return isinstance(api_version, str) and api_version.rpartition("/")[0] == group


def kind_of(value: Any) -> str:
    """What a YAML or JSON value is, in words, whichever library parsed it."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, MutableSequence) else f"a {type(value).__name__}"


def metadata_field(value: Mapping[str, Any], key: str) -> str | None:
    """``metadata.KEY`` of an object when it is a non-empty string, else None."""
    metadata = value.get("metadata")
    found = metadata.get(key) if isinstance(metadata, Mapping) else None
    return found if isinstance(found, str) and found else None


def describe(value: Mapping[str, Any]) -> str:
    """``Kind namespace/name`` for an error message (``Kind name`` without a namespace; either may be missing)."""
    kind = value.get("kind")
    kind = kind if isinstance(kind, str) and kind else "object"
    generate_name = metadata_field(value, "generateName")
    name = metadata_field(value, "name") or (f"{generate_name}*" if generate_name else None)
    if name is None:
        return f"{kind} without a name"
    namespace = metadata_field(value, "namespace")
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def mapping_at(
    parent: MutableMapping[str, Any], key: str, field: str, *, create: bool, missing: str = "missing"
) -> MutableMapping[str, Any]:
    """``parent[key]`` as a mapping, created empty when missing (or null) if ``create``; InjectError otherwise."""
    value = parent.get(key)
    if value is None and create:
        value = parent[key] = {}
    if not isinstance(value, MutableMapping):
        problem = missing if value is None else f"expected a mapping, found {kind_of(value)}"
        raise InjectError(_path(field, key), problem)
    return value


def list_at(parent: MutableMapping[str, Any], key: str, field: str) -> MutableSequence[Any]:
    """``parent[key]`` as a list of mappings, created empty when missing or null; InjectError for anything else."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = []
    if not isinstance(value, MutableSequence) or isinstance(value, str):
        raise InjectError(_path(field, key), f"expected a list, found {kind_of(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, MutableMapping):
            raise InjectError(_path(_path(field, key), index), f"expected a mapping, found {kind_of(item)}")
    return value


@dataclass(frozen=True)
class PodTemplate:
    """A workload's pod template: its ``metadata`` and ``spec`` mappings, and its field path (``""`` for a Pod)."""

    metadata: MutableMapping[str, Any]
    spec: MutableMapping[str, Any]
    path: str

    @property
    def spec_path(self) -> str:
        """The pod spec's field path, for errors: ``spec`` for a Pod, ``spec.template.spec`` for a Deployment."""
        return _path(self.path, "spec")

    def child(self, key: str | int, parent: str | None = None) -> str:
        """The field path of ``key`` below ``parent`` (default: the pod spec)."""
        return _path(self.spec_path if parent is None else parent, key)


def pod_template(document: MutableMapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload (its metadata created when missing), or None for other kinds of object.

    InjectError when a workload has no pod template, or no container in it."""
    path = next(
        (path for (group, kind), path in _TEMPLATE_PATHS.items() if is_object(document, group, kind)),
        None,
    )
    if path is None:
        return None
    missing = f"missing: a {document['kind']} needs a pod template"
    node, field = document, ""
    for key in path:
        node = mapping_at(node, key, field, create=False, missing=missing)
        field = _path(field, key)
    if "metadata" not in node and hasattr(node, "insert"):  # an ordered round-trip node: metadata first, as usual
        node.insert(0, "metadata", {})
    metadata = mapping_at(node, "metadata", field, create=True)
    template = PodTemplate(metadata, mapping_at(node, "spec", field, create=False, missing=missing), field)
    if not list_at(template.spec, "containers", template.spec_path):
        raise InjectError(template.child("containers"), "a pod template needs at least one container")
    return template
