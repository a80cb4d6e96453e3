"""The workspace as the artifacts see it: its packages and bin targets (from the Cargo manifests),
the command lines of those binaries (from their clap definitions, rustcli.py), and YAML loading."""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    tomllib = None

import rustcli


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
    """One YAML document."""
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def load_yaml_all(path: Path):
    """Every document of a YAML stream."""
    with path.open(encoding="utf-8") as f:
        return list(yaml.load_all(f, Loader=_Loader))
