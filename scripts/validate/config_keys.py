"""Configuration keys as the binaries read them (mirrors pipeline-common/src/config/env.rs): the
keys of pipeline-common/src/config/defaults.yaml, FLOW__<SECTION>__<KEY> variables resolved with
the binaries' own rule, and configuration trees checked against those keys."""

from __future__ import annotations

import json

import rustcli

DEFAULTS_YAML = "pipeline-common/src/config/defaults.yaml"
ENV_PREFIX = "FLOW__"


def normalize(segment: str) -> str:
    """A key segment as the binaries compare it: case, `_` and `-` ignored."""
    return "".join(ch for ch in segment if ch not in "_-").lower()


def resolve_env(var: str, defaults: dict):
    """(real dotted path, default) for a FLOW__ variable, or None when it names no key."""
    if not var.startswith(ENV_PREFIX):
        return None
    node, path = defaults, []
    for segment in var[len(ENV_PREFIX):].split("__"):
        if not isinstance(node, dict):
            return None
        wanted = normalize(segment)
        hit = next(((k, v) for k, v in node.items() if normalize(str(k)) == wanted), None)
        if hit is None:
            return None
        path.append(str(hit[0]))
        node = hit[1]
    return (".".join(path), node) if path else None


def type_error(raw: str, default) -> str | None:
    """Why the binary would reject `raw` as the value of a key with this default, or None."""
    if rustcli.is_template(raw):
        return None
    if isinstance(default, bool):
        if raw.strip().lower() not in ("true", "1", "yes", "on", "false", "0", "no", "off"):
            return f"expected a boolean, found {raw!r}"
    elif isinstance(default, (int, float)):
        try:
            float(raw.strip())
        except ValueError:
            return f"expected a number, found {raw!r}"
    elif isinstance(default, list):
        text = raw.strip()
        if text.startswith("["):
            try:
                json.loads(text)
            except ValueError as e:
                return f"expected a JSON list: {e}"
        elif not all(isinstance(x, str) for x in default):
            return "expected a JSON list"
    elif isinstance(default, dict):
        try:
            json.loads(raw.strip())
        except ValueError as e:
            return f"expected a JSON object: {e}"
    return None


def env_var_error(var: str, raw, defaults: dict) -> str | None:
    """Why FLOW__ variable `var` (with value `raw`, None when unknown) would not configure a key."""
    hit = resolve_env(var, defaults)
    if hit is None:
        return f"{var} names no configuration key of {DEFAULTS_YAML}{_near(var, defaults)}"
    if raw is None:
        return None
    problem = type_error(str(raw), hit[1])
    return f"{var} (= {hit[0]}): {problem}" if problem else None


def _near(var: str, defaults: dict) -> str:
    segments = var[len(ENV_PREFIX):].split("__")
    node, seen = defaults, []
    for segment in segments:
        if not isinstance(node, dict):
            break
        hit = next((k for k in node if normalize(str(k)) == normalize(segment)), None)
        if hit is None:
            where = ".".join(seen) or "the top level"
            return f" ({where} has: {', '.join(map(str, node))})"
        seen.append(str(hit))
        node = node[hit]
    return ""


def key_paths(tree, prefix=""):
    """Dotted paths of the leaves of a nested mapping (lists and scalars are leaves)."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            p = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                yield from key_paths(v, p)
            else:
                yield p, v


def kind(value) -> str:
    """The YAML kind of a value, for messages: boolean, number, string, list, mapping or null."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return "null"


def config_file_errors(tree, defaults: dict, label: str) -> list[str]:
    """Keys of a configuration tree that the binaries would not know, or of the wrong kind."""
    errors = []
    if not isinstance(tree, dict):
        return [f"{label}: not a mapping"]
    for path, value in key_paths(tree):
        default = lookup(defaults, path)
        if default is MISSING:
            errors.append(f"{label}: {path}: no such key in {DEFAULTS_YAML}")
        elif value is not None and default is not None and kind(value) != kind(default):
            errors.append(f"{label}: {path}: is a {kind(value)}, the key is a {kind(default)}")
    return errors


MISSING = object()


def lookup(tree, path: str):
    """The value at a dotted path of a nested mapping, or MISSING."""
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node
