"""torchvision stays out of every dependency list: its wheels are built for one accelerator and replace
a working torch (a CPU torch broke on install); the project uses no torchvision code."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_no_dependency_list_names_torchvision():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lists = {"dependencies": project.get("dependencies", []), **project.get("optional-dependencies", {})}
    for name, deps in lists.items():
        assert not [d for d in deps if d.lower().startswith(("torchvision", "timm"))], name
    constraints = (ROOT / "constraints.txt").read_text().lower() if (ROOT / "constraints.txt").exists() else ""
    assert "torchvision" not in constraints


def test_the_package_imports_no_torchvision():
    sources = (ROOT / "src" / "vanishing").rglob("*.py")
    assert not [p for p in sources if "import torchvision" in p.read_text() or "from torchvision" in p.read_text()]
