"""The chart's rendered objects against the Kubernetes API schemas, offline, with
kubernetes-validate (PyPI; scripts/install-tools puts it in the tools venv).

Every object of every value set helmcheck renders is validated strictly (unknown fields are
errors) against the oldest and the newest Kubernetes version the package ships schemas for, from
the chart's kubeVersion floor (1.25) up. Custom resources (ServiceMonitor, PrometheusRule,
ScaledObject) have no schema there; they are listed, not failed.

`validate_objects(objects)` is the pure part: (errors, custom kinds).
"""

from __future__ import annotations

CHECK = "kubernetes-validate: every value set's rendered objects match the Kubernetes schemas"
FLOOR = "1.25.0"


def versions() -> list[str]:
    import kubernetes_validate.utils as kv

    known = sorted(set(kv.all_versions()), key=lambda v: tuple(int(p) for p in v.split(".")))
    return [known[known.index(FLOOR)] if FLOOR in known else known[0], known[-1]]


def validate_objects(objects: list[dict]) -> tuple[list[str], set[str]]:
    import kubernetes_validate.utils as kv

    errors, custom = [], set()
    for version in versions():
        for obj in objects:
            name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
            try:
                kv.validate(obj, version, strict=True)
            except kv.SchemaNotFoundError:
                custom.add(str(obj.get("kind")))
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                errors.append(f"{name} (Kubernetes {version}): {path}: {e.message}")
            except kv.InvalidSchemaError as e:
                errors.append(f"{name} (Kubernetes {version}): invalid schema: {e}")
    return errors, custom


def run(rendered: dict[str, tuple[str, list[dict]]], report) -> None:
    """`rendered`: check name -> (label, objects) of each value set helmcheck rendered."""
    try:
        import kubernetes_validate  # noqa: F401
    except ImportError:
        report.add(CHECK, ["kubernetes-validate is not installed: run scripts/install-tools "
                           "(it goes into the tools venv, $FLOW_PYTHON)"])
        return
    errors, custom, count = [], set(), 0
    for label, objects in rendered.values():
        errs, kinds = validate_objects(objects)
        errors.extend(f"{label}: {e}" for e in errs)
        custom |= kinds
        count += len(objects)
    detail = f"{count} objects in {len(rendered)} value sets, Kubernetes {' and '.join(versions())}"
    if custom:
        detail += f"; no schema for the custom resources {', '.join(sorted(custom))}"
    report.add(CHECK, errors, detail=detail)
