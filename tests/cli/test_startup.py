"""The command line starts without the heavy optional imports (matplotlib, scikit-learn)."""

import subprocess
import sys


def test_cli_import_loads_neither_matplotlib_nor_sklearn():
    code = ("import sys, vanishing.cli; "
            "print(sorted(m for m in ('matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
