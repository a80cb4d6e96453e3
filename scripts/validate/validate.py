"""Static validation of flow-stream's shipping artifacts against the code.

Without Docker (and, but for helmcheck.py, without helm), checks that the Dockerfile,
docker-compose.yml, the Helm chart and azure-pipelines.yaml agree with what the workspace really
builds:

- the binaries and their subcommands, read from the clap definitions in the Rust sources
  (rustcli.py);
- the configuration keys, read at run time from pipeline-common/src/config/defaults.yaml, the single
  source of truth; FLOW__<SECTION>__<KEY> variables are resolved with the binaries' own rule (each
  segment matches a key ignoring case, `_` and `-`; see pipeline-common/src/config/env.rs);
- the files the artifacts copy, mount and run.

`run_checks(root, helm)` returns a Report (report.py): one Check per line, each ok, failed (with
precise messages) or skipped (with the reason). scripts/validate-artifacts prints it. One module
per artifact holds its checks, one function per check: dockerfile.py, compose.py, chart.py,
azure.py; config_keys.py and workspace.py are what they check against. Given a helm binary,
it also lints and renders the chart with it (helmcheck.py) and unit-tests the alerting rules with
promtool (alertcheck.py); without one those checks are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

import alertcheck
import azure
import chart
import compose
import dockerfile
import helmcheck
from azure import AZURE
from chart import CHART
from compose import COMPOSE
from config_keys import DEFAULTS_YAML, config_file_errors, env_var_error, key_paths, resolve_env
from dockerfile import DockerIgnore, parse_dockerfile
from report import Check, Report
from workspace import Workspace, load_yaml, load_yaml_all

__all__ = [
    "Check", "DockerIgnore", "Report", "env_var_error", "load_yaml", "parse_dockerfile",
    "resolve_env", "run_checks",
]


def run_checks(root: Path, helm: str | None = None) -> Report:
    """All checks of the checkout at root; the helm checks run with that helm binary, if any."""
    root = Path(root).resolve()
    report = Report()
    ws = Workspace.load(root)
    report.add("workspace: Cargo manifests and binaries", ws.errors,
               detail=", ".join(f"{b}" for b in sorted(ws.bins)))
    defaults = check_config(root, report)
    image = dockerfile.check(root, ws, defaults, report)
    compose.check(root, ws, defaults, image, report)
    chart.check(root, ws, defaults, image, report)
    check_yaml_files(root, report)
    azure.check(root, report)
    if helm:
        try:
            values = load_yaml(root / CHART / "values.yaml")
        except (OSError, yaml.YAMLError):
            values = None
        helmcheck.run(root, helm, values if isinstance(values, dict) else None, report)
        alertcheck.run(root, helm, report)
    else:
        helmcheck.skip_all(report, "no helm (--no-helm, or neither --helm nor $FLOW_HELM)")
        alertcheck.skip_all(report, "no helm (--no-helm, or neither --helm nor $FLOW_HELM)")
    return report


def check_config(root: Path, report: Report) -> dict | None:
    """defaults.yaml parses, and the shipped configuration files hold only its keys. Returns the
    defaults, or None when they do not parse."""
    try:
        defaults = load_yaml(root / DEFAULTS_YAML)
        if not isinstance(defaults, dict):
            raise ValueError("not a mapping")
        report.add(f"config: {DEFAULTS_YAML} parses", detail=f"{sum(1 for _ in key_paths(defaults))} keys")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add(f"config: {DEFAULTS_YAML} parses", [f"{DEFAULTS_YAML}: {e}"])
        return None
    errors = []
    shipped = sorted((root / "config").glob("pipeline-config*.yaml"))
    for f in shipped:
        try:
            errors.extend(config_file_errors(load_yaml(f), defaults, str(f.relative_to(root))))
        except yaml.YAMLError as e:
            errors.append(f"{f.relative_to(root)}: {e}")
    report.add("config: shipped configuration files hold only real keys", errors,
               detail=", ".join(str(f.relative_to(root)) for f in shipped))
    return defaults


def check_yaml_files(root: Path, report: Report) -> None:
    """Every plain YAML or JSON file the pipeline and the chart read parses."""
    files = [AZURE, COMPOSE, f"{CHART}/Chart.yaml", f"{CHART}/values.yaml"]
    errors = []
    for rel in files:
        try:
            load_yaml_all(root / rel)
        except (OSError, yaml.YAMLError) as e:
            errors.append(f"{rel}: {e}")
    try:
        json.loads((root / CHART / "values.schema.json").read_text())
        files.append(f"{CHART}/values.schema.json")
    except (OSError, ValueError) as e:
        errors.append(f"{CHART}/values.schema.json: {e}")
    report.add("yaml: every plain YAML/JSON file of the pipeline parses", errors, detail=", ".join(files))
