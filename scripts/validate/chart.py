"""charts/flow-stream, read as text without rendering (helmcheck.py renders it with a real helm):
Chart.yaml and the templates present, values.yaml valid against values.schema.json and holding
exactly the configuration keys, balanced template actions, real .Values references, FLOW__
variables and secretKeyRefs, containers that run real binaries with probes and resources, and
secure defaults."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

import rustcli
from config_keys import DEFAULTS_YAML, MISSING, env_var_error, key_paths, kind, lookup
from dockerfile import ImageFacts
from report import Report
from workspace import Workspace, load_yaml

CHART = "charts/flow-stream"
CHART_TEMPLATES = (
    "_helpers.tpl", "configmap.yaml", "secret.yaml", "deployment-mgmt.yaml", "service-mgmt.yaml",
    "deployment-worker.yaml", "pdb.yaml", "hpa.yaml", "keda-scaledobject.yaml",
    "servicemonitor.yaml", "networkpolicy.yaml", "NOTES.txt",
)
SECRET_VARS = ("FLOW__AUTH__TOKENS", "FLOW__DATABASE__URL", "FLOW__MQ__PASSWORD", "FLOW__OPENSEARCH__PASSWORD")

_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)


def _template_lines(text: str):
    for n, line in enumerate(text.splitlines(), 1):
        yield n, line


def _containers(text: str):
    """(line, name, command, args) of each container in a template, read without rendering."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)- name:\s*(\S+)\s*$", line)
        if not m:
            continue
        indent = len(m.group(1)) + 2
        block, j = [], i + 1
        while j < len(lines):
            nxt = lines[j]
            if nxt.strip() and not nxt.strip().startswith("{{") and len(nxt) - len(nxt.lstrip()) < indent:
                break
            block.append(nxt)
            j += 1
        keys = {}
        k = 0
        while k < len(block):
            km = re.match(r"^(\s*)(command|args|image):\s*(.*)$", block[k])
            if km and len(km.group(1)) == indent:
                rest = km.group(3).strip()
                if rest and not rest.startswith("#"):
                    keys[km.group(2)] = rest
                else:
                    items = []
                    k += 1
                    while k < len(block) and re.match(r"^\s*- ", block[k]) and \
                            len(block[k]) - len(block[k].lstrip()) >= indent:
                        items.append(block[k].strip()[2:])
                        k += 1
                    keys[km.group(2)] = items
                    continue
            k += 1
        if "image" not in keys:
            continue
        def as_list(v):
            # Template actions become a placeholder that check_argv treats as "any value".
            if v is None:
                return None
            try:
                if isinstance(v, list):
                    return [str(yaml.safe_load(_ACTION.sub(rustcli.TEMPLATE, x)) or "") for x in v]
                value = yaml.safe_load(_ACTION.sub(rustcli.TEMPLATE, v))
            except yaml.YAMLError:
                return [rustcli.TEMPLATE]
            return [str(x) for x in value] if isinstance(value, list) else [str(value)]
        out.append((i + 1, m.group(2), as_list(keys.get("command")), as_list(keys.get("args"))))
    return out


_CHECKED_SCHEMAS: set[str] = set()  # schema texts already known to be valid draft-07

def check(root: Path, ws: Workspace, defaults, image: ImageFacts | None, report: Report) -> None:
    """Every static chart check."""
    chart = root / CHART
    check_files(chart, report)
    values, schema = load_values(chart, report)
    if values is not None and schema is not None:
        check_values_schema(values, schema, report)
    if values is not None and defaults is not None:
        check_values_config(values, defaults, report)
    templates = sorted((chart / "templates").glob("*")) if (chart / "templates").is_dir() else []
    texts = {t: t.read_text(encoding="utf-8") for t in templates if t.is_file()}
    check_actions(texts, report)
    if values is not None:
        check_values_refs(texts, values, report)
    check_env(chart, texts, defaults, report)
    check_containers(ws, texts, image, report)
    if values is not None:
        check_secure_defaults(values, report)


def check_files(chart: Path, report: Report) -> None:
    """Chart.yaml (apiVersion v2, name, version, appVersion) and every template are there."""
    errors = []
    try:
        meta = load_yaml(chart / "Chart.yaml")
        for key in ("apiVersion", "name", "version", "appVersion"):
            if not isinstance(meta, dict) or not meta.get(key):
                errors.append(f"{CHART}/Chart.yaml: no {key}")
        if isinstance(meta, dict) and meta.get("apiVersion") != "v2":
            errors.append(f"{CHART}/Chart.yaml: apiVersion is {meta.get('apiVersion')!r}, expected v2")
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{CHART}/Chart.yaml: {e}")
    for name in CHART_TEMPLATES:
        if not (chart / "templates" / name).exists():
            errors.append(f"{CHART}/templates/{name} is missing")
    report.add("chart: Chart.yaml and the templates are present", errors)


def load_values(chart: Path, report: Report) -> tuple[dict | None, dict | None]:
    """values.yaml (a mapping) and values.schema.json (a valid draft-07 schema), each None when it
    does not parse."""
    errors = []
    try:
        values = load_yaml(chart / "values.yaml")
        if not isinstance(values, dict):
            raise ValueError("values.yaml is not a mapping")
    except (OSError, yaml.YAMLError, ValueError) as e:
        errors.append(f"{CHART}/values.yaml: {e}")
        values = None
    schema = load_schema(chart, errors)
    report.add("chart: values.yaml and values.schema.json parse", errors)
    return values, schema


def load_schema(chart: Path, errors: list[str]) -> dict | None:
    """values.schema.json, checked to be draft-07 (once per text); problems go to `errors`."""
    try:
        import jsonschema

        schema_text = (chart / "values.schema.json").read_text()
        schema = json.loads(schema_text)
        if schema_text not in _CHECKED_SCHEMAS:
            jsonschema.Draft7Validator.check_schema(schema)
            _CHECKED_SCHEMAS.add(schema_text)
        if "draft-07" not in str(schema.get("$schema", "")):
            errors.append(f"{CHART}/values.schema.json: $schema is not draft-07")
        return schema
    except (OSError, ValueError) as e:
        errors.append(f"{CHART}/values.schema.json: {e}")
    except Exception as e:  # jsonschema.SchemaError
        errors.append(f"{CHART}/values.schema.json: not a valid draft-07 schema: {getattr(e, 'message', e)}")
    return None


def check_values_schema(values: dict, schema: dict, report: Report) -> None:
    """values.yaml satisfies values.schema.json."""
    import jsonschema

    errors = []
    for err in sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
        errors.append(f"values.yaml {where}: {err.message}")
    report.add("chart: values.yaml satisfies values.schema.json", errors)


def check_values_config(values: dict, defaults: dict, report: Report) -> None:
    """values.yaml `config:` holds exactly the keys of defaults.yaml, each of the key's kind."""
    errors = []
    config = values.get("config")
    if not isinstance(config, dict):
        errors.append("values.yaml has no `config:` mapping")
    else:
        for path, value in key_paths(config):
            default = lookup(defaults, path)
            if default is MISSING:
                errors.append(f"values.yaml config.{path}: no such key in {DEFAULTS_YAML}")
            elif value is not None and kind(value) != kind(default):
                errors.append(f"values.yaml config.{path}: is a {kind(value)}, "
                              f"{DEFAULTS_YAML} has a {kind(default)}")
        for path, _ in key_paths(defaults):
            if lookup(config, path) is MISSING:
                errors.append(f"values.yaml config.{path}: missing ({DEFAULTS_YAML} has the key)")
    report.add("chart: values.yaml config holds exactly the keys of defaults.yaml", errors,
               detail=f"{sum(1 for _ in key_paths(defaults))} keys")


def check_actions(texts: dict[Path, str], report: Report) -> None:
    """Every if/with/range/define/block action is closed by an `end`, and {{ }} balance."""
    errors = []
    for t, text in texts.items():
        depth = 0
        for n, line in _template_lines(text):
            for action in _ACTION.findall(line):
                word = action.split()[0] if action.split() else ""
                if word in ("if", "with", "range", "define", "block"):
                    depth += 1
                elif word == "end":
                    depth -= 1
                    if depth < 0:
                        errors.append(f"{CHART}/templates/{t.name}:{n}: `end` without an opening action")
                        depth = 0
        if depth:
            errors.append(f"{CHART}/templates/{t.name}: {depth} action(s) (if/with/range/define) never closed")
        if text.count("{{") != text.count("}}"):
            errors.append(f"{CHART}/templates/{t.name}: unbalanced {{{{ }}}}")
    report.add("chart: template actions are balanced", errors, detail=f"{len(texts)} files")


def _values_ref_problem(values: dict, parts: list[str]) -> str | None:
    node, seen = values, []
    for part in parts:
        if not isinstance(node, dict):
            return f".Values.{'.'.join(seen)} is a {kind(node)}, not a mapping"
        if part not in node:
            return "no such value in values.yaml"
        seen.append(part)
        node = node[part]
    return None


def check_values_refs(texts: dict[Path, str], values: dict, report: Report) -> None:
    """Every .Values reference of the templates names a value of values.yaml."""
    errors, refs = [], 0
    for t, text in texts.items():
        for n, line in _template_lines(text):
            for m in _VALUES_REF.finditer(line):
                refs += 1
                parts = m.group(1).strip(".").split(".")
                problem = _values_ref_problem(values, parts)
                if problem:
                    errors.append(f"{CHART}/templates/{t.name}:{n}: .Values.{'.'.join(parts)}: {problem}")
    report.add("chart: every .Values reference of the templates exists in values.yaml", errors,
               detail=f"{refs} references")


def check_env(chart: Path, texts: dict[Path, str], defaults, report: Report) -> None:
    """FLOW__ variables of the templates name real keys; the secret ones come from a secretKeyRef."""
    errors, count = [], 0
    for t, text in texts.items():
        for n, line in _template_lines(text):
            for var in re.findall(r"\b(FLOW__[A-Za-z0-9_]+)", line):
                count += 1
                if defaults is not None:
                    problem = env_var_error(var, None, defaults)
                    if problem:
                        errors.append(f"{CHART}/templates/{t.name}:{n}: {problem}")
    helpers = texts.get(chart / "templates" / "_helpers.tpl", "") + "".join(texts.values())
    for var in SECRET_VARS:
        m = re.search(rf"name: {var}\s*\n\s*valueFrom:\s*\n\s*secretKeyRef:", helpers)
        if not m:
            errors.append(f"{CHART}/templates: {var} is not set from a secretKeyRef")
    report.add("chart: FLOW__ variables name real keys; secrets come from secretKeyRef", errors,
               detail=f"{count} variable(s)")


def _container_errors(ws: Workspace, template: Path, text: str, image: ImageFacts | None,
                      found: list[str]) -> list[str]:
    """Problems of one Deployment template's containers, probes and resources; each container's
    command line goes to `found`."""
    errors = []
    for line, name, command, args in _containers(text):
        entry = command if command is not None else (image.entrypoint if image else [])
        rest = args if args is not None else ([] if command is not None else (image.cmd if image else []))
        argv = entry + rest
        found.append(" ".join(argv))
        problem = ws.argv_error(argv)
        if problem:
            errors.append(f"{CHART}/templates/{template.name}:{line}: container {name}: {argv}: {problem}")
        elif image and Path(argv[0]).name not in image.binaries:
            errors.append(f"{CHART}/templates/{template.name}:{line}: container {name}: "
                          f"{argv[0]!r} is not in the image")
    if "path: /healthz" not in text or "livenessProbe" not in text:
        errors.append(f"{CHART}/templates/{template.name}: no livenessProbe on /healthz")
    if "path: /readyz" not in text or "readinessProbe" not in text:
        errors.append(f"{CHART}/templates/{template.name}: no readinessProbe on /readyz")
    if "resources:" not in text:
        errors.append(f"{CHART}/templates/{template.name}: no resources")
    return errors


def check_containers(ws: Workspace, texts: dict[Path, str], image: ImageFacts | None, report: Report) -> None:
    """The Deployments' containers run real binaries and subcommands that the image holds, with
    probes and resources; mgmt and the worker each have one."""
    errors, found = [], []
    for t, text in texts.items():
        if t.name.startswith("deployment"):
            errors.extend(_container_errors(ws, t, text, image, found))
    binaries_run = {a.split()[0] for a in found if a}
    for want in ("pipeline-mgmt", "pipeline-worker"):
        if want in ws.bins and want not in binaries_run:
            errors.append(f"{CHART}/templates: no Deployment runs {want}")
    report.add("chart: container commands name real binaries and subcommands; probes and resources", errors,
               detail="; ".join(found))


def check_secure_defaults(values: dict, report: Report) -> None:
    """Non-root, a read-only root filesystem, no capabilities, and bounded resources."""
    errors = []
    for component in ("mgmt", "worker"):
        res = (values.get(component) or {}).get("resources") or {}
        if not (res.get("limits") or {}).get("memory") or not (res.get("requests") or {}).get("cpu"):
            errors.append(f"values.yaml {component}.resources: needs requests.cpu and limits.memory")
    sc = values.get("securityContext") or {}
    psc = values.get("podSecurityContext") or {}
    if not psc.get("runAsNonRoot") and not sc.get("runAsNonRoot"):
        errors.append("values.yaml: runAsNonRoot is not set")
    if sc.get("readOnlyRootFilesystem") is not True:
        errors.append("values.yaml securityContext.readOnlyRootFilesystem is not true")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        errors.append("values.yaml securityContext.capabilities.drop lacks ALL")
    report.add("chart: secure and bounded defaults (non-root, read-only, no capabilities, limits)", errors)
