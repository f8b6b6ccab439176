"""The README's one-way rule, vision <- gate <- sync <- edge, checked with import-linter.

The contracts are in pyproject.toml ([tool.importlinter]): no package imports one above it, and
sync never imports vision itself (through gate it may). Every import counts: at the top of a
module, inside a function, under `if TYPE_CHECKING:`. import-linter names each forbidden import
as `module -> imported module (l.line)`, the module being the file (sync.bad is sync/bad.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter run on the packages under `root` with `root`/pyproject.toml's contracts."""
    # A process of its own: the packages are found from `root` (first on the path), never the
    # ones this test process has imported; no cache is written into the tree.
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "200", "NO_COLOR": "1",
           "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()",
         "--config", str(root / "pyproject.toml"), "--no-cache", "--no-logo"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_packages_keep_the_one_way_rule() -> None:
    result = lint_imports(REPO)
    assert result.returncode == 0, f"the layer rule is broken:\n{result.stdout}{result.stderr}"
    assert "0 broken" in result.stdout


# A small tree that keeps the rule; sync reaches vision only through gate, which is allowed.
ALLOWED = {
    "vision/__init__.py": "",
    "vision/images.py": "def jpeg_bytes(image, quality):\n    return b''\n",
    "gate/__init__.py": "",
    "gate/snapshots.py": "from vision.images import jpeg_bytes\n",
    "sync/__init__.py": "",
    "sync/outbox.py": "import gate.snapshots\n",
    "edge/__init__.py": "",
    "edge/app.py": "import gate.snapshots\nimport sync.outbox\nimport vision.images\n",
}


def synthetic_tree(root: Path, extra: dict[str, str]) -> Path:
    for name, text in {**ALLOWED, **extra}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")  # the real contracts
    return root


def test_an_indirect_path_from_sync_to_vision_is_allowed(tmp_path: Path) -> None:
    result = lint_imports(synthetic_tree(tmp_path, {}))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("path", "text", "reported"), [
    # sync importing vision itself
    ("sync/bad.py", "import json\n\nfrom vision.images import jpeg_bytes\n",
     "sync.bad -> vision.images (l.3)"),
    # an import inside a function is a dependency too
    ("vision/late.py", "def store():\n    from gate import snapshots\n",
     "vision.late -> gate.snapshots (l.2)"),
    # and so is one for the type checker only
    ("gate/typed.py",
     "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from sync.outbox import X\n",
     "gate.typed -> sync.outbox (l.4)"),
    ("sync/up.py", "import edge.app\n", "sync.up -> edge.app (l.1)"),
])
def test_a_forbidden_import_is_reported_with_its_module_and_line(
        tmp_path: Path, path: str, text: str, reported: str) -> None:
    result = lint_imports(synthetic_tree(tmp_path, {path: text}))
    assert result.returncode != 0
    assert reported in result.stdout, result.stdout + result.stderr
    assert "1 broken" in result.stdout
