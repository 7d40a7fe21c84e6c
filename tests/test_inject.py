"""``cfke-auth inject``: golden files per kind and cloud, what each cloud's wiring holds, idempotency and in-place
updates, every refusal (one line, exit 2, nothing written), Kubernetes' own schemas in strict mode, google-auth's
loader on the ConfigMap, the pure function on plain dicts, and the worked example of docs/inject.md.

Set ``CFKE_UPDATE_GOLDEN=1`` to rewrite the expected outputs under tests/golden/inject/ after a deliberate change
(then read the diff: the semantic checks below hold whatever the goldens say).
"""

from __future__ import annotations

import copy
import io
import json
import os
import pickle
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import google.auth
import kubernetes_validate
import pytest
from google.auth import identity_pool
from google.auth.transport.requests import Request
from ruamel.yaml import YAML

from cfke_auth import ConfigurationError
from cfke_auth.cli import main
from cfke_auth.inject import AwsPlan, AzurePlan, GcpPlan, InjectError, InjectPlan, build_plan, inject
from cfke_auth.testing import TokenFile
from cfke_auth.testing.gcp import GoogleFake

GOLDEN = Path(__file__).resolve().parent / "golden" / "inject"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "inject.md"
KUBERNETES = kubernetes_validate.latest_version()  # the newest schemas the installed kubernetes-validate ships
UPDATE = os.environ.get("CFKE_UPDATE_GOLDEN") == "1"

ROLE = "arn:aws:iam::123456789012:role/checkout"
SA_EMAIL = "checkout@shop-prod.iam.gserviceaccount.com"
CLIENT = "0c1d2e3f-0000-4000-8000-0000000a9901"
TENANT = "72f988bf-0000-4000-8000-00000000c0de"
AUDIENCE = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/cfke/providers/cfke"
CLOUD_FLAGS = {
    "aws": ["--aws-role-arn", ROLE, "--aws-region", "eu-central-1"],
    "gcp": ["--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "123456789012",
            "--gcp-service-account", SA_EMAIL],
    "azure": ["--azure-client-id", CLIENT, "--azure-tenant-id", TENANT],
}  # fmt: skip
COMBINATIONS = {"aws": ("aws",), "gcp": ("gcp",), "azure": ("azure",), "all": ("aws", "gcp", "azure")}
KUBE_FLAGS = ["--service-account", "checkout", "--namespace", "shop"]
KINDS = ["pod", "deployment", "statefulset", "daemonset", "replicaset", "job", "cronjob", "list"]
#: The AWS session name each golden input's workloads get (NAMESPACE.NAME; the Job's from its generateName).
SESSION_NAMES = {
    "pod": ["shop.checkout-debug"],
    "deployment": ["shop.checkout"],
    "statefulset": ["shop.ledger"],
    "daemonset": ["monitoring.node-agent"],
    "replicaset": ["shop.worker"],
    "job": ["search.reindex"],
    "cronjob": ["finance.nightly-report"],
    "list": ["orders.api-7d9f8-x2x4q", "orders.api"],
}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
#: Runs ``cfke-auth`` in process: ``cli(*argv, stdin="")`` -> (exit status, stdout, stderr).
Cli = Callable[..., tuple[int, str, str]]


def flags(clouds: tuple[str, ...]) -> list[str]:
    return [flag for cloud in clouds for flag in CLOUD_FLAGS[cloud]] + KUBE_FLAGS


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``cfke-auth`` in process; returns (exit status, stdout, stderr)."""

    def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return run


def load(text: str) -> list[Any]:
    """Plain JSON-like documents (no empty ones) from YAML text."""
    return [json.loads(json.dumps(doc)) for doc in YAML(typ="safe").load_all(text) if doc is not None]


def objects(documents: list[Any]) -> Iterator[dict[str, Any]]:
    """Every object, with a List's items in place of the List."""
    for document in documents:
        if document.get("kind") == "List":
            yield from objects(document["items"])
        else:
            yield document


def validate(text: str) -> None:
    """Every object passes Kubernetes' schemas in strict mode (no unknown field anywhere)."""
    for document in objects(load(text)):
        kubernetes_validate.validate(document, KUBERNETES, strict=True)


def pod_templates(documents: list[Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(object, template metadata, pod spec) of every workload."""
    for document in objects(documents):
        kind = document["kind"]
        if kind == "Pod":
            yield document, document["metadata"], document["spec"]
        elif kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
            template = document["spec"]["template"]
            yield document, template["metadata"], template["spec"]
        elif kind == "CronJob":
            template = document["spec"]["jobTemplate"]["spec"]["template"]
            yield document, template["metadata"], template["spec"]


def token_volume(audience: str, seconds: int, path: str) -> dict[str, Any]:
    source = {"audience": audience, "expirationSeconds": seconds, "path": path}
    return {"projected": {"sources": [{"serviceAccountToken": source}]}}


def check_wiring(documents: list[Any], clouds: tuple[str, ...], session_names: list[str]) -> None:
    """What each cloud must have added to every workload, checked from the parsed output alone."""
    config_maps = {
        (doc["metadata"].get("namespace"), doc["metadata"]["name"]): doc
        for doc in objects(documents)
        if doc["kind"] == "ConfigMap"
    }
    workloads = list(pod_templates(documents))
    assert workloads and len(workloads) == len(session_names)
    for (document, metadata, spec), session in zip(workloads, session_names, strict=True):
        assert metadata["annotations"]["cfke.io/injected"] == ",".join(clouds)
        assert spec["serviceAccountName"] == "checkout"
        volumes = {volume.pop("name"): volume for volume in copy.deepcopy(spec["volumes"])}
        want_env: dict[str, str] = {}
        want_mounts: dict[str, str] = {}
        if "aws" in clouds:
            assert volumes["cfke-aws-token"] == token_volume("sts.amazonaws.com", 86400, "token")
            want_mounts["cfke-aws-token"] = "/var/run/secrets/cfke.io/aws"
            want_env |= {
                "AWS_ROLE_ARN": ROLE,
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/cfke.io/aws/token",
                "AWS_ROLE_SESSION_NAME": session,
                "AWS_REGION": "eu-central-1",
            }
        if "gcp" in clouds:
            assert volumes["cfke-gcp-token"] == token_volume(AUDIENCE, 3600, "token")
            config_map_name = volumes["cfke-gcp-credentials"]["configMap"]["name"]
            namespace = document["metadata"].get("namespace", "shop")
            config = json.loads(config_maps[namespace, config_map_name]["data"]["credentials.json"])
            assert config["audience"] == AUDIENCE
            assert config["credential_source"]["file"] == "/var/run/secrets/cfke.io/gcp/token"
            assert config["service_account_impersonation_url"].endswith(f"/{SA_EMAIL}:generateAccessToken")
            want_mounts |= {
                "cfke-gcp-token": "/var/run/secrets/cfke.io/gcp",
                "cfke-gcp-credentials": "/var/run/secrets/cfke.io/gcp-credentials",
            }
            want_env["GOOGLE_APPLICATION_CREDENTIALS"] = "/var/run/secrets/cfke.io/gcp-credentials/credentials.json"
        if "azure" in clouds:
            audience = "api://AzureADTokenExchange"
            assert volumes["azure-identity-token"] == token_volume(audience, 3600, "azure-identity-token")
            want_mounts["azure-identity-token"] = "/var/run/secrets/azure/tokens"
            want_env |= {
                "AZURE_CLIENT_ID": CLIENT,
                "AZURE_TENANT_ID": TENANT,
                "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token",
            }
        containers = [container for key in CONTAINER_LISTS for container in spec.get(key, [])]
        for container in containers:
            mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
            for name, path in want_mounts.items():
                assert mounts[name] == {"name": name, "mountPath": path, "readOnly": True}, container["name"]
            env = {entry["name"]: entry.get("value") for entry in container["env"]}
            assert {name: env.get(name) for name in want_env} == want_env, container["name"]


# -- golden files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_golden(kind: str, combination: str, cli: Cli) -> None:
    clouds = COMBINATIONS[combination]
    status, out, err = cli("inject", str(GOLDEN / f"{kind}.yaml"), *flags(clouds))
    assert (status, err) == (0, "")
    golden = GOLDEN / f"{kind}.{combination}.yaml"
    if UPDATE:
        golden.write_text(out)
    assert out == golden.read_text(), f"differs from {golden.name} (CFKE_UPDATE_GOLDEN=1 rewrites it)"
    validate(out)
    check_wiring(load(out), clouds, SESSION_NAMES[kind])


@pytest.mark.parametrize("kind", KINDS)
def test_golden_inputs_are_valid_and_their_comments_survive(kind: str) -> None:
    text = (GOLDEN / f"{kind}.yaml").read_text()
    validate(text)
    out = (GOLDEN / f"{kind}.all.yaml").read_text()
    comments = [line.strip() for line in text.splitlines() if "#" in line]
    assert comments and all(comment in out for comment in comments)


def test_key_order_is_kept(cli: Cli) -> None:
    _, out, _ = cli("inject", str(GOLDEN / "pod.yaml"), *flags(("aws",)))
    assert list(load(out)[0]) == ["kind", "apiVersion", "spec", "metadata"]
    _, out, _ = cli("inject", str(GOLDEN / "deployment.yaml"), *flags(("aws",)))
    app = load(out)[0]["spec"]["template"]["spec"]["containers"][0]
    assert list(app) == ["image", "name", "ports", "env", "resources", "volumeMounts"]
    assert 'labels: {app: checkout, tier: "backend"}' in out  # flow style and quoting as written


def test_fields_it_does_not_know_survive(cli: Cli) -> None:
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: x, x-future: {keep: me}}
spec:
  template:
    x-template-field: 1
    spec:
      x-spec-field: [a, b]
      containers:
        - name: app
          x-container-field: {deep: [1, 2]}
"""
    status, out, _ = cli("inject", *flags(("aws",)), stdin=text)
    assert status == 0
    (document,) = load(out)
    assert document["metadata"]["x-future"] == {"keep": "me"}
    assert document["spec"]["template"]["x-template-field"] == 1
    assert document["spec"]["template"]["spec"]["x-spec-field"] == ["a", "b"]
    assert document["spec"]["template"]["spec"]["containers"][0]["x-container-field"] == {"deep": [1, 2]}


def test_other_kinds_pass_through_untouched(cli: Cli) -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: a}   # kept
spec: {ports: [{port: 80}]}
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout   # not a kind inject knows: left alone, template and all
metadata: {name: r}
spec:
  template:
    spec:
      containers: [{name: app, image: app}]
---
apiVersion: example.com/v1
kind: Deployment   # same kind name, another API group
metadata: {name: d}
spec: {}
"""
    status, out, _ = cli("inject", *flags(("aws", "gcp")), stdin=text)
    assert status == 0
    assert out == text  # no workload, so no ConfigMap either


# -- idempotency and updates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("combination", sorted(COMBINATIONS))
@pytest.mark.parametrize("kind", KINDS)
def test_injecting_twice_is_injecting_once(kind: str, combination: str, cli: Cli) -> None:
    once = (GOLDEN / f"{kind}.{combination}.yaml").read_text()
    status, twice, _ = cli("inject", *flags(COMBINATIONS[combination]), stdin=once)
    assert status == 0
    assert twice == once


CHANGED = [
    "--aws-role-arn", "arn:aws:iam::210987654321:role/payments", "--aws-region", "us-east-1",
    "--aws-session-name", "payments", "--aws-audience", "https://api.cloudfleet.ai/v1/clusters/0a1b",
    "--gcp-pool", "other", "--gcp-provider", "cluster-2", "--gcp-project-number", "987654321098",
    "--gcp-service-account", "payments@shop-prod.iam.gserviceaccount.com", "--gcp-token-expiration", "7200",
    "--azure-client-id", "11111111-2222-4333-8444-555555555555", "--azure-tenant-id", TENANT,
    "--azure-authority-host", "https://login.microsoftonline.us",
    "--service-account", "payments", "--namespace", "shop",
]  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_changed_flags_update_in_place(kind: str, cli: Cli) -> None:
    _, fresh, _ = cli("inject", str(GOLDEN / f"{kind}.yaml"), *CHANGED)
    _, updated, _ = cli("inject", *CHANGED, stdin=(GOLDEN / f"{kind}.all.yaml").read_text())
    assert updated == fresh
    validate(updated)
    assert "arn:aws:iam::123456789012:role/checkout" not in updated
    assert "cfke-gcp-credentials-" in updated and SA_EMAIL not in updated  # the old ConfigMap was replaced


def test_a_second_cloud_is_added_beside_the_first(cli: Cli) -> None:
    _, aws, _ = cli("inject", str(GOLDEN / "deployment.yaml"), *flags(("aws",)))
    _, both, _ = cli("inject", *flags(("azure",)), stdin=aws)
    _, at_once, _ = cli("inject", str(GOLDEN / "deployment.yaml"), *CLOUD_FLAGS["aws"], *flags(("azure",)))
    assert both == at_once
    assert load(both)[0]["spec"]["template"]["metadata"]["annotations"]["cfke.io/injected"] == "aws,azure"


def test_entries_the_user_wrote_exactly_as_wanted_are_accepted(cli: Cli) -> None:
    text = f"""\
apiVersion: v1
kind: Pod
metadata: {{name: p, namespace: shop}}
spec:
  containers:
    - name: app
      env:
        - {{name: AWS_ROLE_ARN, value: "{ROLE}"}}   # written by hand, same value
      volumeMounts:
        - {{name: cfke-aws-token, mountPath: /var/run/secrets/cfke.io/aws/, readOnly: true}}
"""
    status, out, err = cli("inject", "--aws-role-arn", ROLE, stdin=text)
    assert (status, err) == (0, "")
    container = load(out)[0]["spec"]["containers"][0]
    assert [e["name"] for e in container["env"]].count("AWS_ROLE_ARN") == 1
    assert len(container["volumeMounts"]) == 1  # a trailing slash aside, the same mount: kept, not doubled


def test_one_config_map_per_namespace_before_its_first_workload(cli: Cli) -> None:
    text = "".join(
        f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}{namespace}}}\n"
        "spec: {selector: {matchLabels: {app: x}}, template: {metadata: {labels: {app: x}},"
        " spec: {containers: [{name: app, image: app}]}}}\n"
        for name, namespace in (("a", ", namespace: one"), ("b", ""), ("c", ", namespace: one"), ("d", ""))
    )
    status, out, _ = cli("inject", *CLOUD_FLAGS["gcp"], "--namespace", "two", stdin=text)
    assert status == 0
    kinds = [(doc["kind"], doc["metadata"].get("namespace")) for doc in load(out)]
    assert kinds == [
        ("ConfigMap", "one"),
        ("Deployment", "one"),
        ("ConfigMap", "two"),
        ("Deployment", None),  # --namespace names the ConfigMap's namespace, and is not written into workloads
        ("Deployment", "one"),
        ("Deployment", None),
    ]
    validate(out)


# -- refusals: one line, exit status 2, nothing written -------------------------------------------------------------


def deployment(container: str = "", pod: str = "") -> str:
    """A one-container Deployment with extra lines in the container and in the pod spec."""
    return (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: checkout, namespace: shop}\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: app\n"
        + "".join(f"          {line}\n" for line in container.splitlines())
        + "".join(f"      {line}\n" for line in pod.splitlines())
    )


SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: checkout}\nspec: {ports: [{port: 80}]}\n---\n"
AWS = CLOUD_FLAGS["aws"]
AZURE = CLOUD_FLAGS["azure"]
WHERE = "document 1 (Deployment shop/checkout): spec.template.spec"
BAD_INPUT = {
    "invalid YAML": (
        SERVICE + "apiVersion: v1\nkind: Pod\nmetadata: {name: [a}\n",
        AWS,
        "document 2: invalid YAML at line 8, column 20: expected ',' or ']', but got '}'",
    ),
    "duplicate key": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nmetadata: {name: b}\n",
        AWS,
        "document 1: invalid YAML at line 4, column 1: "
        "found duplicate key \"metadata\" with value \"{'name': 'b'}\" (original value: \"{'name': 'a'}\")",
    ),
    "a tab": (
        SERVICE + "apiVersion: v1\nkind: Pod\n\tmetadata: {}\n",
        AWS,
        "document 2: invalid YAML at line 8, column 1: found character '\\t' that cannot start any token",
    ),
    "not an object": (
        SERVICE + "- a\n- b\n",
        AWS,
        "document 2: expected a Kubernetes object (a mapping), found a list",
    ),
    "no pod template": (
        SERVICE + "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: checkout, namespace: shop}\n"
        "spec: {replicas: 2}\n",
        AWS,
        "document 2 (Deployment shop/checkout): spec.template: missing: a Deployment needs a pod template",
    ),
    "a CronJob without its job template": (
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: nightly}\nspec: {schedule: '@daily'}\n",
        AWS,
        "document 1 (CronJob nightly): spec.jobTemplate: missing: a CronJob needs a pod template",
    ),
    "no container": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
        AWS,
        "document 1 (Pod p): spec.containers: a pod template needs at least one container",
    ),
    "containers not a list": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: {name: app}}\n",
        AWS,
        "document 1 (Pod p): spec.containers: expected a list, found a mapping",
    ),
    "the path mounted from another volume": (
        deployment("volumeMounts: [{name: secrets, mountPath: /var/run/secrets/cfke.io/aws/}]"),
        AWS,
        f"{WHERE}.containers[0].volumeMounts[0]: /var/run/secrets/cfke.io/aws is already mounted from volume 'secrets'",
    ),
    "the volume mounted elsewhere": (
        deployment("volumeMounts: [{name: cfke-aws-token, mountPath: /aws}]"),
        AWS,
        f"{WHERE}.containers[0].volumeMounts[0]: volume 'cfke-aws-token' is already mounted otherwise "
        "(wanted at /var/run/secrets/cfke.io/aws, read-only); remove that mount",
    ),
    "an init container mounting the path": (
        deployment(
            pod="initContainers:\n  - name: init\n    volumeMounts:\n"
            "      - {name: cache, mountPath: /var/run/secrets/azure/tokens}"
        ),
        AZURE,
        f"{WHERE}.initContainers[0].volumeMounts[0]: /var/run/secrets/azure/tokens is already mounted from "
        "volume 'cache'",
    ),
    "env set by the user": (
        deployment('env: [{name: AWS_ROLE_ARN, value: "arn:aws:iam::123456789012:role/other"}]'),
        AWS,
        f"{WHERE}.containers[0].env[0]: AWS_ROLE_ARN is already set to 'arn:aws:iam::123456789012:role/other', "
        f"not '{ROLE}'; remove it or pass that value",
    ),
    "env from a secret": (
        deployment("env: [{name: AZURE_TENANT_ID, valueFrom: {secretKeyRef: {name: azure, key: tenant}}}]"),
        AZURE,
        f"{WHERE}.containers[0].env[0]: AZURE_TENANT_ID is already set from valueFrom, not '{TENANT}'; "
        "remove it or pass that value",
    ),
    "a volume of that name": (
        deployment(pod="volumes: [{name: cfke-aws-token, emptyDir: {}}]"),
        AWS,
        f"{WHERE}.volumes[0]: a volume named 'cfke-aws-token' already exists with another definition; "
        "remove or rename it",
    ),
    "no name for the session": (
        "apiVersion: v1\nkind: Pod\nspec: {containers: [{name: app}]}\n",
        AWS,
        "document 1 (Pod without a name): metadata.name: missing, and the AWS session name is NAMESPACE.NAME: "
        "name it or pass --aws-session-name",
    ),
}


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    return tmp_path / "manifest.yaml"


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_one_line_and_nothing_is_written(case: str, manifest: Path, tmp_path: Path, cli: Cli) -> None:
    text, options, message = BAD_INPUT[case]
    manifest.write_text(text)
    output = tmp_path / "out.yaml"
    assert cli("inject", *options, stdin=text) == (2, "", f"cfke-auth: {message}\n")
    assert cli("inject", str(manifest), *options, "--output", str(output)) == (2, "", f"cfke-auth: {message}\n")
    assert not output.exists()
    assert cli("inject", str(manifest), *options, "--in-place") == (2, "", f"cfke-auth: {message}\n")
    assert manifest.read_text() == text
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.yaml"]  # no temporary file left behind


BAD_FLAGS = {
    "no cloud": (
        [],
        "choose at least one cloud: --aws-role-arn, --gcp-pool with --gcp-provider, or --azure-client-id with "
        "--azure-tenant-id",
    ),
    "AWS option without the role": (["--aws-region", "eu-west-1"], "--aws-region needs --aws-role-arn (AWS)"),
    "client without tenant": (["--azure-client-id", CLIENT], "--azure-client-id needs --azure-tenant-id (Azure)"),
    "tenant without client": (["--azure-tenant-id", TENANT], "--azure-tenant-id needs --azure-client-id (Azure)"),
    "Google without its provider": (
        ["--gcp-pool", "cfke", "--gcp-service-account", SA_EMAIL],
        "--gcp-pool needs --gcp-provider (Google Cloud)",
    ),
    "not a role ARN": (
        ["--aws-role-arn", "arn:aws:iam::123456789012:user/bob"],
        "--aws-role-arn 'arn:aws:iam::123456789012:user/bob' is not an IAM role ARN "
        "(arn:aws:iam::ACCOUNT_ID:role/NAME)",
    ),
    "a session name STS refuses": (
        [*AWS, "--aws-session-name", "a b"],
        "--aws-session-name: session_name 'a b' is not a valid role session name: 2-64 characters of letters, "
        "digits and +=,.@_-",
    ),
    "not a region": (
        [*AWS[:2], "--aws-region", "mars"],
        "--aws-region: region 'mars' is not an AWS region name such as 'eu-central-1'",
    ),
    "an empty audience": ([*AWS, "--aws-audience", ""], "--aws-audience '' must be a non-empty string without spaces"),
    "client id not a GUID": (
        ["--azure-client-id", "checkout", "--azure-tenant-id", TENANT],
        "--azure-client-id 'checkout' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
    ),
    "tenant id not a GUID": (
        ["--azure-client-id", CLIENT, "--azure-tenant-id", "contoso.onmicrosoft.com"],
        "--azure-tenant-id 'contoso.onmicrosoft.com' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
    ),
    "plain-http authority": (
        [*AZURE, "--azure-authority-host", "http://login.example.com"],
        "--azure-authority-host: authority host 'http://login.example.com' is not an https:// URL (plain http:// "
        "is allowed only for loopback hosts, so the token is never sent in clear)",
    ),
    "a project ID for the number": (
        ["--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "shop-prod"],
        "--gcp-pool/--gcp-provider/--gcp-project-number: project_number 'shop-prod' is a project ID, but Workload "
        "Identity Federation names the project by its number; find it with `gcloud projects describe shop-prod "
        "--format='value(projectNumber)'` (or on the project's dashboard in the console)",
    ),
    "a token Google refuses": (
        [*CLOUD_FLAGS["gcp"], "--gcp-token-expiration", "172801"],
        "--gcp-token-expiration 172801: Kubernetes issues tokens of at least 600 seconds and Google STS accepts "
        "at most 172800 (48 hours)",
    ),
    "a lifetime that is no number": (
        [*CLOUD_FLAGS["gcp"], "--gcp-token-expiration", "1h"],
        "--gcp-token-expiration '1h' is not a whole number of seconds",
    ),
    "a Kubernetes name for the Google service account": (
        ["--gcp-pool", "cfke", "--gcp-provider", "cfke", "--gcp-project-number", "1", "--gcp-service-account", "sa"],
        "--gcp-service-account: service_account 'sa' is not a service account email "
        "(NAME@PROJECT.iam.gserviceaccount.com)",
    ),
    "a bad Kubernetes service account": (
        [*AWS, "--service-account", "Checkout"],
        "--service-account 'Checkout' is not a Kubernetes service account name (lowercase letters, digits, '-' "
        "and '.')",
    ),
    "a bad namespace": (
        [*AWS, "--namespace", "shop.prod"],
        "--namespace 'shop.prod' is not a Kubernetes namespace name (lowercase letters, digits, '-')",
    ),
    "in place and an output": (
        [*AWS, "--in-place", "--output", "other.yaml"],
        "--in-place writes back into FILE: give a FILE, and no --output",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flags_are_one_line_and_nothing_is_written(case: str, manifest: Path, cli: Cli) -> None:
    options, message = BAD_FLAGS[case]
    text = (GOLDEN / "deployment.yaml").read_text()
    manifest.write_text(text)
    assert cli("inject", str(manifest), *options) == (2, "", f"cfke-auth: {message}\n")
    assert cli("inject", str(manifest), *options, "--in-place") == (2, "", f"cfke-auth: {message}\n")
    assert manifest.read_text() == text


def test_in_place_needs_a_file(cli: Cli) -> None:
    message = "cfke-auth: --in-place writes back into FILE: give a FILE, and no --output\n"
    assert cli("inject", *AWS, "--in-place", stdin=deployment()) == (2, "", message)


def test_files_that_cannot_be_read_or_written(tmp_path: Path, cli: Cli) -> None:
    missing = tmp_path / "missing.yaml"
    assert cli("inject", str(missing), *AWS) == (2, "", f"cfke-auth: {missing}: No such file or directory\n")
    assert cli("inject", str(tmp_path), *AWS) == (2, "", f"cfke-auth: {tmp_path}: Is a directory\n")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert cli("inject", str(binary), *AWS) == (2, "", f"cfke-auth: {binary}: not UTF-8 text\n")
    nowhere = tmp_path / "no" / "such" / "dir.yaml"
    status, out, err = cli("inject", *AWS, "--output", str(nowhere), stdin=deployment())
    assert (status, out, err) == (2, "", f"cfke-auth: {nowhere}: No such file or directory\n")
    assert cli("inject", *AWS, "--output", str(tmp_path), stdin=deployment()) == (
        2,
        "",
        f"cfke-auth: {tmp_path}: Is a directory\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["binary.yaml"]


def test_a_config_map_of_that_name_not_written_by_inject(cli: Cli) -> None:
    _, out, _ = cli("inject", *CLOUD_FLAGS["gcp"], stdin=deployment())
    documents = load(out)
    name = documents[0]["metadata"]["name"]
    hand_written = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: shop}}\ndata: {{}}\n---\n"
    status, out, err = cli("inject", *CLOUD_FLAGS["gcp"], stdin=hand_written + deployment())
    assert (status, out) == (2, "")
    assert err == (
        f"cfke-auth: document 1 (ConfigMap shop/{name}): metadata.name: {name} exists and was not written by "
        "cfke-auth inject\n"
    )


def test_refusals_print_no_traceback_from_the_installed_command(manifest: Path) -> None:
    manifest.write_text(BAD_INPUT["invalid YAML"][0])
    command = Path(sys.executable).with_name("cfke-auth")
    result = subprocess.run(
        [str(command), "inject", str(manifest), *AWS], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"cfke-auth: {BAD_INPUT['invalid YAML'][2]}\n"


def test_without_ruamel_yaml_it_says_what_to_install(manifest: Path) -> None:
    manifest.write_text(deployment())
    code = (
        "import sys; sys.modules['ruamel'] = sys.modules['ruamel.yaml'] = None\n"
        "from cfke_auth.cli import main\n"
        f"sys.exit(main(['inject', {str(manifest)!r}, '--aws-role-arn', {ROLE!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "cfke-auth: cfke-auth inject needs ruamel.yaml: pip install 'cfke-auth[inject]'\n"


def test_output_and_in_place_write_the_result(manifest: Path, tmp_path: Path, cli: Cli) -> None:
    manifest.write_text((GOLDEN / "deployment.yaml").read_text())
    manifest.chmod(0o640)
    expected = (GOLDEN / "deployment.all.yaml").read_text()
    output = tmp_path / "out.yaml"
    assert cli("inject", str(manifest), *flags(COMBINATIONS["all"]), "-o", str(output)) == (0, "", "")
    assert output.read_text() == expected
    assert cli("inject", str(manifest), *flags(COMBINATIONS["all"]), "--in-place") == (0, "", "")
    assert manifest.read_text() == expected
    assert manifest.stat().st_mode & 0o777 == 0o640


# -- the pure function -------------------------------------------------------------------------------------------


PLAN = InjectPlan(
    aws=AwsPlan(ROLE, region="eu-central-1"),
    gcp=GcpPlan.parse("cfke", "cfke", "123456789012", service_account=SA_EMAIL),
    azure=AzurePlan(CLIENT, TENANT),
    service_account="checkout",
    namespace="shop",
)


def test_plan_from_flags_is_the_plan_built_by_hand() -> None:
    assert build_plan(
        aws_role_arn=ROLE, aws_region="eu-central-1", gcp_pool="cfke", gcp_provider="cfke",
        gcp_project_number="123456789012", gcp_service_account=SA_EMAIL, azure_client_id=CLIENT,
        azure_tenant_id=TENANT, service_account="checkout", namespace="shop",
    ) == PLAN  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_plain_dicts_as_from_an_admission_review(kind: str) -> None:
    documents = load((GOLDEN / f"{kind}.yaml").read_text())
    before = copy.deepcopy(documents)
    result = inject(documents, PLAN)
    assert documents == before  # the input is not touched
    assert result == load((GOLDEN / f"{kind}.all.yaml").read_text())  # the same result as through YAML
    assert json.loads(json.dumps(result)) == result  # plain JSON data: no YAML-library types


def test_an_admission_review_pod() -> None:
    review = {"request": {"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "api-"},
                                     "spec": {"containers": [{"name": "api", "image": "api"}]}}}}  # fmt: skip
    plan = InjectPlan(aws=AwsPlan(ROLE), namespace="orders")
    (pod,) = inject([review["request"]["object"]], plan)
    assert {"name": "AWS_ROLE_SESSION_NAME", "value": "orders.api"} in pod["spec"]["containers"][0]["env"]
    assert "namespace" not in pod["metadata"]


def test_errors_are_typed_and_pickle() -> None:
    with pytest.raises(InjectError) as caught:
        inject([{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": {}}], PLAN)
    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert isinstance(error, ValueError)
    assert (error.document, error.field) == ("document 1 (Deployment x)", "spec.template")
    copied = pickle.loads(pickle.dumps(error))
    assert (type(copied), str(copied), copied.field) == (InjectError, str(error), "spec.template")
    with pytest.raises(ConfigurationError, match="choose at least one cloud"):
        InjectPlan()


@pytest.mark.parametrize(
    ("namespace", "name", "session"),
    [
        ("shop", "checkout", "shop.checkout"),
        (None, "checkout", "checkout"),
        ("shop", "a" * 80, "shop." + "a" * 50 + "-"),  # cut to 64 and ends in a hash of the whole name
        ("shop", "x", "shop.x"),
    ],
)
def test_session_names_are_what_sts_accepts(namespace: str | None, name: str, session: str) -> None:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [{"name": "app"}]}}
    (result,) = inject([pod], InjectPlan(aws=AwsPlan(ROLE)))
    value = next(e["value"] for e in result["spec"]["containers"][0]["env"] if e["name"] == "AWS_ROLE_SESSION_NAME")
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", value)
    assert value.startswith(session)
    assert len(value) == (64 if len(name) > 60 else len(session))


def test_long_names_sharing_a_prefix_get_distinct_sessions() -> None:
    pods = [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a" * 70 + suffix, "namespace": "shop"},
         "spec": {"containers": [{"name": "app"}]}}
        for suffix in ("-one", "-two")
    ]  # fmt: skip
    sessions = {
        entry["value"]
        for pod in inject(pods, InjectPlan(aws=AwsPlan(ROLE)))
        for entry in pod["spec"]["containers"][0]["env"]
        if entry["name"] == "AWS_ROLE_SESSION_NAME"
    }
    assert len(sessions) == 2


# -- Google's ConfigMap is what google-auth loads ---------------------------------------------------------------------


def config_map_json(out: str) -> dict[str, Any]:
    (config_map,) = [doc for doc in objects(load(out)) if doc["kind"] == "ConfigMap"]
    result: dict[str, Any] = json.loads(config_map["data"]["credentials.json"])
    return result


@pytest.mark.filterwarnings("ignore:.*load_credentials_from_dict:DeprecationWarning")
def test_google_auth_loads_the_config_map(cli: Cli) -> None:
    _, out, _ = cli("inject", *CLOUD_FLAGS["gcp"], stdin=deployment())
    info = config_map_json(out)
    credentials, project = google.auth.load_credentials_from_dict(info)
    assert isinstance(credentials, identity_pool.Credentials)
    assert project is None
    assert credentials.info["audience"] == AUDIENCE
    assert credentials.info["credential_source"] == {
        "file": "/var/run/secrets/cfke.io/gcp/token",
        "format": {"type": "text"},
    }
    assert credentials.service_account_email == SA_EMAIL


def test_google_auth_exchanges_with_the_config_map(
    cfke_google: GoogleFake, cfke_token_file: TokenFile, cli: Cli
) -> None:
    """The same JSON, its endpoints pointed at the loopback Google and its token path at the test's token file (the
    pod's path, in a pod), gets a token from google-auth's own exchange and impersonation."""
    cfke_google.bind(SA_EMAIL, f"principal://iam.googleapis.com/{cfke_google.provider.pool_name}/subject/"
                  "system:serviceaccount:default:default")  # fmt: skip
    _, out, _ = cli("inject", *CLOUD_FLAGS["gcp"], stdin=deployment())
    text = json.dumps(config_map_json(out))
    text = text.replace("https://sts.googleapis.com", cfke_google.url)
    text = text.replace("https://iamcredentials.googleapis.com", cfke_google.url)
    text = text.replace("/var/run/secrets/cfke.io/gcp/token", cfke_token_file.path)
    credentials = identity_pool.Credentials.from_info(
        json.loads(text), scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    credentials.refresh(Request())
    assert cfke_google.issued[credentials.token].service_account == SA_EMAIL


# -- docs/inject.md's worked example ----------------------------------------------------------------------------------


def _example() -> tuple[str, str, str]:
    """(input, shell command, output) of the worked example: the first yaml, bash and yaml blocks after its heading."""
    section = DOCS.read_text().split("## A worked example", 1)[1]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL)
    (_, given), (_, command), (_, shown) = [block for block in blocks if block[0] in ("yaml", "bash")][:3]
    return given, command, shown


def test_the_worked_example_of_the_docs_runs_as_shown(tmp_path: Path) -> None:
    given, command, shown = _example()
    (tmp_path / "checkout.yaml").write_text(given)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == shown
    validate(result.stdout)
