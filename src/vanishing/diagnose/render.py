"""A Diagnosis as a rich renderable for the terminal (the CLI prints it; the library never prints)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from .findings import Diagnosis

__all__ = ["diagnosis_renderable"]

_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def diagnosis_renderable(d: Diagnosis, max_fixes: int = 3) -> RenderableType:
    """Verdict, then each finding's cause → effect → reason → fix and its ranked fixes."""
    parts: list[RenderableType] = []
    head = Text("verdict: ", style="bold")
    head.append(d.verdict, style="bold green" if d.healthy else _STYLE[d.problems[0].severity])
    parts.append(head)
    if d.healthy:
        parts.append(Text(d.healthy_summary))
    for f in d.findings:
        t = Text()
        t.append(f"\n{f.kind}", style="bold")
        t.append(f" ({f.severity})", style=_STYLE[f.severity])
        if f.layers:
            shown = ", ".join(f.layers[:4]) + (f" … (+{len(f.layers) - 4})" if len(f.layers) > 4 else "")
            t.append(f"  layers: {shown}", style="dim")
        for label, text in (("cause", f.cause), ("effect", f.effect), ("reason", f.reason)):
            t.append(f"\n  {label}: ", style="bold")
            t.append(text)
        t.append("\n  fix: ", style="bold")
        if f.fixes and f is d.findings[0]:
            for i, fx in enumerate(f.fixes[:max_fixes], 1):
                t.append(f"\n    {i}. {fx.text}")
        elif f.fixes and f.fixes[0] in d.findings[0].fixes:
            t.append(f"as above ({d.findings[0].fixes.index(f.fixes[0]) + 1}.)")
        else:
            t.append(f.fixes[0].text if f.fixes else f.fix)
        parts.append(t)
    return Panel(Group(*parts), title="diagnosis", expand=False)
