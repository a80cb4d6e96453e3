"""azure-pipelines.yaml: the stages the release needs, SDP_VERSION, the commands each stage runs,
and the repository paths it refers to."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from report import Report
from workspace import load_yaml

AZURE = "azure-pipelines.yaml"
REQUIRED_STAGES = ("Checks", "CodeAnalysis", "Images", "Helm")
TITLE = "azure-pipelines: stages, SDP_VERSION and the commands it runs"
# What each stage must run (in its scripts or its task inputs).
EXPECTED = {
    "Checks": ["cargo fmt", "--check", "cargo clippy", "-D warnings", "scripts/test"],
    "CodeAnalysis": [],
    "Images": ["docker buildx build", "linux/amd64", "linux/arm64", "--push"],
    "Helm": ["helm lint", "helm package", "helm push"],
}


def walk(node):
    """Every node of a YAML tree, depth first."""
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def defines_variable(variables, name: str) -> bool:
    """Whether a `variables:` tree (list or mapping form) defines `name`."""
    for node in walk(variables):
        if isinstance(node, dict) and (node.get("name") == name or name in node):
            return True
    return False


def scripts_of(stage) -> str:
    """The scripts a stage runs, and its tasks as `task:<name>`, one per line."""
    out = []
    for node in walk(stage):
        if isinstance(node, dict):
            for k in ("bash", "script", "pwsh", "powershell"):
                if isinstance(node.get(k), str):
                    out.append(node[k])
            if isinstance(node.get("task"), str):
                out.append("task:" + node["task"])
    return "\n".join(out)


def check(root: Path, report: Report) -> None:
    """The one azure-pipelines check."""
    try:
        doc = load_yaml(root / AZURE)
        if not isinstance(doc, dict):
            raise ValueError("not a mapping")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add(TITLE, [f"{AZURE}: {e}"])
        return
    stages = {s.get("stage"): s for s in doc.get("stages") or [] if isinstance(s, dict)}
    errors = []
    for want in REQUIRED_STAGES:
        if want not in stages:
            errors.append(f"{AZURE}: no stage {want!r} (stages: {', '.join(map(str, stages))})")
    if not defines_variable(doc.get("variables"), "SDP_VERSION"):
        errors.append(f"{AZURE}: no variable SDP_VERSION")
    if "oci://" not in json.dumps(doc):
        errors.append(f"{AZURE}: the chart is not pushed to an OCI registry (no oci:// reference)")
    errors += stage_command_errors(stages) + code_analysis_errors(stages) + path_errors(root, doc)
    report.add(TITLE, errors, detail=", ".join(s for s in stages if s))


def stage_command_errors(stages: dict) -> list[str]:
    """Each stage runs what EXPECTED says."""
    errors = []
    for stage, needles in EXPECTED.items():
        if stage not in stages:
            continue
        text = scripts_of(stages[stage]) + json.dumps(stages[stage])
        for needle in needles:
            if needle not in text:
                errors.append(f"{AZURE}: stage {stage} does not run {needle!r}")
    return errors


def code_analysis_errors(stages: dict) -> list[str]:
    """CodeAnalysis runs cargo deny or cargo audit, and SonarQube behind RUN_SONAR."""
    if "CodeAnalysis" not in stages:
        return []
    errors = []
    text = scripts_of(stages["CodeAnalysis"])
    if "cargo deny" not in text and "cargo audit" not in text:
        errors.append(f"{AZURE}: stage CodeAnalysis runs neither cargo deny nor cargo audit")
    if "task:SonarQube" not in text:
        errors.append(f"{AZURE}: stage CodeAnalysis has no SonarQube task")
    elif "RUN_SONAR" not in json.dumps(stages["CodeAnalysis"]):
        errors.append(f"{AZURE}: the SonarQube task is not behind the RUN_SONAR variable")
    return errors


def path_errors(root: Path, doc: dict) -> list[str]:
    """Every scripts/… or charts/… path the pipeline names exists."""
    errors = []
    for node in walk(doc):
        if isinstance(node, str):
            for ref in re.findall(r"(?<![\w/.-])((?:scripts|charts)/[A-Za-z0-9_./-]+)", node):
                if not (root / ref.rstrip(".")).exists():
                    errors.append(f"{AZURE}: refers to {ref}, which does not exist")
    return errors
