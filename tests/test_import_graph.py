"""The layers of the package, read from the source: who may import whom (DESIGN.md, "Package layout").

Every ``import`` of every module under src/vanishing counts — at module level, inside functions and
under ``if TYPE_CHECKING:`` alike — with relative imports resolved. ``importlib.import_module`` with a
computed name is not seen (the lazy top-level ``vanishing/__init__`` and the CLI's command list use it;
both are at the top of the layers).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "vanishing"


def _module_name(path: Path) -> str:
    parts = ("vanishing",) + path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement in the file, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            for alias in node.names:  # `from . import theory` imports the module vanishing.theory
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in MODULES else base, node.lineno))
    return list(dict.fromkeys(found))


EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _ours(*names: str) -> tuple[str, ...]:
    return tuple(f"vanishing.{n}" for n in names)


def _violations(importers: tuple[str, ...], bad, exempt: tuple[str, ...] = ()) -> list[str]:
    """``file:line imports target`` for each import by a module in ``importers`` (packages) that is ``bad``."""
    out = []
    for name, edges in EDGES.items():
        if _within(name, importers) and not _within(name, exempt):
            rel = MODULES[name].relative_to(SRC.parent)
            out += [f"{rel}:{line} imports {target}" for target, line in edges if bad(target)]
    return out


BOTTOM = _ours("errors", "registry", "spec", "_io", "activations")
# modules of ours that import no torch, at any depth: what the results may build on
TORCH_FREE_BOTTOM = _ours("errors", "registry", "spec", "_io")

# (who, must not import) — each row a rule of DESIGN.md's layers
FORBIDDEN = {
    "theory": (_ours("theory"), _ours("nets", "train", "experiments", "report", "cli", "diagnose", "probe")),
    "report": (_ours("report"), _ours("nets", "train", "experiments", "cli")),
    "probe": (_ours("probe"), _ours("nets", "train", "experiments", "theory", "diagnose", "report", "cli", "data",
                                    "config")),
    "nets": (_ours("nets"), _ours("theory", "probe", "train", "experiments", "diagnose", "report", "cli")),
    "train": (_ours("train"), _ours("experiments", "diagnose", "report", "cli")),
    "diagnose": (_ours("diagnose"), _ours("experiments", "report", "cli")),
    "experiments": (_ours("experiments"), _ours("report", "cli")),
}


@pytest.mark.parametrize("rule", FORBIDDEN)
def test_layers_import_only_downwards(rule):
    importers, forbidden = FORBIDDEN[rule]
    assert _violations(importers, lambda t: _within(t, forbidden)) == []


def test_the_bottom_modules_import_only_each_other():
    assert _violations(BOTTOM, lambda t: _within(t, ("vanishing",)) and not _within(t, BOTTOM)) == []


def test_results_import_no_torch_and_no_torch_using_module_of_ours():
    allowed = _ours("results") + TORCH_FREE_BOTTOM
    assert _violations(_ours("results"), lambda t: (_within(t, ("vanishing",)) and not _within(t, allowed))
                       or _within(t, ("torch",))) == []
    # and the torch-free bottom really is: nothing under it imports torch or another module of ours
    assert _violations(TORCH_FREE_BOTTOM, lambda t: _within(t, ("torch",))
                       or (_within(t, ("vanishing",)) and not _within(t, TORCH_FREE_BOTTOM))) == []


def test_only_the_shells_import_the_integrations():
    """The integrations sit above experiments and report: only the CLI (and the web playground) may use them."""
    assert _violations(("vanishing",), lambda t: _within(t, _ours("integrations")),
                       exempt=_ours("integrations", "cli", "playground", "__main__")) == []


def test_only_the_cli_draws_progress_bars():
    bars = ("rich.progress", "rich.live", "tqdm")
    assert _violations(("vanishing",), lambda t: _within(t, bars), exempt=_ours("cli")) == []


def test_nothing_but_the_cli_imports_the_cli():
    assert _violations(("vanishing",), lambda t: _within(t, _ours("cli")), exempt=_ours("cli", "__main__")) == []


def test_the_graph_reader_sees_function_level_and_relative_imports():
    """The reader itself, on a known file: ``from ..report.html import ...`` inside a function is an edge,
    ``from ._common import ...`` resolves within the package."""
    targets = {t for t, _ in EDGES["vanishing.cli.run_cmd"]}
    assert {"vanishing.report.html", "vanishing.cli._common", "vanishing.experiments.run", "typer"} <= targets
    assert {t for t, _ in EDGES["vanishing.results"]} >= {"vanishing.results.codec", "vanishing.results.trace"}
