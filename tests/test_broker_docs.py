"""docs/broker.md's pod: valid against Kubernetes' schemas in strict mode, its broker arguments accepted by the real
flag parser, and its application environment exactly what ``--print-env`` prints for those arguments."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from ruamel.yaml import YAML

from cfke_auth.broker.config import add_arguments, from_args
from cfke_auth.broker.env import environment

DOC = Path(__file__).resolve().parent.parent / "docs" / "broker.md"
KUBERNETES = kubernetes_validate.latest_version()


@pytest.fixture(scope="module")
def pod() -> dict[str, Any]:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    document: dict[str, Any] = YAML(typ="safe").load(block)
    return document


def test_the_documented_pod_passes_kubernetes_strict_schemas(pod: dict[str, Any]) -> None:
    kubernetes_validate.validate(pod, KUBERNETES, strict=True)
    (sidecar,) = pod["spec"]["initContainers"]
    assert sidecar["restartPolicy"] == "Always" and "readyz" in " ".join(sidecar["startupProbe"]["exec"]["command"])
    assert pod["spec"]["volumes"][0]["emptyDir"]["medium"] == "Memory"


def test_the_documented_environment_is_what_print_env_prints(
    pod: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ROLE_ARN", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    (sidecar,) = pod["spec"]["initContainers"]
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = from_args(parser.parse_args(sidecar["args"][1:]))
    documented = str(config.secrets_dir)
    printed = {
        name: value.replace(str(tmp_path), documented)
        for _, variables in environment(dataclasses.replace(config, secrets_dir=tmp_path))
        for name, value in variables
    }
    (app,) = pod["spec"]["containers"]
    env = {entry["name"]: entry["value"] for entry in app["env"]}
    assert env == {k: v for k, v in printed.items() if k != "IDENTITY_HEADER"}
    assert f"$(cat {documented}/azure-identity-header)" in app["args"][0]  # the one value taken at start
    assert [m["mountPath"] for m in app["volumeMounts"]] == [documented]
