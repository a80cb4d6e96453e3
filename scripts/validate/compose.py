"""docker-compose.yml: the infrastructure services with pinned images, healthchecks and
depends_on conditions; the services that run our image run real commands; FLOW__ variables and
mounted configuration files name real keys."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from config_keys import ENV_PREFIX, config_file_errors, env_var_error
from dockerfile import DOCKERFILE, ImageFacts
from report import Report
from workspace import Workspace, load_yaml

COMPOSE = "docker-compose.yml"
INFRASTRUCTURE = {
    "kafka": "apache/kafka",
    "mariadb": "mariadb",
    "opensearch": "opensearchproject/opensearch",
    "opensearch-dashboards": "opensearchproject/opensearch-dashboards",
}


def compose_env(service: dict) -> list[tuple[str, object]]:
    """A service's environment as (name, value) pairs; value None when only the name is given."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return [(str(k), v) for k, v in env.items()]
    out = []
    for item in env:
        k, eq, v = str(item).partition("=")
        out.append((k, v if eq else None))
    return out


def as_argv(value) -> list[str] | None:
    """An entrypoint or command, in either of compose's forms, as an argv."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def check(root: Path, ws: Workspace, defaults, image: ImageFacts | None, report: Report) -> None:
    """Every compose check."""
    try:
        doc = load_yaml(root / COMPOSE)
        services = doc.get("services") if isinstance(doc, dict) else None
        if not isinstance(services, dict) or not services:
            raise ValueError("no services")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add(f"compose: {COMPOSE} parses", [f"{COMPOSE}: {e}"])
        return
    report.add(f"compose: {COMPOSE} parses", detail=f"{len(services)} services")
    check_images(services, report)
    check_healthchecks(services, report)
    check_commands(root, ws, services, image, report)
    check_env(services, defaults, report)
    check_mounts(root, services, defaults, image, report)


def check_images(services: dict, report: Report) -> None:
    """The infrastructure services exist, and every image that is not built is pinned to a tag."""
    errors = []
    for name, img in INFRASTRUCTURE.items():
        svc = services.get(name)
        if not isinstance(svc, dict) or not str(svc.get("image", "")).startswith(img + ":"):
            errors.append(f"service {name}: expected image {img}:<tag>")
    for name, svc in services.items():
        img = str(svc.get("image", ""))
        if "build" not in svc and (":" not in img.split("/")[-1] or img.endswith(":latest")):
            errors.append(f"service {name}: image {img!r} is not pinned to a tag")
    report.add("compose: infrastructure services with pinned images", errors)


def check_healthchecks(services: dict, report: Report) -> None:
    """Every service has a healthcheck; depends_on waits for health (or completion)."""
    errors = []
    for name, svc in services.items():
        hc = svc.get("healthcheck")
        if not isinstance(hc, dict) or hc.get("disable") or not hc.get("test"):
            errors.append(f"service {name}: no healthcheck")
        deps = svc.get("depends_on") or {}
        if isinstance(deps, list):
            errors.append(f"service {name}: depends_on is a list; use conditions (service_healthy)")
            deps = {d: {} for d in deps}
        for dep, spec in deps.items():
            if dep not in services:
                errors.append(f"service {name}: depends_on {dep!r}, which is no service")
            cond = (spec or {}).get("condition")
            if cond not in ("service_healthy", "service_completed_successfully"):
                errors.append(f"service {name}: depends_on {dep} has condition {cond!r}, expected service_healthy")
    report.add("compose: healthchecks and depends_on conditions", errors)


def check_commands(root: Path, ws: Workspace, services: dict, image: ImageFacts | None,
                   report: Report) -> None:
    """Each service that runs our image runs a real binary and subcommand (one check per service),
    and every build context exists."""
    ours_images = {str(s.get("image")) for s in services.values() if "build" in s and s.get("image")}
    errors = []
    for name, svc in services.items():
        build = svc.get("build")
        if build is not None:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = DOCKERFILE if isinstance(build, str) else build.get("dockerfile", DOCKERFILE)
            if not (root / ctx / dockerfile).exists():
                errors.append(f"service {name}: build {ctx}/{dockerfile} does not exist")
    for name, svc in services.items():
        if "build" in svc or str(svc.get("image")) in ours_images:
            check_service_command(ws, name, svc, image, report)
    if errors:
        report.add("compose: build contexts exist", errors)


def check_service_command(ws: Workspace, name: str, svc: dict, image: ImageFacts | None,
                          report: Report) -> None:
    """Service `name`, which runs our image, runs a real command (skipped for a profile-only
    service whose binary does not exist yet)."""
    entrypoint = as_argv(svc.get("entrypoint"))
    command = as_argv(svc.get("command"))
    if entrypoint is None:
        entrypoint = image.entrypoint if image else []
        if command is None:
            command = image.cmd if image else []
    argv = entrypoint + (command or [])
    binary = Path(argv[0]).name if argv else ""
    title = f"compose: service {name} runs a real command"
    if binary and binary not in ws.bins and svc.get("profiles"):
        report.add(title, skipped=(
            f"{binary!r} is not a bin target of the workspace yet (service is only in "
            f"profile(s) {', '.join(svc['profiles'])})"))
        return
    problem = ws.argv_error(argv)
    errs = [f"service {name}: {argv}: {problem}"] if problem else []
    if not problem and image and binary not in image.binaries:
        errs.append(f"service {name}: {binary!r} is not copied into the image by {DOCKERFILE}")
    report.add(title, errs, detail=" ".join(argv))


def check_env(services: dict, defaults, report: Report) -> None:
    """FLOW__ variables name real configuration keys with values of their type, quoted."""
    errors, count = [], 0
    for name, svc in services.items():
        for var, value in compose_env(svc):
            if var.startswith(ENV_PREFIX):
                count += 1
                if defaults is not None:
                    problem = env_var_error(var, value, defaults)
                    if problem:
                        errors.append(f"service {name}: {problem}")
            if isinstance(value, bool):
                errors.append(f"service {name}: {var}: a YAML boolean; quote it (\"{str(value).lower()}\")")
    report.add("compose: FLOW__ variables name real configuration keys", errors,
               detail=f"{count} variable(s)")


def _bind_mounts(root: Path, name: str, svc: dict, errors: list[str]) -> tuple[dict[str, Path], int]:
    """A service's relative bind mounts that exist, by target; problems go to `errors`."""
    mounts, count = {}, 0
    for vol in svc.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            source, target = (parts[0], parts[1]) if len(parts) >= 2 else (None, parts[0])
        else:
            source, target = vol.get("source"), vol.get("target")
            if vol.get("type", "volume") != "bind":
                source = None
        if source and (source.startswith(".") or source.startswith("/")):
            count += 1
            if source.startswith("/"):
                errors.append(f"service {name}: bind mount of absolute host path {source}")
            elif not (root / source).exists():
                errors.append(f"service {name}: mounts {source}, which does not exist")
            else:
                mounts[target] = root / source
    return mounts, count


def check_mounts(root: Path, services: dict, defaults, image: ImageFacts | None, report: Report) -> None:
    """Bind mounts exist (and are relative); a service's configuration file is mounted or in the
    image, and holds real keys."""
    errors, count = [], 0
    for name, svc in services.items():
        mounts, mounted = _bind_mounts(root, name, svc, errors)
        count += mounted
        config = dict(compose_env(svc)).get("FLOW_CONFIG")
        argv = (as_argv(svc.get("command")) or [])
        if "--config" in argv and argv.index("--config") + 1 < len(argv):
            config = argv[argv.index("--config") + 1]
        if not config:
            continue
        if config in mounts:
            if defaults is not None:
                try:
                    errors.extend(config_file_errors(load_yaml(mounts[config]), defaults,
                                                     f"service {name}: {config}"))
                except yaml.YAMLError as e:
                    errors.append(f"service {name}: {config}: {e}")
        elif not (image and config in image.files):
            errors.append(f"service {name}: FLOW_CONFIG {config} is neither mounted nor in the image")
    report.add("compose: mounted files exist and hold real configuration keys", errors,
               detail=f"{count} bind mount(s)")
