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

`run_checks(root, helm)` returns a Report: one Check per line, each ok, failed (with precise
messages) or skipped (with the reason). scripts/validate-artifacts prints it. Given a helm binary,
it also lints and renders the chart with it (helmcheck.py) and unit-tests the alerting rules with
promtool (alertcheck.py); without one those checks are skipped.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

import alertcheck
import helmcheck
import rustcli

DEFAULTS_YAML = "pipeline-common/src/config/defaults.yaml"
COMPOSE = "docker-compose.yml"
DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
CHART = "charts/flow-stream"
AZURE = "azure-pipelines.yaml"
ENV_PREFIX = "FLOW__"
REQUIRED_STAGES = ("Checks", "CodeAnalysis", "Images", "Helm")
CHART_TEMPLATES = (
    "_helpers.tpl", "configmap.yaml", "secret.yaml", "deployment-mgmt.yaml", "service-mgmt.yaml",
    "deployment-worker.yaml", "pdb.yaml", "hpa.yaml", "keda-scaledobject.yaml",
    "servicemonitor.yaml", "networkpolicy.yaml", "NOTES.txt",
)


# --- report ------------------------------------------------------------------------------------


@dataclass
class Check:
    name: str
    errors: list[str] = field(default_factory=list)
    skipped: str | None = None
    detail: str = ""

    @property
    def status(self) -> str:
        if self.errors:
            return "FAIL"
        return "skip" if self.skipped else "ok"


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, errors=None, skipped: str | None = None, detail: str = "") -> Check:
        c = Check(name, list(errors or []), skipped, detail)
        self.checks.append(c)
        return c

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAIL"]

    def get(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def lines(self) -> list[str]:
        out = []
        for c in self.checks:
            text = f"{c.status:<5}{c.name}"
            if c.detail and not c.errors:
                text += f" ({c.detail})"
            if c.skipped and not c.errors:
                text += f": {c.skipped}"
            out.append(text)
            out.extend(f"       - {e}" for e in c.errors)
        return out


# --- configuration keys (mirrors pipeline-common/src/config/env.rs) ---------------------------------


def normalize(segment: str) -> str:
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


def _kind(value) -> str:
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
        default = _lookup(defaults, path)
        if default is _MISSING:
            errors.append(f"{label}: {path}: no such key in {DEFAULTS_YAML}")
        elif value is not None and default is not None and _kind(value) != _kind(default):
            errors.append(f"{label}: {path}: is a {_kind(value)}, the key is a {_kind(default)}")
    return errors


_MISSING = object()


def _lookup(tree, path: str):
    node = tree
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


# --- the workspace -----------------------------------------------------------------------------


@dataclass
class Workspace:
    root: Path
    bins: dict[str, Path] = field(default_factory=dict)  # bin name -> package dir
    packages: dict[str, list[str]] = field(default_factory=dict)  # package -> its bin names
    errors: list[str] = field(default_factory=list)
    _clis: dict = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> "Workspace":
        ws = cls(root)
        manifest = root / "Cargo.toml"
        if tomllib is None:
            ws.errors.append("Python >= 3.11 (tomllib) is needed to read Cargo.toml")
            return ws
        try:
            top = tomllib.loads(manifest.read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            ws.errors.append(f"Cargo.toml: {e}")
            return ws
        members = []
        for pattern in top.get("workspace", {}).get("members", []):
            members.extend(sorted(glob.glob(str(root / pattern))))
        for member in members:
            mdir = Path(member)
            try:
                pkg = tomllib.loads((mdir / "Cargo.toml").read_text())
            except (OSError, tomllib.TOMLDecodeError) as e:
                ws.errors.append(f"{mdir.relative_to(root)}/Cargo.toml: {e}")
                continue
            name = pkg.get("package", {}).get("name", mdir.name)
            bins = [b["name"] for b in pkg.get("bin", []) if "name" in b]
            if pkg.get("package", {}).get("autobins", True):
                if (mdir / "src/main.rs").exists() and name not in bins:
                    bins.append(name)
                for extra in sorted((mdir / "src/bin").glob("*.rs")):
                    if extra.stem not in bins:
                        bins.append(extra.stem)
            ws.packages[name] = bins
            for b in bins:
                ws.bins[b] = mdir
        return ws

    def cli(self, bin_name: str):
        if bin_name not in self._clis:
            mdir = self.bins.get(bin_name)
            self._clis[bin_name] = (
                rustcli.CliModel.from_dir(mdir / "src").root_for(bin_name) if mdir else None)
        return self._clis[bin_name]

    def argv_error(self, argv: list[str]) -> str | None:
        """Why a container argv (binary first) is not one of our binaries' command lines."""
        if not argv:
            return "no command at all"
        binary = Path(str(argv[0])).name
        if binary not in self.bins:
            return (f"{binary!r} is not a bin target of the workspace "
                    f"(bins: {', '.join(sorted(self.bins))})")
        cli = self.cli(binary)
        if cli is None:
            return f"found no clap Parser for {binary} in {self.bins[binary].name}/src"
        return rustcli.check_argv(cli, [str(a) for a in argv[1:]])


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML has it


def load_yaml(path: Path):
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def load_yaml_all(path: Path):
    with path.open(encoding="utf-8") as f:
        return list(yaml.load_all(f, Loader=_Loader))


# --- Dockerfile --------------------------------------------------------------------------------


@dataclass
class Instruction:
    line: int
    keyword: str
    args: str
    heredocs: list[tuple[str, str]] = field(default_factory=list)  # (marker, body)


def parse_dockerfile(text: str) -> list[Instruction]:
    lines = text.splitlines()
    out: list[Instruction] = []
    i = 0
    escape_continuation = re.compile(r"\\\s*$")
    while i < len(lines):
        raw = lines[i]
        start = i + 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        parts = [raw]
        while escape_continuation.search(parts[-1]) and i + 1 < len(lines):
            parts[-1] = escape_continuation.sub("", parts[-1])
            i += 1
            nxt = lines[i]
            if nxt.strip().startswith("#"):
                parts.append("\\")  # comment lines inside a continuation are dropped
                continue
            parts.append(nxt)
        i += 1
        joined = " ".join(p.strip() for p in parts if p.strip() not in ("", "\\"))
        keyword, _, args = joined.partition(" ")
        ins = Instruction(start, keyword.upper(), args.strip())
        for m in re.finditer(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2", ins.args):
            marker = m.group(3)
            body = []
            while i < len(lines) and lines[i].strip() != marker:
                body.append(lines[i])
                i += 1
            i += 1
            ins.heredocs.append((marker, "\n".join(body)))
        out.append(ins)
    return out


def _json_or_shell(args: str) -> list[str]:
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list):
                return [str(v) for v in value]
        except ValueError:
            pass
    return shlex.split(text)


def _split_flags(args: str) -> tuple[dict[str, str], list[str]]:
    words = _json_or_shell(args) if args.strip().startswith("[") else shlex.split(args)
    flags, rest = {}, []
    for w in words:
        if w.startswith("--") and not rest:
            k, _, v = w[2:].partition("=")
            flags[k] = v
        else:
            rest.append(w)
    return flags, rest


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def dockerfile_stages(instructions: list[Instruction]) -> tuple[dict[str, str], list[Stage]]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "ARG" and not stages:
            k, _, v = ins.args.partition("=")
            args[k.strip()] = v.strip().strip('"')
        elif ins.keyword == "FROM":
            words = ins.args.split()
            words = [w for w in words if not w.startswith("--")]
            base = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else str(len(stages))
            stages.append(Stage(name, base))
        elif stages:
            stages[-1].instructions.append(ins)
    return args, stages


class DockerIgnore:
    def __init__(self, text: str):
        self.rules = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pattern = line[1:] if negate else line
            pattern = pattern.strip("/")
            self.rules.append((negate, self._regex(pattern)))

    @staticmethod
    def _regex(pattern: str):
        out = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                out += ".*"
                i += 2
            elif pattern[i] == "*":
                out += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                out += "[^/]"
                i += 1
            else:
                out += re.escape(pattern[i])
                i += 1
        return re.compile(out + r"$")

    def excluded(self, rel: str) -> bool:
        rel = rel.strip("/")
        parts = rel.split("/")
        result = False
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            for negate, rx in self.rules:
                if rx.match(prefix):
                    result = not negate
        return result


@dataclass
class ImageFacts:
    """What the runtime image of the Dockerfile holds, for the compose and chart checks."""
    binaries: set[str] = field(default_factory=set)  # executables copied to the PATH
    files: set[str] = field(default_factory=set)  # absolute paths copied into the image
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def check_dockerfile(root: Path, ws: Workspace, defaults, report: Report) -> ImageFacts | None:
    path = root / DOCKERFILE
    try:
        instructions = parse_dockerfile(path.read_text(encoding="utf-8"))
    except OSError as e:
        report.add("Dockerfile: parses", [f"{DOCKERFILE}: {e}"])
        return None
    args, stages = dockerfile_stages(instructions)
    errors = []
    for want, default in (("BUILD_IMAGE", "rust:"), ("BASE_IMAGE", "debian:")):
        if want not in args:
            errors.append(f"no global `ARG {want}=...` before the first FROM")
        elif not args[want]:
            errors.append(f"ARG {want} has no default")
        if not any(s.base in (f"${{{want}}}", f"${want}") for s in stages):
            errors.append(f"no stage is FROM ${{{want}}}")
    if len(stages) < 2:
        errors.append(f"expected a multi-stage build, found {len(stages)} stage(s)")
    report.add("Dockerfile: multi-stage build FROM ${BUILD_IMAGE} and ${BASE_IMAGE}", errors,
               detail=f"stages: {', '.join(s.name for s in stages)}")
    if not stages:
        return None
    stage_names = {s.name for s in stages}

    # COPY/ADD sources from the build context exist and are not excluded by .dockerignore.
    ignore = DockerIgnore((root / DOCKERIGNORE).read_text() if (root / DOCKERIGNORE).exists() else "")
    errors, count = [], 0
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword not in ("COPY", "ADD") or ins.heredocs:
                continue
            flags, words = _split_flags(ins.args)
            if "from" in flags or len(words) < 2:
                continue
            for src in words[:-1]:
                count += 1
                if re.match(r"^[a-z]+://", src):
                    continue
                rel = src.lstrip("./") if src not in (".", "./") else "."
                matches = glob.glob(str(root / rel)) if rel != "." else [str(root)]
                if not matches:
                    errors.append(f"{DOCKERFILE}:{ins.line}: {ins.keyword} source {src!r} does not exist")
                elif rel != "." and ignore.excluded(rel):
                    errors.append(f"{DOCKERFILE}:{ins.line}: {ins.keyword} source {src!r} is excluded by {DOCKERIGNORE}")
    for must_not_exclude in ("Cargo.toml", "Cargo.lock", DEFAULTS_YAML):
        if ignore.excluded(must_not_exclude):
            errors.append(f"{DOCKERIGNORE} excludes {must_not_exclude}, which the build needs")
    if not ignore.excluded("target/release"):
        errors.append(f"{DOCKERIGNORE} does not exclude target/")
    report.add("Dockerfile: COPY sources exist in the build context", errors,
               detail=f"{count} source(s)")

    # cargo builds workspace packages; copied binaries are bin targets that the build produces.
    errors, built = [], set()
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword != "RUN" or "cargo build" not in ins.args:
                continue
            for cmd in re.findall(r"cargo build[^&;|]*", ins.args):
                if "--locked" not in cmd:
                    errors.append(f"{DOCKERFILE}:{ins.line}: cargo build without --locked")
                this: set[str] = set()
                for pkg in re.findall(r"(?:-p|--package)[ =]([A-Za-z0-9_-]+)", cmd):
                    if pkg not in ws.packages:
                        errors.append(f"{DOCKERFILE}:{ins.line}: -p {pkg}: no such workspace package")
                    elif not ws.packages[pkg]:
                        errors.append(f"{DOCKERFILE}:{ins.line}: -p {pkg}: the package has no bin target")
                    else:
                        this.update(ws.packages[pkg])
                if "--workspace" in cmd or not re.search(r"(?:-p|--package)[ =]", cmd):
                    this.update(ws.bins)
                only = re.findall(r"--bin[ =]([A-Za-z0-9_-]+)", cmd)
                for b in only:
                    if b not in this:
                        errors.append(f"{DOCKERFILE}:{ins.line}: --bin {b}: no such bin target in the "
                                      f"packages built")
                built.update(this & set(only) if only else this)
    if not built:
        errors.append(f"{DOCKERFILE}: no `cargo build` builds a workspace binary")
    final = stages[-1]
    facts = ImageFacts()
    for ins in final.instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        flags, words = _split_flags(ins.args)
        if ins.heredocs:
            dest = words[-1] if words else ""
            facts.files.add(dest)
            if dest.startswith(("/usr/local/bin/", "/usr/bin/", "/bin/")):
                facts.binaries.add(Path(dest).name)
            continue
        if len(words) < 2:
            continue
        dest = words[-1]
        for src in words[:-1]:
            target = dest.rstrip("/") + "/" + Path(src).name if dest.endswith("/") else dest
            facts.files.add(target)
            if "from" in flags:
                if flags["from"] not in stage_names:
                    errors.append(f"{DOCKERFILE}:{ins.line}: COPY --from={flags['from']}: no such stage")
                name = Path(src).name
                if name not in ws.bins:
                    errors.append(f"{DOCKERFILE}:{ins.line}: copies {src!r}, but {name!r} is not a bin "
                                  f"target of the workspace (bins: {', '.join(sorted(ws.bins))})")
                elif name not in built:
                    errors.append(f"{DOCKERFILE}:{ins.line}: copies {name!r}, which no cargo build of the Dockerfile builds")
                elif target.startswith(("/usr/local/bin/", "/usr/bin/", "/bin/")):
                    facts.binaries.add(name)
    report.add("Dockerfile: builds and copies real workspace binaries", errors,
               detail=", ".join(sorted(facts.binaries & set(ws.bins))))

    # ENTRYPOINT/CMD/HEALTHCHECK of the runtime image; USER; ENV.
    errors = []
    env: dict[str, str] = {}
    user = None
    healthcheck = None
    for ins in final.instructions:
        if ins.keyword == "ENTRYPOINT":
            facts.entrypoint = _json_or_shell(ins.args)
            facts.cmd = []
        elif ins.keyword == "CMD":
            facts.cmd = _json_or_shell(ins.args)
        elif ins.keyword == "USER":
            user = ins.args.split(":")[0].strip()
        elif ins.keyword == "HEALTHCHECK":
            healthcheck = ins
        elif ins.keyword == "ENV":
            for k, v in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', ins.args):
                env[k] = v.strip('"')
    argv = facts.entrypoint + facts.cmd
    if not facts.entrypoint:
        errors.append(f"{DOCKERFILE}: the runtime stage has no ENTRYPOINT")
    elif Path(facts.entrypoint[0]).name not in facts.binaries:
        errors.append(f"{DOCKERFILE}: ENTRYPOINT {facts.entrypoint[0]!r} is not a binary the image copies")
    else:
        problem = ws.argv_error(argv)
        if problem:
            errors.append(f"{DOCKERFILE}: ENTRYPOINT+CMD {argv}: {problem}")
    if healthcheck is None:
        errors.append(f"{DOCKERFILE}: the runtime stage has no HEALTHCHECK")
    else:
        m = re.search(r"\bCMD\s+(.*)$", healthcheck.args)
        hc = _json_or_shell(m.group(1)) if m else []
        if not hc:
            errors.append(f"{DOCKERFILE}:{healthcheck.line}: HEALTHCHECK without a command")
        elif hc[0] not in facts.binaries and not hc[0].startswith("/") and hc[0] not in ("sh", "bash"):
            errors.append(f"{DOCKERFILE}:{healthcheck.line}: HEALTHCHECK runs {hc[0]!r}, which the image does not copy")
    if user is None:
        errors.append(f"{DOCKERFILE}: the runtime stage has no USER (it would run as root)")
    elif user in ("root", "0"):
        errors.append(f"{DOCKERFILE}: USER {user} runs as root")
    if "FLOW_CONFIG" in env and env["FLOW_CONFIG"] not in facts.files:
        errors.append(f"{DOCKERFILE}: ENV FLOW_CONFIG={env['FLOW_CONFIG']} is not a file the image copies")
    for var, value in env.items():
        if var.startswith(ENV_PREFIX) and defaults is not None:
            problem = env_var_error(var, value, defaults)
            if problem:
                errors.append(f"{DOCKERFILE}: ENV {problem}")
    report.add("Dockerfile: ENTRYPOINT, CMD and HEALTHCHECK run real commands as non-root", errors,
               detail=" ".join(argv))
    return facts


# --- docker-compose.yml ------------------------------------------------------------------------


def _compose_env(service: dict) -> list[tuple[str, object]]:
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return [(str(k), v) for k, v in env.items()]
    out = []
    for item in env:
        k, eq, v = str(item).partition("=")
        out.append((k, v if eq else None))
    return out


def _as_argv(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def check_compose(root: Path, ws: Workspace, defaults, image: ImageFacts | None, report: Report) -> None:
    path = root / COMPOSE
    try:
        doc = load_yaml(path)
        services = doc.get("services") if isinstance(doc, dict) else None
        if not isinstance(services, dict) or not services:
            raise ValueError("no services")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add(f"compose: {COMPOSE} parses", [f"{COMPOSE}: {e}"])
        return
    report.add(f"compose: {COMPOSE} parses", detail=f"{len(services)} services")

    required = {"kafka": "apache/kafka", "mariadb": "mariadb", "opensearch": "opensearchproject/opensearch",
                "opensearch-dashboards": "opensearchproject/opensearch-dashboards"}
    errors = []
    for name, img in required.items():
        svc = services.get(name)
        if not isinstance(svc, dict) or not str(svc.get("image", "")).startswith(img + ":"):
            errors.append(f"service {name}: expected image {img}:<tag>")
    for name, svc in services.items():
        img = str(svc.get("image", ""))
        if "build" not in svc and (":" not in img.split("/")[-1] or img.endswith(":latest")):
            errors.append(f"service {name}: image {img!r} is not pinned to a tag")
    report.add("compose: infrastructure services with pinned images", errors)

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

    # Which services run our image, and with which argv.
    ours_images = {str(s.get("image")) for s in services.values() if "build" in s and s.get("image")}
    errors = []
    for name, svc in services.items():
        build = svc.get("build")
        if build is not None:
            ctx = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
            if not (root / ctx / dockerfile).exists():
                errors.append(f"service {name}: build {ctx}/{dockerfile} does not exist")
    for name, svc in services.items():
        if "build" not in svc and str(svc.get("image")) not in ours_images:
            continue
        entrypoint = _as_argv(svc.get("entrypoint"))
        command = _as_argv(svc.get("command"))
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
            continue
        problem = ws.argv_error(argv)
        errs = [f"service {name}: {argv}: {problem}"] if problem else []
        if not problem and image and binary not in image.binaries:
            errs.append(f"service {name}: {binary!r} is not copied into the image by {DOCKERFILE}")
        report.add(title, errs, detail=" ".join(argv))
    if errors:
        report.add("compose: build contexts exist", errors)

    errors, count = [], 0
    for name, svc in services.items():
        for var, value in _compose_env(svc):
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

    errors, count = [], 0
    for name, svc in services.items():
        mounts = {}
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
        env = dict(_compose_env(svc))
        config = env.get("FLOW_CONFIG")
        argv = (_as_argv(svc.get("command")) or [])
        if "--config" in argv and argv.index("--config") + 1 < len(argv):
            config = argv[argv.index("--config") + 1]
        if config:
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


# --- Helm chart --------------------------------------------------------------------------------

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


def check_chart(root: Path, ws: Workspace, defaults, image: ImageFacts | None, report: Report) -> None:
    chart = root / CHART
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

    values = schema = None
    errors = []
    try:
        values = load_yaml(chart / "values.yaml")
        if not isinstance(values, dict):
            raise ValueError("values.yaml is not a mapping")
    except (OSError, yaml.YAMLError, ValueError) as e:
        errors.append(f"{CHART}/values.yaml: {e}")
        values = None
    try:
        import jsonschema

        schema_text = (chart / "values.schema.json").read_text()
        schema = json.loads(schema_text)
        if schema_text not in _CHECKED_SCHEMAS:
            jsonschema.Draft7Validator.check_schema(schema)
            _CHECKED_SCHEMAS.add(schema_text)
        if "draft-07" not in str(schema.get("$schema", "")):
            errors.append(f"{CHART}/values.schema.json: $schema is not draft-07")
    except (OSError, ValueError) as e:
        errors.append(f"{CHART}/values.schema.json: {e}")
        schema = None
    except Exception as e:  # jsonschema.SchemaError
        errors.append(f"{CHART}/values.schema.json: not a valid draft-07 schema: {getattr(e, 'message', e)}")
        schema = None
    report.add("chart: values.yaml and values.schema.json parse", errors)

    if values is not None and schema is not None:
        import jsonschema

        errors = []
        for err in sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in err.absolute_path) or "(top level)"
            errors.append(f"values.yaml {where}: {err.message}")
        report.add("chart: values.yaml satisfies values.schema.json", errors)

    if values is not None and defaults is not None:
        errors = []
        config = values.get("config")
        if not isinstance(config, dict):
            errors.append("values.yaml has no `config:` mapping")
        else:
            have = dict(key_paths(config))
            for path, value in have.items():
                default = _lookup(defaults, path)
                if default is _MISSING:
                    errors.append(f"values.yaml config.{path}: no such key in {DEFAULTS_YAML}")
                elif value is not None and _kind(value) != _kind(default):
                    errors.append(f"values.yaml config.{path}: is a {_kind(value)}, "
                                  f"{DEFAULTS_YAML} has a {_kind(default)}")
            for path, _ in key_paths(defaults):
                if _lookup(config, path) is _MISSING:
                    errors.append(f"values.yaml config.{path}: missing ({DEFAULTS_YAML} has the key)")
        report.add("chart: values.yaml config holds exactly the keys of defaults.yaml", errors,
                   detail=f"{sum(1 for _ in key_paths(defaults))} keys")

    templates = sorted((chart / "templates").glob("*")) if (chart / "templates").is_dir() else []
    texts = {t: t.read_text(encoding="utf-8") for t in templates if t.is_file()}

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

    if values is not None:
        errors, refs = [], 0
        for t, text in texts.items():
            for n, line in _template_lines(text):
                for m in _VALUES_REF.finditer(line):
                    refs += 1
                    parts = m.group(1).strip(".").split(".")
                    node, seen = values, []
                    for part in parts:
                        if not isinstance(node, dict):
                            errors.append(f"{CHART}/templates/{t.name}:{n}: .Values.{'.'.join(parts)}: "
                                          f".Values.{'.'.join(seen)} is a {_kind(node)}, not a mapping")
                            break
                        if part not in node:
                            errors.append(f"{CHART}/templates/{t.name}:{n}: .Values.{'.'.join(parts)}: "
                                          f"no such value in values.yaml")
                            break
                        seen.append(part)
                        node = node[part]
        report.add("chart: every .Values reference of the templates exists in values.yaml", errors,
                   detail=f"{refs} references")

    errors, count = [], 0
    for t, text in texts.items():
        for n, line in _template_lines(text):
            for var in re.findall(r"\b(FLOW__[A-Za-z0-9_]+)", line):
                count += 1
                if defaults is not None:
                    problem = env_var_error(var, None, defaults)
                    if problem:
                        errors.append(f"{CHART}/templates/{t.name}:{n}: {problem}")
    secret_vars = {"FLOW__DATABASE__URL", "FLOW__MQ__PASSWORD", "FLOW__OPENSEARCH__PASSWORD", "FLOW__AUTH__TOKENS"}
    helpers = texts.get(chart / "templates" / "_helpers.tpl", "") + "".join(texts.values())
    for var in sorted(secret_vars):
        m = re.search(rf"name: {var}\s*\n\s*valueFrom:\s*\n\s*secretKeyRef:", helpers)
        if not m:
            errors.append(f"{CHART}/templates: {var} is not set from a secretKeyRef")
    report.add("chart: FLOW__ variables name real keys; secrets come from secretKeyRef", errors,
               detail=f"{count} variable(s)")

    errors, found = [], []
    for t, text in texts.items():
        if not t.name.startswith("deployment"):
            continue
        for line, name, command, args in _containers(text):
            entry = command if command is not None else (image.entrypoint if image else [])
            rest = args if args is not None else ([] if command is not None else (image.cmd if image else []))
            argv = entry + rest
            found.append(" ".join(argv))
            problem = ws.argv_error(argv)
            if problem:
                errors.append(f"{CHART}/templates/{t.name}:{line}: container {name}: {argv}: {problem}")
            elif image and Path(argv[0]).name not in image.binaries:
                errors.append(f"{CHART}/templates/{t.name}:{line}: container {name}: "
                              f"{argv[0]!r} is not in the image")
        if "path: /healthz" not in text or "livenessProbe" not in text:
            errors.append(f"{CHART}/templates/{t.name}: no livenessProbe on /healthz")
        if "path: /readyz" not in text or "readinessProbe" not in text:
            errors.append(f"{CHART}/templates/{t.name}: no readinessProbe on /readyz")
        if "resources:" not in text:
            errors.append(f"{CHART}/templates/{t.name}: no resources")
    binaries_run = {a.split()[0] for a in found if a}
    for want in ("pipeline-mgmt", "pipeline-worker"):
        if want in ws.bins and want not in binaries_run:
            errors.append(f"{CHART}/templates: no Deployment runs {want}")
    report.add("chart: container commands name real binaries and subcommands; probes and resources", errors,
               detail="; ".join(found))

    if values is not None:
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


# --- YAML of the pipeline and azure-pipelines.yaml ---------------------------------------------


def check_yaml_files(root: Path, report: Report) -> None:
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


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _defines_variable(variables, name: str) -> bool:
    for node in _walk(variables):
        if isinstance(node, dict) and (node.get("name") == name or name in node):
            return True
    return False


def check_azure(root: Path, report: Report) -> None:
    try:
        doc = load_yaml(root / AZURE)
        if not isinstance(doc, dict):
            raise ValueError("not a mapping")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add("azure-pipelines: stages, SDP_VERSION and the commands it runs", [f"{AZURE}: {e}"])
        return
    errors = []
    stages = {s.get("stage"): s for s in doc.get("stages") or [] if isinstance(s, dict)}
    for want in REQUIRED_STAGES:
        if want not in stages:
            errors.append(f"{AZURE}: no stage {want!r} (stages: {', '.join(map(str, stages))})")
    if not _defines_variable(doc.get("variables"), "SDP_VERSION"):
        errors.append(f"{AZURE}: no variable SDP_VERSION")

    def scripts_of(stage) -> str:
        out = []
        for node in _walk(stage):
            if isinstance(node, dict):
                for k in ("bash", "script", "pwsh", "powershell"):
                    if isinstance(node.get(k), str):
                        out.append(node[k])
                if isinstance(node.get("task"), str):
                    out.append("task:" + node["task"])
        return "\n".join(out)

    expect = {
        "Checks": ["cargo fmt", "--check", "cargo clippy", "-D warnings", "scripts/test"],
        "CodeAnalysis": [],
        "Images": ["docker buildx build", "linux/amd64", "linux/arm64", "--push"],
        "Helm": ["helm lint", "helm package", "helm push"],
    }
    if "oci://" not in json.dumps(doc):
        errors.append(f"{AZURE}: the chart is not pushed to an OCI registry (no oci:// reference)")
    for stage, needles in expect.items():
        if stage not in stages:
            continue
        text = scripts_of(stages[stage]) + json.dumps(stages[stage])
        for needle in needles:
            if needle not in text:
                errors.append(f"{AZURE}: stage {stage} does not run {needle!r}")
    if "CodeAnalysis" in stages:
        text = scripts_of(stages["CodeAnalysis"])
        if "cargo deny" not in text and "cargo audit" not in text:
            errors.append(f"{AZURE}: stage CodeAnalysis runs neither cargo deny nor cargo audit")
        if "task:SonarQube" not in text:
            errors.append(f"{AZURE}: stage CodeAnalysis has no SonarQube task")
        elif "RUN_SONAR" not in json.dumps(stages["CodeAnalysis"]):
            errors.append(f"{AZURE}: the SonarQube task is not behind the RUN_SONAR variable")
    for node in _walk(doc):
        if isinstance(node, str):
            for ref in re.findall(r"(?<![\w/.-])((?:scripts|charts)/[A-Za-z0-9_./-]+)", node):
                if not (root / ref.rstrip(".")).exists():
                    errors.append(f"{AZURE}: refers to {ref}, which does not exist")
    report.add("azure-pipelines: stages, SDP_VERSION and the commands it runs", errors,
               detail=", ".join(s for s in stages if s))


# --- all ---------------------------------------------------------------------------------------


def run_checks(root: Path, helm: str | None = None) -> Report:
    """All checks of the checkout at root; the helm checks run with that helm binary, if any."""
    root = Path(root).resolve()
    report = Report()
    ws = Workspace.load(root)
    report.add("workspace: Cargo manifests and binaries", ws.errors,
               detail=", ".join(f"{b}" for b in sorted(ws.bins)))
    defaults = None
    try:
        defaults = load_yaml(root / DEFAULTS_YAML)
        if not isinstance(defaults, dict):
            raise ValueError("not a mapping")
        report.add(f"config: {DEFAULTS_YAML} parses", detail=f"{sum(1 for _ in key_paths(defaults))} keys")
    except (OSError, yaml.YAMLError, ValueError) as e:
        report.add(f"config: {DEFAULTS_YAML} parses", [f"{DEFAULTS_YAML}: {e}"])
        defaults = None
    if defaults is not None:
        errors = []
        shipped = sorted((root / "config").glob("pipeline-config*.yaml"))
        for f in shipped:
            try:
                errors.extend(config_file_errors(load_yaml(f), defaults, str(f.relative_to(root))))
            except yaml.YAMLError as e:
                errors.append(f"{f.relative_to(root)}: {e}")
        report.add("config: shipped configuration files hold only real keys", errors,
                   detail=", ".join(str(f.relative_to(root)) for f in shipped))
    image = check_dockerfile(root, ws, defaults, report)
    check_compose(root, ws, defaults, image, report)
    check_chart(root, ws, defaults, image, report)
    check_yaml_files(root, report)
    check_azure(root, report)
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
