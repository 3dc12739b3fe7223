"""What a diagnosis says: findings (cause → effect → reason → fix, with numbers) and the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..results import codec

__all__ = ["Severity", "SEVERITIES", "Fix", "Finding", "Diagnosis", "HEALTHY"]

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
HEALTHY = "healthy"


@dataclass(frozen=True)
class Fix:
    """One concrete remedy: a text, the config changes that apply it (empty when it is not a config
    setting, e.g. gradient clipping in the user's loop) and, where theory can say, the predicted
    per-layer gain and orders lost after the change."""

    name: str
    text: str
    changes: dict[str, Any] = field(default_factory=dict)
    predicted_gain: float | None = None
    predicted_orders: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return codec.encode({"name": self.name, "text": self.text, "changes": self.changes,
                       "predicted_gain": self.predicted_gain, "predicted_orders": self.predicted_orders})


@dataclass
class Finding:
    """One problem found in a trace."""

    kind: str
    severity: Severity
    layers: list[str]
    numbers: dict[str, Any]
    cause: str
    effect: str
    reason: str
    fix: str
    fixes: list[Fix] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "severity": self.severity, "layers": list(self.layers),
                "numbers": codec.encode(self.numbers), "cause": self.cause, "effect": self.effect,
                "reason": self.reason, "fix": self.fix, "fixes": [f.to_dict() for f in self.fixes]}


@dataclass
class Diagnosis:
    """All findings of one trace, most severe first; ``verdict`` names the main problem or ``healthy``.

    ``order`` ranks kinds of equal severity (the order of the rules: a divergence explains more than
    the saturation that came with it).
    """

    findings: list[Finding]
    layers: list[str]
    numbers: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        rank = {k: i for i, k in enumerate(self.order)}
        self.findings = sorted(self.findings, key=lambda f: (-SEVERITIES.index(f.severity),
                                                             rank.get(f.kind, len(rank))))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "info"]

    @property
    def verdict(self) -> str:
        problems = self.problems
        return problems[0].kind if problems else HEALTHY

    @property
    def healthy(self) -> bool:
        return self.verdict == HEALTHY

    @property
    def fixes(self) -> list[Fix]:
        """Fixes of the problems, most severe problem first, without repeats."""
        seen: set[str] = set()
        out: list[Fix] = []
        for f in self.problems:
            for fx in f.fixes:
                if fx.name not in seen:
                    seen.add(fx.name)
                    out.append(fx)
        return out

    @property
    def healthy_summary(self) -> str:
        """One paragraph with the measured numbers that say the run is healthy (or what is wrong)."""
        n = self.numbers
        if not self.healthy:
            return f"verdict: {self.verdict} — " + self.problems[0].effect
        parts = ["No warning or critical finding."]
        if n.get("orders") is not None and math.isfinite(n["orders"]):
            parts.append(f"First and last layers' gradients differ by {n['orders']:+.2f} orders of magnitude "
                         f"across {len(self.layers)} layers.")
        if n.get("loss_first") is not None and n.get("loss_last") is not None:
            parts.append(f"Loss went from {n['loss_first']:.3g} to {n['loss_last']:.3g}.")
        if n.get("accuracy") is not None:
            acc = f"Accuracy {100 * n['accuracy']:.1f} %"
            if n.get("majority_baseline") is not None:
                acc += f" against a majority-class baseline of {100 * n['majority_baseline']:.1f} %"
            parts.append(acc + ".")
        if n.get("update_ratio_median") is not None:
            parts.append(f"Median update/weight ratio {n['update_ratio_median']:.1e} per step (rule of thumb ~1e-3).")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "healthy": self.healthy, "summary": self.healthy_summary,
                "findings": [f.to_dict() for f in self.findings], "layers": list(self.layers),
                "numbers": codec.encode(self.numbers), "fixes": [f.to_dict() for f in self.fixes]}

    def to_markdown(self) -> str:
        lines = [f"## Diagnosis: **{self.verdict}**", "", self.healthy_summary, ""]
        for f in self.findings:
            lines += [f"### {f.kind} ({f.severity})", ""]
            if f.layers:
                lines += [f"Layers: {', '.join(f.layers)}", ""]
            lines += [f"- **Cause:** {f.cause}", f"- **Effect:** {f.effect}", f"- **Reason:** {f.reason}",
                      f"- **Fix:** {f.fix}"]
            for i, fx in enumerate(f.fixes[1:4], 2):
                lines.append(f"  {i}. {fx.text}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"
