"""A Diagnosis as a rich renderable for the terminal (the CLI prints it; the library never prints)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from .findings import Diagnosis

__all__ = ["diagnosis_renderable"]

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def diagnosis_renderable(d: Diagnosis) -> RenderableType:
    """Verdict and the numbers, each finding's cause → effect → reason → fix (the fix as references),
    then every fix once, numbered."""
    parts: list[RenderableType] = []
    head = Text("verdict: ", style="bold")
    head.append(d.verdict, style="bold green" if d.healthy else _STYLE[d.problems[0].severity])
    parts.append(head)
    parts.append(Text(d.healthy_summary))
    for f in d.findings:
        t = Text()
        t.append(f"\n{f.kind}", style="bold")
        t.append(f" ({f.severity})", style=_STYLE[f.severity])
        if f.layers:
            t.append(f"  {d.layers_text(f)}", style="dim")
        for label, text in (("cause", f.cause), ("effect", f.effect), ("reason", f.reason),
                            ("fix", d.fix_reference(f))):
            t.append(f"\n  {label}: ", style="bold")
            t.append(text)
        parts.append(t)
    if d.fixes:
        t = Text("\nfixes, most promising first", style="bold")
        for i, fx in enumerate(d.fixes, 1):
            t.append(f"\n  {i}. ", style="bold")
            t.append(fx.text)
        parts.append(t)
    return Panel(Group(*parts), title="diagnosis", expand=False)
