"""The Dockerfile: parsed without Docker (instructions, stages, .dockerignore), then checked against
the workspace: a multi-stage build from the pinned images, COPY sources that exist in the build
context, real workspace binaries built and copied, and a runtime stage that runs a real command
as non-root. `check` returns what the runtime image holds (ImageFacts) for the compose and chart
checks."""

from __future__ import annotations

import glob
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from config_keys import DEFAULTS_YAML, ENV_PREFIX, env_var_error
from report import Report
from workspace import Workspace

DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"
BIN_DIRS = ("/usr/local/bin/", "/usr/bin/", "/bin/")


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


def json_or_shell(args: str) -> list[str]:
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
            if isinstance(value, list):
                return [str(v) for v in value]
        except ValueError:
            pass
    return shlex.split(text)


def split_flags(args: str) -> tuple[dict[str, str], list[str]]:
    words = json_or_shell(args) if args.strip().startswith("[") else shlex.split(args)
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



def check(root: Path, ws: Workspace, defaults, report: Report) -> ImageFacts | None:
    """Every Dockerfile check; the runtime image's facts, or None when there is no build to read."""
    try:
        instructions = parse_dockerfile((root / DOCKERFILE).read_text(encoding="utf-8"))
    except OSError as e:
        report.add("Dockerfile: parses", [f"{DOCKERFILE}: {e}"])
        return None
    args, stages = dockerfile_stages(instructions)
    check_stages(args, stages, report)
    if not stages:
        return None
    check_copy_sources(root, stages, report)
    facts = check_binaries(ws, stages, report)
    check_runtime(ws, defaults, stages[-1], facts, report)
    return facts


def check_stages(args: dict[str, str], stages: list[Stage], report: Report) -> None:
    """A multi-stage build FROM the global ARGs BUILD_IMAGE and BASE_IMAGE, each with a default."""
    errors = []
    for want in ("BUILD_IMAGE", "BASE_IMAGE"):
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


def check_copy_sources(root: Path, stages: list[Stage], report: Report) -> None:
    """COPY/ADD sources from the build context exist and are not excluded by .dockerignore, which
    keeps what the build needs and leaves target/ out."""
    ignore = DockerIgnore((root / DOCKERIGNORE).read_text() if (root / DOCKERIGNORE).exists() else "")
    errors, count = [], 0
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword not in ("COPY", "ADD") or ins.heredocs:
                continue
            flags, words = split_flags(ins.args)
            if "from" in flags or len(words) < 2:
                continue
            for src in words[:-1]:
                count += 1
                problem = _context_source_problem(root, ignore, src)
                if problem:
                    errors.append(f"{DOCKERFILE}:{ins.line}: {ins.keyword} source {src!r} {problem}")
    for must_not_exclude in ("Cargo.toml", "Cargo.lock", DEFAULTS_YAML):
        if ignore.excluded(must_not_exclude):
            errors.append(f"{DOCKERIGNORE} excludes {must_not_exclude}, which the build needs")
    if not ignore.excluded("target/release"):
        errors.append(f"{DOCKERIGNORE} does not exclude target/")
    report.add("Dockerfile: COPY sources exist in the build context", errors,
               detail=f"{count} source(s)")


def _context_source_problem(root: Path, ignore: DockerIgnore, src: str) -> str | None:
    if re.match(r"^[a-z]+://", src):
        return None
    rel = src.lstrip("./") if src not in (".", "./") else "."
    matches = glob.glob(str(root / rel)) if rel != "." else [str(root)]
    if not matches:
        return "does not exist"
    if rel != "." and ignore.excluded(rel):
        return f"is excluded by {DOCKERIGNORE}"
    return None


def built_binaries(ws: Workspace, stages: list[Stage], errors: list[str]) -> set[str]:
    """The bin targets the `cargo build`s of the Dockerfile build (each --locked, of real packages
    and bins); problems go to `errors`."""
    built = set()
    for stage in stages:
        for ins in stage.instructions:
            if ins.keyword != "RUN" or "cargo build" not in ins.args:
                continue
            for cmd in re.findall(r"cargo build[^&;|]*", ins.args):
                built.update(_one_cargo_build(ws, ins.line, cmd, errors))
    if not built:
        errors.append(f"{DOCKERFILE}: no `cargo build` builds a workspace binary")
    return built


def _one_cargo_build(ws: Workspace, line: int, cmd: str, errors: list[str]) -> set[str]:
    if "--locked" not in cmd:
        errors.append(f"{DOCKERFILE}:{line}: cargo build without --locked")
    this: set[str] = set()
    for pkg in re.findall(r"(?:-p|--package)[ =]([A-Za-z0-9_-]+)", cmd):
        if pkg not in ws.packages:
            errors.append(f"{DOCKERFILE}:{line}: -p {pkg}: no such workspace package")
        elif not ws.packages[pkg]:
            errors.append(f"{DOCKERFILE}:{line}: -p {pkg}: the package has no bin target")
        else:
            this.update(ws.packages[pkg])
    if "--workspace" in cmd or not re.search(r"(?:-p|--package)[ =]", cmd):
        this.update(ws.bins)
    only = re.findall(r"--bin[ =]([A-Za-z0-9_-]+)", cmd)
    for b in only:
        if b not in this:
            errors.append(f"{DOCKERFILE}:{line}: --bin {b}: no such bin target in the packages built")
    return this & set(only) if only else this


def check_binaries(ws: Workspace, stages: list[Stage], report: Report) -> ImageFacts:
    """cargo builds workspace packages; the runtime stage copies bin targets that the build
    produces. Returns what the runtime stage copies."""
    errors: list[str] = []
    built = built_binaries(ws, stages, errors)
    stage_names = {s.name for s in stages}
    facts = ImageFacts()
    for ins in stages[-1].instructions:
        if ins.keyword not in ("COPY", "ADD"):
            continue
        flags, words = split_flags(ins.args)
        if ins.heredocs:
            dest = words[-1] if words else ""
            facts.files.add(dest)
            if dest.startswith(BIN_DIRS):
                facts.binaries.add(Path(dest).name)
            continue
        if len(words) < 2:
            continue
        dest = words[-1]
        for src in words[:-1]:
            target = dest.rstrip("/") + "/" + Path(src).name if dest.endswith("/") else dest
            facts.files.add(target)
            if "from" in flags:
                _copied_binary(ws, ins, flags["from"], src, target, (stage_names, built), facts, errors)
    report.add("Dockerfile: builds and copies real workspace binaries", errors,
               detail=", ".join(sorted(facts.binaries & set(ws.bins))))
    return facts


def _copied_binary(ws: Workspace, ins: Instruction, stage: str, src: str, target: str,
                   known: tuple[set[str], set[str]], facts: ImageFacts, errors: list[str]) -> None:
    stage_names, built = known
    if stage not in stage_names:
        errors.append(f"{DOCKERFILE}:{ins.line}: COPY --from={stage}: no such stage")
    name = Path(src).name
    if name not in ws.bins:
        errors.append(f"{DOCKERFILE}:{ins.line}: copies {src!r}, but {name!r} is not a bin "
                      f"target of the workspace (bins: {', '.join(sorted(ws.bins))})")
    elif name not in built:
        errors.append(f"{DOCKERFILE}:{ins.line}: copies {name!r}, which no cargo build of the Dockerfile builds")
    elif target.startswith(BIN_DIRS):
        facts.binaries.add(name)


@dataclass
class Runtime:
    """The runtime stage's USER, HEALTHCHECK and ENV."""
    user: str | None = None
    healthcheck: Instruction | None = None
    env: dict[str, str] = field(default_factory=dict)


def read_runtime(final: Stage, facts: ImageFacts) -> Runtime:
    """ENTRYPOINT and CMD into `facts`; USER, HEALTHCHECK and ENV as returned."""
    runtime = Runtime()
    for ins in final.instructions:
        if ins.keyword == "ENTRYPOINT":
            facts.entrypoint = json_or_shell(ins.args)
            facts.cmd = []
        elif ins.keyword == "CMD":
            facts.cmd = json_or_shell(ins.args)
        elif ins.keyword == "USER":
            runtime.user = ins.args.split(":")[0].strip()
        elif ins.keyword == "HEALTHCHECK":
            runtime.healthcheck = ins
        elif ins.keyword == "ENV":
            for k, v in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', ins.args):
                runtime.env[k] = v.strip('"')
    return runtime


def check_runtime(ws: Workspace, defaults, final: Stage, facts: ImageFacts, report: Report) -> None:
    """ENTRYPOINT, CMD and HEALTHCHECK of the runtime image run real commands, as a USER that is
    not root, with ENV naming real configuration keys."""
    runtime = read_runtime(final, facts)
    argv = facts.entrypoint + facts.cmd
    errors = _entrypoint_errors(ws, facts, argv) + _healthcheck_errors(runtime.healthcheck, facts)
    if runtime.user is None:
        errors.append(f"{DOCKERFILE}: the runtime stage has no USER (it would run as root)")
    elif runtime.user in ("root", "0"):
        errors.append(f"{DOCKERFILE}: USER {runtime.user} runs as root")
    env = runtime.env
    if "FLOW_CONFIG" in env and env["FLOW_CONFIG"] not in facts.files:
        errors.append(f"{DOCKERFILE}: ENV FLOW_CONFIG={env['FLOW_CONFIG']} is not a file the image copies")
    for var, value in env.items():
        if var.startswith(ENV_PREFIX) and defaults is not None:
            problem = env_var_error(var, value, defaults)
            if problem:
                errors.append(f"{DOCKERFILE}: ENV {problem}")
    report.add("Dockerfile: ENTRYPOINT, CMD and HEALTHCHECK run real commands as non-root", errors,
               detail=" ".join(argv))


def _entrypoint_errors(ws: Workspace, facts: ImageFacts, argv: list[str]) -> list[str]:
    if not facts.entrypoint:
        return [f"{DOCKERFILE}: the runtime stage has no ENTRYPOINT"]
    if Path(facts.entrypoint[0]).name not in facts.binaries:
        return [f"{DOCKERFILE}: ENTRYPOINT {facts.entrypoint[0]!r} is not a binary the image copies"]
    problem = ws.argv_error(argv)
    return [f"{DOCKERFILE}: ENTRYPOINT+CMD {argv}: {problem}"] if problem else []


def _healthcheck_errors(healthcheck: Instruction | None, facts: ImageFacts) -> list[str]:
    if healthcheck is None:
        return [f"{DOCKERFILE}: the runtime stage has no HEALTHCHECK"]
    m = re.search(r"\bCMD\s+(.*)$", healthcheck.args)
    hc = json_or_shell(m.group(1)) if m else []
    if not hc:
        return [f"{DOCKERFILE}:{healthcheck.line}: HEALTHCHECK without a command"]
    if hc[0] not in facts.binaries and not hc[0].startswith("/") and hc[0] not in ("sh", "bash"):
        return [f"{DOCKERFILE}:{healthcheck.line}: HEALTHCHECK runs {hc[0]!r}, which the image does not copy"]
    return []
