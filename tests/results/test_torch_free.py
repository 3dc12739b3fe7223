"""The results, the trace and the reports that only read them import no torch."""

import subprocess
import sys
from pathlib import Path

import pytest

V1 = Path(__file__).parents[1] / "fixtures" / "result_v1.json"


@pytest.mark.parametrize("module", ["vanishing", "vanishing.results", "vanishing.results.trace",
                                    "vanishing.report.terminal", "vanishing.report.story"])
def test_import_loads_no_torch(module):
    code = f"import {module}, sys; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_result_file_is_read_and_rendered_without_torch():
    code = ("import sys\n"
            "from rich.console import Console\n"
            "from vanishing.results import RunResult\n"
            "from vanishing.report.terminal import run_summary\n"
            f"r = RunResult.load_json({str(V1)!r})\n"
            "Console(width=100).print(run_summary(r))\n"
            "assert 'torch' not in sys.modules, 'torch'\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert "3 weight layers" in out
