"""The validator's report: one Check per line, each ok, failed (with precise messages) or skipped
(with the reason)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
