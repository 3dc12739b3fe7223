"""One self-contained HTML file per run (or per pair of runs): config, summary, diagnosis, plots, command.

Images are embedded as base64 PNG and the style sheet is inline, so the file opens offline and
fetches nothing: no fonts, scripts, style sheets or images from anywhere.

Example:
    >>> from vanishing.report.html import write_report      # doctest: +SKIP
    >>> write_report(RunResult.load_json("run.json"), "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import io
import math
from html import escape
from pathlib import Path
from typing import Any, Iterable

from matplotlib.figure import Figure

from .._io import write_text
from ..errors import VanishingError
from ..results import RunResult
from ..results.run_result import SUMMARY_LABELS
from .describe import model_line
from . import plots

__all__ = ["render_report", "render_compare", "write_report", "write_compare", "diagnosis_sections"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
td, th { padding: 0.25em 0.9em 0.25em 0; text-align: left; vertical-align: top; }
th { color: #555; font-weight: 600; } td.num { font-variant-numeric: tabular-nums; }
tr.diff td { background: #fff5d6; }
.grid { display: flex; gap: 2.5em; flex-wrap: wrap; }
.finding { border-left: 4px solid #999; padding: 0.3em 0.9em; margin: 0.8em 0; background: #fafafa; }
.finding.critical { border-color: #d62728; } .finding.warning { border-color: #ff7f0e; }
.finding.info { border-color: #1f77b4; }
.finding dt { font-weight: 600; } .finding dd { margin: 0 0 0.4em 0; }
.verdict { font-size: 1.1em; font-weight: 600; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
.pair { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2em; }
.missing { color: #a33; font-style: italic; }
pre { background: #f4f4f4; padding: 0.7em; overflow-x: auto; white-space: pre-wrap; word-break: break-all; }
"""


def _png(fig: Figure, dpi: int = 100) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(caption: str, fig: Figure | VanishingError) -> str:
    if isinstance(fig, VanishingError):
        return f'<figure><figcaption>{escape(caption)}</figcaption><p class="missing">{escape(str(fig))}</p></figure>'
    return (f'<figure><img alt="{escape(caption)}" src="data:image/png;base64,{_png(fig)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—" if math.isnan(v) else str(v)
        return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"
    return str(v)


def _fmt_summary(key: str, v: Any) -> str:
    """Accuracies as percentages; everything else as :func:`_fmt`."""
    if ("accuracy" in key or key == "majority_baseline") and isinstance(v, (int, float)) and math.isfinite(v):
        return f"{100 * v:.1f}%"
    return _fmt(v)


def _table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td class=num>{escape(_fmt(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _summary_rows(result: RunResult) -> list[tuple[str, Any]]:
    return [(SUMMARY_LABELS.get(k, k), _fmt_summary(k, v)) for k, v in result.summary.items()]


def _config_rows(result: RunResult) -> list[tuple[str, Any]]:
    rows = list(result.config.items())
    if result.dataset.get("description"):
        rows.append(("data", result.dataset["description"]))
    return rows


def diagnosis_sections(result: RunResult) -> str:
    """HTML of the cause → effect → reason → fix diagnosis (:func:`vanishing.diagnose.diagnose`);
    where the rules cannot read the trace, the run summary's headline numbers explained.
    """
    from ..diagnose import diagnose

    try:
        d = diagnose(result, config=result.config)
    except VanishingError:
        return _fallback_diagnosis(result)  # a trace the rules cannot read: the summary still says something
    return _render_diagnosis(d)


def _render_diagnosis(d: Any) -> str:
    parts = [f'<p class="verdict">verdict: {escape(d.verdict)}</p>', f"<p>{escape(d.healthy_summary)}</p>"]
    for f in d.findings:
        head = f"{escape(f.kind)} ({escape(f.severity)})"
        if f.layers:
            head += f" — {escape(d.layers_text(f))}"
        items = "".join(f"<dt>{name}</dt><dd>{escape(text)}</dd>" for name, text in (
            ("Cause", f.cause), ("Effect", f.effect), ("Reason", f.reason), ("Fix", d.fix_reference(f))) if text)
        parts.append(f'<div class="finding {escape(f.severity)}"><p><b>{head}</b></p><dl>{items}</dl></div>')
    if d.fixes:
        rows = "".join(f"<li><b>{escape(x.name)}</b>: {escape(x.text)}</li>" for x in d.fixes)
        parts.append(f"<p><b>Fixes, most promising first</b></p><ol>{rows}</ol>")
    return "".join(parts)


def _fallback_diagnosis(result: RunResult) -> str:
    s = result.summary
    named = [(SUMMARY_LABELS[k], s.get(k)) for k in ("vanishing_orders", "signal_vanishing_orders")]
    known = [v for _, v in named if v is not None and not math.isnan(v)]
    if not known:
        text, kind = "The gradient norms of the first and last layer could not be compared (not recorded or not finite).", "warning"
    else:
        text = "; ".join(f"{label}: {v:+.2f}" for label, v in named if v is not None and not math.isnan(v)) + "."
        from ..diagnose.rules import THRESHOLDS

        hi, lo = THRESHOLDS["vanishing_warning"], THRESHOLDS["exploding_warning"]
        kind = "warning" if max(known) >= hi or min(known) <= lo else "info"
        text += (f" From {hi:+g} the diagnosis calls the gradients vanishing (the first layer gets "
                 f"{100 * 10 ** -hi:.0f} % of the last layer's), from {lo:+g} exploding.")
    return (f'<div class="finding {kind}"><p>{escape(text)}</p>'
            f"<p class=sub>(from the run summary)</p></div>")


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def _headline(result: RunResult) -> str:
    c = result.config
    if c.get("model", "mlp") != "mlp":
        return f"{model_line(c)}, {result.dataset.get('description', c.get('task'))}"
    if not {"depth", "width", "activation", "init"} <= set(c):  # a watched model of the user's (callbacks)
        return str(result.trace.meta.get("model") or f"a watched model, {len(result.trace.layers)} layers")
    return (f"{c['depth']} layers × {c['width']}, {c['activation']} + {c['init']}, "
            f"{result.dataset.get('description', c['dataset'])}")


def render_report(result: RunResult) -> str:
    """The full report of one run as an HTML string."""
    shown = [_figure(caption, fig) for _, caption, fig in plots.all_plots(result)]
    # the gradient-flow picture on its own row, the rest two by two
    figures = shown[0] + "".join(f'<div class="pair">{"".join(shown[i:i + 2])}</div>'
                                 for i in range(1, len(shown), 2))
    body = (f"<h1>vanishing report</h1><p class=sub>{escape(_headline(result))}</p>"
            f"<h2>Diagnosis: cause → effect → reason → fix</h2>{diagnosis_sections(result)}"
            f"<h2>Summary</h2>{_table(_summary_rows(result))}"
            f"{_through_time(result)}"
            f"<h2>Plots</h2>{figures}"
            f"<h2>Configuration</h2>{_table(_config_rows(result))}"
            f"<h2>Reproduce</h2><pre>{escape(result.command)}</pre>")
    return _page(f"vanishing report: {_headline(result)}", body)


def _through_time(*results: RunResult) -> str:
    """The plots through time (time × step heatmap, gradient vs t) of each run, side by side on one colour
    scale; empty when no run has a time axis."""
    from . import time_plots

    if not any(r.trace.time for r in results):
        return ""
    vrange = time_plots.shared_range(*results)
    parts = []
    for name, (caption, fn) in time_plots.TIME_PLOTS.items():
        shown: list[Figure | VanishingError] = []
        for r in results:
            try:
                shown.append(fn(r, vrange=vrange) if name == "time_heatmap" else fn(r))
            except VanishingError as exc:
                shown.append(exc)
        if name == "time_curves":
            _share_y(shown)
        labels = ["A: ", "B: "] if len(results) == 2 else [""] * len(results)
        figs = "".join(_figure(f"{label}{caption}", fig) for label, fig in zip(labels, shown))
        parts.append(f'<div class="pair">{figs}</div>' if len(results) > 1 else figs)
    return "<h2>Through time: the gradient over the time steps</h2>" + "".join(parts)


def render_compare(a: RunResult, b: RunResult, story: Iterable[tuple[str, str]] = (),
                   title: str | None = None) -> str:
    """Two runs side by side: config differences, summaries, plots on shared scales, both commands.

    ``story``: optional (heading, text) paragraphs shown first, e.g. :func:`vanishing.report.story.story`.
    ``title``: the page's title and heading (default: "vanishing compare: A vs B", naming both runs).
    """
    if title is None:
        title = f"vanishing compare: {_headline(a)} vs {_headline(b)}"
    da, db = a.config, b.config
    cfg = "".join(
        f"<tr{' class=diff' if da.get(k) != db.get(k) else ''}><th>{escape(k)}</th>"
        f"<td class=num>{escape(_fmt(da.get(k)))}</td><td class=num>{escape(_fmt(db.get(k)))}</td></tr>"
        for k in dict.fromkeys([*da, *db]))
    sa, sb = a.summary, b.summary
    summ = "".join(
        f"<tr><th>{escape(SUMMARY_LABELS.get(k, k))}</th><td class=num>{escape(_fmt_summary(k, sa.get(k)))}</td>"
        f"<td class=num>{escape(_fmt_summary(k, sb.get(k)))}</td></tr>" for k in dict.fromkeys([*sa, *sb]))
    head = "<tr><th></th><th>A</th><th>B</th></tr>"
    try:
        shared: Figure | VanishingError = plots.compare(
            a, b, labels=tuple(f"{k}: {r.config['activation']} + {r.config['init']}" for k, r in (("A", a), ("B", b))))
    except VanishingError as exc:
        shared = exc
    figures = _figure("A and B on shared scales: gradient flow and loss", shared)
    vrange = plots.log10_range(a, b)
    for name in ("heatmap", "attribution", "update_ratio", "saturation", "curves"):
        caption, fn = plots.PLOTS[name]
        pair: list[Figure | VanishingError] = []
        for r in (a, b):
            try:
                pair.append(fn(r, vrange=vrange) if name == "heatmap" else fn(r))
            except VanishingError as exc:
                pair.append(exc)
        if name in ("update_ratio", "curves"):
            _share_y(pair)
        figures += ('<div class="pair">' + "".join(_figure(f"{label}: {caption}", fig)
                                                   for label, fig in zip("AB", pair)) + "</div>")

    told = "".join(f'<div class="finding info"><p><b>{escape(h)}</b></p><p>{escape(t)}</p></div>' for h, t in story)
    body = (f"<h1>{escape(title)}</h1><p class=sub>A: {escape(_headline(a))}<br>B: {escape(_headline(b))}</p>"
            f"{told}<h2>Summary</h2><table>{head}{summ}</table>"
            f"{_through_time(a, b)}"
            f"<h2>Plots</h2>{figures}"
            f"<h2>Configuration (differences highlighted)</h2><table>{head}{cfg}</table>"
            f"<h2>Diagnosis of A</h2>{diagnosis_sections(a)}<h2>Diagnosis of B</h2>{diagnosis_sections(b)}"
            f"<h2>Reproduce</h2><pre>{escape(a.command)}\n{escape(b.command)}</pre>")
    return _page(title, body)


def _share_y(figs: list[Figure | VanishingError]) -> None:
    """Give the first axes of each figure the union of their y ranges (same scale side by side)."""
    axes = [f.axes[0] for f in figs if isinstance(f, Figure)]
    if len(axes) < 2:
        return
    lims = [ax.get_ylim() for ax in axes]
    lo, hi = min(l[0] for l in lims), max(l[1] for l in lims)
    for ax in axes:
        ax.set_ylim(lo, hi)


def _write(text: str, path: str | Path) -> Path:
    return write_text(path, text, "report")


def write_report(result: RunResult, path: str | Path) -> Path:
    """Write :func:`render_report` to ``path``; returns the path."""
    return _write(render_report(result), path)


def write_compare(a: RunResult, b: RunResult, path: str | Path, story: Iterable[tuple[str, str]] = (),
                  title: str | None = None) -> Path:
    """Write :func:`render_compare` to ``path``; returns the path."""
    return _write(render_compare(a, b, story, title), path)
