"""``inject``: wire every workload of a stream of Kubernetes objects, and add the ConfigMaps they need.

A pure function over parsed objects: it deep-copies its input, reads no file and no clock, and raises
:class:`~cfke_auth.inject.manifest.InjectError` naming the document and the field before anything is returned, so a
caller either gets the whole result or nothing. ``kind: List`` objects (``kubectl get -o yaml``) are wired item by
item; objects of any other kind are passed through untouched.
"""

from __future__ import annotations

import copy
from collections.abc import MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from .manifest import InjectError, describe, is_object, kind_of, metadata_field, pod_template
from .merge import apply_wiring, injected_clouds, set_service_account
from .plan import InjectPlan
from .wiring import Workload, wirings

__all__ = ["inject"]


@dataclass
class _Place:
    """An object and the list that holds it (the stream, or a List's items), with its label for errors."""

    siblings: MutableSequence[Any]
    value: MutableMapping[str, Any]
    label: str

    def index(self) -> int:
        return next(i for i, sibling in enumerate(self.siblings) if sibling is self.value)


@dataclass
class _Run:
    """One run over a stream: the ConfigMaps found in it and the ones its workloads need, by namespace."""

    plan: InjectPlan
    config_maps: list[_Place] = field(default_factory=list)
    needed: dict[str | None, tuple[dict[str, Any], _Place]] = field(default_factory=dict)

    def namespace(self, value: MutableMapping[str, Any]) -> str | None:
        """The object's namespace, else the plan's (None when neither names one)."""
        return metadata_field(value, "namespace") or self.plan.namespace

    def objects(self, values: MutableSequence[Any], prefix: str) -> None:
        """Wire every workload in ``values``, recursing into Lists; note the ConfigMaps seen on the way."""
        for index, value in enumerate(values):
            label = f"{prefix} {index + 1}"
            if value is None:  # an empty document
                continue
            if not isinstance(value, MutableMapping):
                raise InjectError("", f"expected a Kubernetes object (a mapping), found {kind_of(value)}", label)
            label = f"{label} ({describe(value)})"
            place = _Place(values, value, label)
            try:
                if is_object(value, "", "List"):
                    items = value.get("items")
                    if isinstance(items, MutableSequence):
                        self.objects(items, f"{prefix} {index + 1} item")
                elif is_object(value, "", "ConfigMap"):
                    self.config_maps.append(place)
                else:
                    self.workload(place)
            except InjectError as exc:
                raise (exc if exc.document else exc.in_document(label)) from None

    def workload(self, place: _Place) -> None:
        template = pod_template(place.value)
        if template is None:
            return
        name = metadata_field(place.value, "name") or (metadata_field(place.value, "generateName") or "").rstrip("-")
        namespace = self.namespace(place.value)
        for wiring in wirings(self.plan, Workload(name or None, namespace)):
            apply_wiring(template, wiring)
            if wiring.config_map is not None:
                self.needed.setdefault(namespace, (wiring.config_map, place))
        if self.plan.service_account:
            set_service_account(template, self.plan.service_account)

    def add_config_maps(self) -> None:
        """Each namespace's ConfigMap: kept if already there, else an earlier run's one updated in place, else
        added before the first workload that uses it. One of that name not written by this tool is an error."""
        for namespace, (wanted, first_user) in self.needed.items():
            same_namespace = [found for found in self.config_maps if self.namespace(found.value) == namespace]
            ours = [found for found in same_namespace if "gcp" in injected_clouds(found.value.get("metadata"))]
            name = wanted["metadata"]["name"]
            clash = next((found for found in same_namespace if metadata_field(found.value, "name") == name), None)
            if clash is not None and clash not in ours:
                raise InjectError(
                    "metadata.name", f"{name} exists and was not written by cfke-auth inject", clash.label
                )
            target = clash or (ours[0] if ours else None)
            if target is None:
                first_user.siblings.insert(first_user.index(), wanted)
            else:
                target.value["metadata"]["name"] = name
                target.value["data"] = wanted["data"]


def inject(documents: Sequence[Any], plan: InjectPlan) -> list[Any]:
    """A copy of ``documents`` with every workload wired for the clouds of ``plan`` (and Google's ConfigMaps added).

    ``documents`` are Kubernetes objects as mappings (plain dicts, or a round-trip YAML library's nodes, whose
    comments and key order survive); empty documents (None) are kept as they are. Running it again on its own
    output changes nothing, and with changed settings updates what it wrote before in place.
    """
    result = copy.deepcopy(list(documents))
    run = _Run(plan)
    run.objects(result, "document")
    run.add_config_maps()
    return result
