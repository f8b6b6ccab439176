"""The reference holder page: a resident's phone makes its own key, keeps the pass bound to it,
and shows the live code (static files in `static/`; `gridgate pass page --out DIR` writes them).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from gate.files import write_atomic

PAGE_FILES = ("index.html", "holder.js", "holder.css", "qrcodegen.js", "qrcodegen.LICENSE.txt")


def write_page(out: Path | str) -> list[Path]:
    """Write the page's files into `out` (created; existing files of the page replaced)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    static = resources.files(__package__).joinpath("static")
    written = []
    for name in PAGE_FILES:
        target = out / name
        write_atomic(target, static.joinpath(name).read_bytes(), mode=0o644)
        written.append(target)
    return written
