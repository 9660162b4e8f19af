"""One self-contained interactive HTML page: the state as JSON, script and style read
from cnnlab/explain/assets/ and inlined, and a Content-Security-Policy that allows
exactly those two inline blocks (by their SHA-256) and nothing else: no fetch, no
remote image, no font. The file works offline, from a file:// URL, mailed as is."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from pathlib import Path

import numpy as np

ASSETS = Path(__file__).parent / "assets"


def asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def to_json(value) -> str:
    """JSON safe inside <script type="application/json">: no '<' can close the block."""
    def plain(v):
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        raise TypeError(f"cannot put {type(v).__name__} in the page's state")

    return json.dumps(value, default=plain, separators=(",", ":")).replace("<", "\\u003c")


def render(title: str, body: str, state: dict, scripts: list[str], styles: list[str]) -> str:
    """The page: ``body`` is trusted HTML made here (learner text goes through ``esc``),
    ``state`` is read by the scripts from #state; scripts/styles are asset file names."""
    script = "\n".join(asset(name) for name in scripts)
    style = "\n".join(asset(name) for name in styles)
    csp = (f"default-src 'none'; script-src {csp_hash(script)}; style-src {csp_hash(style)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{style}</style></head>\n<body>\n{body}\n"
        f'<script type="application/json" id="state">{to_json(state)}</script>\n'
        f"<script>{script}</script>\n</body></html>\n"
    )


def write_page(text: str, path: Path) -> Path:
    from cnnlab.runs import write_text  # atomic, umask-respecting

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)
    return path
