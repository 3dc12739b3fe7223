"""What a diagnosis says: findings (cause → effect → reason → fix, with numbers) and the verdict."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from ..results import codec
from ..results.run_result import SIGNAL_ORDERS, WEIGHT_GRAD_ORDERS

__all__ = ["Severity", "SEVERITIES", "Fix", "Finding", "Diagnosis", "HEALTHY", "MEASURES", "signed_orders", "measure_text",
           "measures_text", "span", "layers_text"]

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
HEALTHY = "healthy"

# the measures of orders lost, by their run-summary key: (name, norm, which recorded row: first / last)
MEASURES: dict[str, tuple[str, str, int]] = {
    "vanishing_orders": (WEIGHT_GRAD_ORDERS, "‖∂L/∂W‖", 0),
    "vanishing_orders_final": (WEIGHT_GRAD_ORDERS, "‖∂L/∂W‖", -1),
    "signal_vanishing_orders": (SIGNAL_ORDERS, "‖∂L/∂z‖", 0),
}


def signed_orders(v: float) -> str:
    """``+1.23``; ``+all`` where the first layer gets exactly 0, ``-all`` where the last does."""
    return "+all (the first layer gets exactly 0)" if v == math.inf else \
        "-all (the last layer gets exactly 0)" if v == -math.inf else f"{v:+.2f}"


def measure_text(numbers: dict[str, Any], key: str) -> str:
    """``"signal orders at step 0: +5.91"`` — the measure's name, its step and its value."""
    v = numbers.get(key)
    return f"{MEASURES[key][0]} at step {numbers.get(f'{key}_step')}: " + (
        "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else signed_orders(v))


def measures_text(numbers: dict[str, Any], skip: str | None = None) -> str:
    """Every measure in ``numbers`` with its name and step, ``skip`` left out."""
    return "; ".join(measure_text(numbers, k) for k in MEASURES
                     if k != skip and numbers.get(f"{k}_step") is not None)


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

    def fix_numbers(self, finding: Finding) -> list[int]:
        """Where ``finding``'s fixes stand (from 1) in :attr:`fixes`, the one numbered list of an output."""
        names = [fx.name for fx in self.fixes]
        return [names.index(fx.name) + 1 for fx in finding.fixes if fx.name in names]

    def fix_reference(self, finding: Finding) -> str:
        """``"fixes 1, 2 and 4 below"``; a finding without ranked fixes gives its own fix text."""
        nums = self.fix_numbers(finding)
        if not nums:
            return finding.fix
        listed = ", ".join(map(str, nums[:-1])) + (" and " if len(nums) > 1 else "") + str(nums[-1])
        return f"fix{'es' if len(nums) > 1 else ''} {listed} below"

    def layers_text(self, finding: Finding) -> str:
        """``"layers 1–3, 7"`` (1 = input side) for the finding's layers; names not in the trace as given."""
        return layers_text(finding.layers, self.layers)

    @property
    def healthy_summary(self) -> str:
        """One paragraph of the measured numbers, each named (measure and step); on a healthy run it says so."""
        n = self.numbers
        parts = ["No warning or critical finding."] if self.healthy else []
        measures = measures_text(n)
        if measures:
            parts.append(f"Across {len(self.layers)} layers (log10 last / first layer; > 0: the first layer gets "
                         f"less): {measures}.")
        if n.get("random_inputs"):
            parts.append("Loss and accuracy are on random inputs and targets, so they are not judged.")
        else:
            if n.get("loss_first") is not None and n.get("loss_last") is not None:
                parts.append(f"Loss went from {n['loss_first']:.3g} to {n['loss_last']:.3g}.")
            if n.get("accuracy") is not None:
                which = str(n.get("accuracy_which") or "accuracy").replace("_", " ")
                acc = f"Final {which} {100 * n['accuracy']:.1f} %"
                if n.get("majority_baseline") is not None:
                    acc += f" against a majority-class baseline of {100 * n['majority_baseline']:.1f} %"
                parts.append(acc + ".")
        if n.get("time_orders") is not None:
            xi = n.get("time_xi")
            xi_text = "∞" if xi == math.inf else "n/a" if xi is None or math.isnan(xi) else f"{xi:.3g}"
            parts.append(f"Through time at step {n.get('time_step')}: the first of {n.get('time_length')} time steps "
                         f"gets {signed_orders(n['time_orders'])} orders less gradient than the last (log10 ‖∂L/∂h_t‖ "
                         f"last / first), ξ̂ = {xi_text} steps per e-fold.")
        if n.get("score_vs_baseline") is not None:
            parts.append(f"Test loss {100 * n['score_vs_baseline']:.1f} % of the task's baseline"
                         + ("" if n.get("solved") is None else (", solved." if n["solved"] else ", not solved.")))
        if n.get("update_ratio_median") is not None:
            parts.append(f"Median update/weight ratio {n['update_ratio_median']:.1e} per step (rule of thumb ~1e-3).")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "healthy": self.healthy, "summary": self.healthy_summary,
                "findings": [f.to_dict() for f in self.findings], "layers": list(self.layers),
                "numbers": codec.encode(self.numbers), "fixes": [f.to_dict() for f in self.fixes]}

    def to_markdown(self) -> str:
        """Verdict, the numbers, each finding (its fix as references), then the fixes as one numbered list."""
        lines = [f"## Diagnosis: **{self.verdict}**", "", self.healthy_summary, ""]
        for f in self.findings:
            lines += [f"### {f.kind} ({f.severity})", ""]
            if f.layers:
                lines += [f"Layers: {self.layers_text(f)}", ""]
            lines += [f"- **Cause:** {f.cause}", f"- **Effect:** {f.effect}", f"- **Reason:** {f.reason}",
                      f"- **Fix:** {self.fix_reference(f)}", ""]
        if self.fixes:
            lines += ["### Fixes, most promising first", ""]
            lines += [f"{i}. {fx.text}" for i, fx in enumerate(self.fixes, 1)]
        return "\n".join(lines).rstrip() + "\n"


def span(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"layers 1–3, 7"``."""
    if not numbers:
        return ""
    parts, start = [], numbers[0]
    for prev, cur in zip(numbers, [*numbers[1:], None]):
        if cur is None or cur != prev + 1:
            parts.append(str(start) if start == prev else f"{start}–{prev}")
            start = cur
    return ("layer " if len(numbers) == 1 else "layers ") + ", ".join(parts)


def layers_text(layers: list[Any], names: list[str]) -> str:
    """``["blocks.0.linear", "blocks.1.linear"]`` → ``"layers 1–2"`` (1 = input side); unknown names as given."""
    numbers = sorted({names.index(x) + 1 if x in names else x + 1 for x in layers
                      if x in names or (isinstance(x, int) and not isinstance(x, bool))})
    others = [str(x) for x in layers if x not in names and not (isinstance(x, int) and not isinstance(x, bool))]
    return ", ".join([t for t in (span(numbers), ", ".join(others)) if t])
