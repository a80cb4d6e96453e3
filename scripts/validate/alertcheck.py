"""Checks of the chart's alerting rules and Grafana dashboard, on what `helm template` renders.

- The PrometheusRule (rules in charts/flow-stream/files/alerts.yaml, thresholds from values.yaml)
  must pass `promtool check rules` and `promtool test rules` with alerts.test.yaml beside this
  module, which feeds series that must make each alert fire and series that must not.
- Every metric that the rules and the dashboard query must be one the code exports: a name in a
  `counter!`/`gauge!`/`histogram!` call or a `&str` constant of the metrics modules of
  pipeline-worker and pipeline-mgmt (histograms also as `_bucket`, `_sum` and `_count`).

Both need helm (skipped without one, like the other helm checks); the first also needs promtool:
$FLOW_PROMTOOL, else `promtool` on PATH (scripts/install-tools installs Debian's). A missing
promtool is a failure, not a skip, so that the suite cannot pass without running the rule tests.

`run(root, helm, report)` adds the checks to a validate.Report; `metric_names` and
`queried_metrics` are the pure parts, unit-tested without helm.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

import helmcheck

CHECK_RULES = "alerts: promtool check rules and test rules on the rendered PrometheusRule"
CHECK_METRICS = "alerts: the rules and the dashboard query only metrics the code exports"
ALL_CHECKS = (CHECK_RULES, CHECK_METRICS)

TEST_FILE = Path(__file__).resolve().parent / "alerts.test.yaml"
# Where the exported metric names are defined.
METRIC_SOURCES = ("pipeline-worker/src", "pipeline-mgmt/src")
_METRIC_FILE = re.compile(r"metrics")
_MACRO = re.compile(r"\b(?:counter|gauge|histogram)!\(\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
_CONST = re.compile(r"\bconst\s+[A-Z_]+\s*:\s*&str\s*=\s*\"([a-zA-Z_:][a-zA-Z0-9_:]*)\"")
# A metric name in PromQL, as every query here writes it: followed by its label selector.
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}


def metric_names(root: Path) -> set[str]:
    """Metric names exported by the code, with the series names of histograms."""
    names: set[str] = set()
    for src in METRIC_SOURCES:
        for f in sorted((Path(root) / src).rglob("*.rs")):
            if not _METRIC_FILE.search(f.name):
                continue
            text = f.read_text()
            names.update(_MACRO.findall(text))
            names.update(_CONST.findall(text))
    return names | {f"{n}{suffix}" for n in names for suffix in ("_bucket", "_sum", "_count")}


def queried_metrics(expr: str) -> set[str]:
    """Metric names an expression selects (`name{...}`)."""
    return {m for m in _SELECTOR.findall(expr) if m not in _PROMQL_WORDS}


def _promtool() -> str | None:
    return os.environ.get("FLOW_PROMTOOL") or shutil.which("promtool")


def _run(cmd: list[str], cwd: Path) -> tuple[int, str]:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=helmcheck.TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 124, f"{cmd[0]} did not finish in {helmcheck.TIMEOUT_S}s"
    except OSError as e:
        return 127, f"cannot run {cmd[0]}: {e}"
    return p.returncode, p.stdout + p.stderr


def _render(root: Path, helm: str, tmp: Path) -> tuple[list[dict], list[str]]:
    """The objects of a render with the default values plus the rules and the dashboard on."""
    values = tmp / "alerts-values.yaml"
    values.write_text(yaml.safe_dump({"prometheusRule": {"enabled": True},
                                      "grafanaDashboard": {"enabled": True}}))
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(tmp / var.lower())
    env["HELM_NO_PLUGINS"] = "1"
    rc, out, err = helmcheck._helm(helm, ["template", helmcheck.RELEASE, str(Path(root) / helmcheck.CHART),
                                          "--namespace", helmcheck.NAMESPACE, "-f", str(values)], env)
    if rc != 0:
        return [], [f"helm template exited {rc}"] + helmcheck._error_lines(out, err)
    try:
        return [d for d in yaml.safe_load_all(out) if isinstance(d, dict)], []
    except yaml.YAMLError as e:
        return [], [f"the rendered manifests are not YAML: {e}"]


def run(root: Path, helm: str, report) -> None:
    with tempfile.TemporaryDirectory(prefix="flow-alerts-") as tmp_name:
        tmp = Path(tmp_name)
        objects, errors = _render(root, helm, tmp)
        if errors:
            for name in ALL_CHECKS:
                report.add(name, errors)
            return
        rules = [o for o in objects if o.get("kind") == "PrometheusRule"]
        boards = []
        for o in objects:
            if o.get("kind") == "ConfigMap" and helmcheck.DASHBOARD_LABEL in ((o.get("metadata") or {}).get("labels") or {}):
                for text in (o.get("data") or {}).values():
                    try:
                        boards.append(json.loads(text))
                    except (TypeError, json.JSONDecodeError):
                        pass  # reported by the helm template checks
        if len(rules) != 1:
            report.add(CHECK_RULES, [f"{len(rules)} PrometheusRule(s) rendered with prometheusRule.enabled, expected 1"])
        else:
            _check_rules(rules[0].get("spec") or {}, tmp, report)

        known = metric_names(root)
        exprs = [(f"alert {r.get('alert', r.get('record', '?'))}", str(r.get("expr", "")))
                 for o in rules for g in (o.get("spec") or {}).get("groups") or [] for r in g.get("rules") or []]
        exprs += [(f"dashboard panel {p.get('title', '?')!r}", str(t.get("expr", "")))
                  for b in boards for p in b.get("panels") or [] for t in p.get("targets") or []]
        errors = [f"{where} queries {m}, which the code does not export"
                  for where, expr in exprs for m in sorted(queried_metrics(expr) - known)]
        if not boards:
            errors.append("no dashboard ConfigMap rendered with grafanaDashboard.enabled")
        report.add(CHECK_METRICS, errors, detail=f"{len(exprs)} queries")


def _check_rules(spec: dict, tmp: Path, report) -> None:
    promtool = _promtool()
    if not promtool:
        report.add(CHECK_RULES, ["no promtool: set FLOW_PROMTOOL or run scripts/install-tools "
                                 "(Debian's prometheus package)"])
        return
    (tmp / "rules.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    shutil.copy(TEST_FILE, tmp / TEST_FILE.name)
    errors = []
    rc, out = _run([promtool, "check", "rules", "rules.yaml"], tmp)
    if rc != 0:
        errors.append("promtool check rules failed:")
        errors.extend(ln.strip() for ln in out.splitlines() if ln.strip())
    else:
        rc, out = _run([promtool, "test", "rules", TEST_FILE.name], tmp)
        if rc != 0:
            errors.append("promtool test rules failed:")
            errors.extend(ln.rstrip() for ln in out.splitlines() if ln.strip())
    alerts = sum(len(g.get("rules") or []) for g in spec.get("groups") or [])
    tests = len((yaml.safe_load(TEST_FILE.read_text()) or {}).get("tests") or [])
    report.add(CHECK_RULES, errors, detail=f"{alerts} rules, {tests} test groups")


def skip_all(report, reason: str) -> None:
    for name in ALL_CHECKS:
        report.add(name, skipped=reason)
