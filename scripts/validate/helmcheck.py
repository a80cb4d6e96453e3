"""Checks of charts/flow-stream with a real helm: `helm lint --strict` and `helm template`.

The static checks of chart.py read the templates as text; these run them. Three value sets are
rendered:

- the chart's defaults;
- every optional feature on, workers scaled by the HorizontalPodAutoscaler (`autoscaling`);
- every optional feature on, workers scaled by KEDA (`keda`).

autoscaling and keda are mutually exclusive (the chart `fail`s when both are on: KEDA manages its
own HPA), so "every feature on" takes two renders; a fourth run checks that both together are
refused. "Every optional feature" is every `enabled: false` flag of values.yaml, found by walking
the file, so a feature added later is switched on without editing this module; FEATURE_DATA adds
the values that make each feature render something real (pipelines for KEDA, peers for the
NetworkPolicies...), and also fills the optional lists and maps of the pods.

Each render must exit 0 and give a YAML stream of Kubernetes objects (kind, apiVersion and a valid
metadata.name; no duplicates), holding the kinds its flags ask for and none of the others.

`run(root, helm, values, report)` adds the checks to a validate.Report; `check_manifests` is the
pure part (rendered text -> errors), unit-tested without helm.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path

import yaml

import kubecheck

CHART = "charts/flow-stream"
RELEASE = "flow-stream"
NAMESPACE = "flow"
TIMEOUT_S = 120

CHECK_LINT = "helm: lint --strict (default values and every feature set)"
CHECK_DEFAULT = "helm: template with the default values renders valid objects"
CHECK_HPA = "helm: template with every optional feature on (HPA scaling) renders valid objects"
CHECK_KEDA = "helm: template with every optional feature on (KEDA scaling) renders valid objects"
CHECK_EXCLUSIVE = "helm: template refuses autoscaling and keda together"
ALL_CHECKS = (CHECK_LINT, CHECK_DEFAULT, CHECK_HPA, CHECK_KEDA, CHECK_EXCLUSIVE)

# The object kind each feature flag adds. A flag missing here is still switched on; only the
# presence of its objects goes unchecked.
FEATURE_KINDS = {
    "autoscaling.enabled": "HorizontalPodAutoscaler",
    "keda.enabled": "ScaledObject",
    "serviceMonitor.enabled": "ServiceMonitor",
    "networkPolicy.enabled": "NetworkPolicy",
    "mgmt.podDisruptionBudget.enabled": "PodDisruptionBudget",
    "worker.podDisruptionBudget.enabled": "PodDisruptionBudget",
    "prometheusRule.enabled": "PrometheusRule",
}
# The Grafana dashboard is a ConfigMap like the configuration; it is told apart by the label the
# Grafana sidecar watches (grafanaDashboard.sidecarLabel, by default this one).
DASHBOARD_FLAG = "grafanaDashboard.enabled"
DASHBOARD_LABEL = "grafana_dashboard"
SCALERS = ("autoscaling.enabled", "keda.enabled")

_DIGEST = "0123456789abcdef" * 4
# Values that give every feature (and the optional pod settings) something to render. They must
# satisfy values.schema.json: helm validates them against it, and a rejection is a chart bug.
FEATURE_DATA = {
    "image": {"tag": "1.2.3"},
    "imagePullSecrets": [{"name": "regcred"}],
    "commonLabels": {"team": "logs"},
    "serviceAccount": {"annotations": {"iam.example.invalid/role": "flow-stream"}},
    "environment": "prod",
    "configOverlay": {"log": {"logLevel": "info,pipeline_worker=debug"}},
    "config": {
        "mq": {"mqHost": "kafka.kafka.svc", "username": "flow", "mechanism": "SCRAM-SHA-512", "tls": True},
        "opensearch": {"urls": ["https://opensearch.search.svc:9200"], "username": "flow"},
        "database": {"url": "mysql://pipeline@mariadb.db.svc:3306/pipelines"},
        "geoip": {"database": "/geoip/GeoLite2-City.mmdb"},
    },
    "secrets": {
        "databaseUrl": "mysql://pipeline:secret@mariadb.db.svc:3306/pipelines",
        "mqPassword": "kafka-secret",
        "opensearchPassword": "opensearch-secret",
        "authTokens": [{"name": "ops", "role": "admin", "sha256": _DIGEST}],
        "asFiles": True,
    },
    "tls": {
        "ca": {"configMap": "flow-ca"},
        "clientSecret": "flow-client-tls",
        "kafka": {"clientCertificate": True},
        "opensearch": {"clientCertificate": True},
    },
    "extraVolumes": [{"name": "geoip", "persistentVolumeClaim": {"claimName": "geoip"}}],
    "extraVolumeMounts": [{"name": "geoip", "mountPath": "/geoip", "readOnly": True}],
    "autoscaling": {"targetMemoryUtilizationPercentage": 80},
    "keda": {"pipelines": ["nginx", "app.audit"], "authenticationRef": "kafka-sasl"},
    "serviceMonitor": {"labels": {"release": "prometheus"}},
    "prometheusRule": {"labels": {"release": "prometheus"}, "additionalLabels": {"team": "logs"}},
    "grafanaDashboard": {"annotations": {"grafana_folder": "Logs"}},
    "networkPolicy": {
        "apiFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}],
        "metricsFrom": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
        "egress": [{"to": [{"namespaceSelector": {}}]}],
    },
}
_POD_DATA = {
    "extraEnv": [{"name": "RUST_BACKTRACE", "value": "1"}],
    "podAnnotations": {"example.invalid/scrape": "true"},
    "podLabels": {"tier": "logs"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "logs", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [
            {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}}]}},
    "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                                   "whenUnsatisfiable": "ScheduleAnyway"}],
    "priorityClassName": "logs",
}
FEATURE_DATA["mgmt"] = copy.deepcopy(_POD_DATA)
FEATURE_DATA["worker"] = copy.deepcopy(_POD_DATA)

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


# --- value sets ---------------------------------------------------------------------------------


def feature_flags(values, prefix: str = "") -> list[str]:
    """Dotted paths of every `enabled` boolean of values.yaml (on or off)."""
    out = []
    if isinstance(values, dict):
        for k, v in values.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if k == "enabled" and isinstance(v, bool):
                out.append(path)
            else:
                out.extend(feature_flags(v, path))
    return out


def _set(tree: dict, path: str, value) -> None:
    *parents, leaf = path.split(".")
    for p in parents:
        tree = tree.setdefault(p, {})
    tree[leaf] = value


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def value_sets(values: dict) -> dict[str, tuple[str, dict, set[str]]]:
    """check name -> (short label, values overriding the defaults, the feature flags that are on)."""
    flags = feature_flags(values)
    default_on = {f for f in flags if _get(values, f) is True}

    def all_features(label: str, scaler: str, extra: dict) -> tuple[str, dict, set[str]]:
        overrides = copy.deepcopy(FEATURE_DATA)
        on = set()
        for f in flags:
            want = f == scaler or f not in SCALERS
            _set(overrides, f, want)
            if want:
                on.add(f)
        return label, _merge(overrides, extra), on

    return {
        CHECK_DEFAULT: ("default values", {}, default_on),
        CHECK_HPA: all_features("all features, HPA", "autoscaling.enabled", {}),
        # The KEDA render also takes the other Secret branch: a Secret brought by the user.
        CHECK_KEDA: all_features("all features, KEDA", "keda.enabled", {
            "secrets": {"create": False, "existingSecret": "flow-stream-secrets"}}),
    }


def _get(tree, path: str):
    for part in path.split("."):
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part)
    return tree


# --- the rendered manifests ---------------------------------------------------------------------


def check_manifests(text: str, on: set[str], flags: list[str]) -> tuple[list[str], list[dict]]:
    """Errors of a rendered YAML stream, and its objects. `on`: the feature flags switched on."""
    errors: list[str] = []
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        return [f"the rendered manifests are not YAML: {e}"], []
    objects, seen = [], set()
    for i, doc in enumerate(docs):
        if doc is None:
            continue  # an empty document: a template whose condition is off
        where = f"document {i + 1}"
        if not isinstance(doc, dict):
            errors.append(f"{where}: is a {type(doc).__name__}, not a Kubernetes object")
            continue
        kind, api = doc.get("kind"), doc.get("apiVersion")
        meta = doc.get("metadata")
        name = meta.get("name") if isinstance(meta, dict) else None
        where = f"{where} ({kind or '?'} {name or '?'})"
        problems = []
        if not isinstance(kind, str) or not kind:
            problems.append("no kind")
        if not isinstance(api, str) or not api:
            problems.append("no apiVersion")
        if not isinstance(name, str) or not name:
            problems.append("no metadata.name")
        elif len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            problems.append(f"metadata.name {name!r} is not a valid Kubernetes name")
        if not set(doc) - {"kind", "apiVersion", "metadata"}:
            problems.append("no content besides kind, apiVersion and metadata")
        if problems:
            errors.append(f"{where}: {', '.join(problems)}")
            continue
        key = (api.split("/")[0] if "/" in api else "", kind, name)
        if key in seen:
            errors.append(f"{where}: rendered twice")
        seen.add(key)
        objects.append(doc)
    if not objects:
        errors.append("rendered no Kubernetes object at all")
        return errors, objects

    # Counted over every document that names a kind, so that an object already reported as
    # malformed is not reported missing too.
    kinds = [d["kind"] for d in docs if isinstance(d, dict) and isinstance(d.get("kind"), str)]
    for kind in sorted(set(FEATURE_KINDS.values())):
        wanted = sum(1 for f, k in FEATURE_KINDS.items() if k == kind and f in on and f in flags)
        have = kinds.count(kind)
        if wanted and not have:
            errors.append(f"no {kind}, though {', '.join(f for f, k in FEATURE_KINDS.items() if k == kind and f in on)} is on")
        elif not wanted and have:
            errors.append(f"{have} {kind}(s), though no flag that creates one is on")
        elif kind == "PodDisruptionBudget" and have != wanted:
            errors.append(f"{have} PodDisruptionBudget(s) for {wanted} enabled flag(s)")
    dashboards = [o for o in objects if o["kind"] == "ConfigMap"
                  and DASHBOARD_LABEL in (o["metadata"].get("labels") or {})]
    if DASHBOARD_FLAG in flags:
        wanted = 1 if DASHBOARD_FLAG in on else 0
        if len(dashboards) != wanted:
            errors.append(f"{len(dashboards)} dashboard ConfigMap(s) (label {DASHBOARD_LABEL}) "
                          f"with {DASHBOARD_FLAG} {'on' if wanted else 'off'}")
    for d in dashboards:
        for key, text in (d.get("data") or {}).items():
            try:
                board = json.loads(text)
            except (TypeError, json.JSONDecodeError) as e:
                errors.append(f"dashboard ConfigMap {d['metadata']['name']}: {key} is not JSON: {e}")
                continue
            if not isinstance(board, dict) or not board.get("panels"):
                errors.append(f"dashboard ConfigMap {d['metadata']['name']}: {key} has no panels")
    for want in ("Deployment", "Service", "ConfigMap"):
        if want not in kinds:
            errors.append(f"no {want}")

    # The worker Deployment's replicas belong to the scaler when there is one, and the scaler
    # must point at that Deployment.
    workers = [o for o in objects if o["kind"] == "Deployment"
               and (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "worker"]
    if len(workers) != 1:
        errors.append(f"{len(workers)} worker Deployment(s), expected 1")
    else:
        worker = workers[0]
        scaled = any(f in on for f in SCALERS)
        has_replicas = "replicas" in (worker.get("spec") or {})
        if scaled and has_replicas:
            errors.append("the worker Deployment sets spec.replicas, though a scaler owns them")
        if not scaled and not has_replicas:
            errors.append("the worker Deployment sets no spec.replicas and nothing scales it")
        for o in objects:
            if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject"):
                target = ((o.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
                if target != worker["metadata"]["name"]:
                    errors.append(f"{o['kind']} {o['metadata']['name']} scales {target!r}, "
                                  f"not the worker Deployment {worker['metadata']['name']!r}")
    return errors, objects


def _summary(objects: list[dict]) -> str:
    counts: dict[str, int] = {}
    for o in objects:
        counts[o["kind"]] = counts.get(o["kind"], 0) + 1
    return f"{len(objects)} objects: " + ", ".join(
        f"{k}" + (f" x{n}" if n > 1 else "") for k, n in sorted(counts.items()))


# --- running helm ---------------------------------------------------------------------------------


def _helm(helm: str, args: list[str], env: dict) -> tuple[int, str, str]:
    try:
        p = subprocess.run([helm, *args], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 124, "", f"helm {args[0]} did not finish in {TIMEOUT_S}s"
    except OSError as e:
        return 127, "", f"cannot run {helm}: {e}"
    return p.returncode, p.stdout, p.stderr


def _error_lines(stdout: str, stderr: str, limit: int = 12) -> list[str]:
    """What helm said was wrong: lint's [ERROR]/[WARNING] findings, else its error message."""
    lines = [ln.strip() for ln in (stdout + "\n" + stderr).splitlines() if ln.strip()]
    findings = [ln for ln in lines if re.match(r"^\[(ERROR|WARNING)\]", ln)]
    if not findings:
        # A schema rejection spreads its reasons over the lines after `Error:`.
        findings = [ln for ln in stderr.splitlines() if ln.strip()] or lines[-limit:]
        findings = [ln.strip() for ln in findings if not ln.startswith("Use --debug flag")]
    return findings[:limit] or ["(helm printed nothing)"]


def run(root: Path, helm: str, values: dict | None, report) -> None:
    chart = str(Path(root) / CHART)
    if values is None:
        skip_all(report, f"{CHART}/values.yaml does not load")
        return
    with tempfile.TemporaryDirectory(prefix="flow-helm-") as tmp:
        # helm keeps its cache, configuration and plugins under $HOME; keep them out of it (and out
        # of whatever a developer configured) so that the same chart always renders the same.
        env = dict(os.environ)
        for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
            env[var] = str(Path(tmp) / var.lower())
        env["HELM_NO_PLUGINS"] = "1"
        flags = feature_flags(values)
        sets = value_sets(values)
        files: dict[str, list[str]] = {}
        for i, (name, (_, overrides, _)) in enumerate(sets.items()):
            files[name] = []
            if overrides:
                path = Path(tmp) / f"values-{i}.yaml"
                path.write_text(yaml.safe_dump(overrides, sort_keys=False))
                files[name] = ["-f", str(path)]

        errors = []
        for name, f in files.items():
            label = sets[name][0]
            rc, out, err = _helm(helm, ["lint", "--strict", chart, *f], env)
            if rc != 0:
                errors.extend(f"{label}: {line}" for line in _error_lines(out, err))
        report.add(CHECK_LINT, errors, detail="; ".join(s[0] for s in sets.values()))

        rendered: dict[str, tuple[str, list[dict]]] = {}
        for name, f in files.items():
            label = sets[name][0]
            rc, out, err = _helm(helm, ["template", RELEASE, chart, "--namespace", NAMESPACE, *f], env)
            if rc != 0:
                report.add(name, [f"helm template exited {rc}"] + _error_lines(out, err))
                continue
            errs, objects = check_manifests(out, sets[name][2], flags)
            report.add(name, errs, detail=_summary(objects) if objects else "")
            rendered[name] = (label, objects)
        kubecheck.run(rendered, report)

        both = _merge(sets[CHECK_HPA][1], {"keda": {"enabled": True}})
        path = Path(tmp) / "both-scalers.yaml"
        path.write_text(yaml.safe_dump(both, sort_keys=False))
        rc, out, err = _helm(helm, ["template", RELEASE, chart, "--namespace", NAMESPACE, "-f", str(path)], env)
        if rc == 0:
            errors = ["helm template rendered autoscaling.enabled and keda.enabled together; "
                      "two HPAs would fight over the workers"]
        elif "mutually exclusive" not in err:
            errors = ["helm template failed, but not for the scalers' exclusion:"] + _error_lines(out, err)
        else:
            errors = []
        report.add(CHECK_EXCLUSIVE, errors)


def skip_all(report, reason: str) -> None:
    for name in ALL_CHECKS:
        report.add(name, skipped=reason)
