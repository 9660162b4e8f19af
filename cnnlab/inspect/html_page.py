"""Self-contained HTML pages: escaping, images as data: URIs, a Content-Security-Policy
that forbids every network load, and one responsive stylesheet.

A page made here is one file a user can mail or open offline: it has no external
stylesheet, script, font or image, and its CSP makes the browser refuse to fetch any,
so a name such as ``<img src=http://...>`` in a config could not phone home even if it
escaped escaping. Every text that comes from a run goes through ``esc``.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

# No default source: images only from data: URIs, styles only inline, no scripts at all.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

STYLE = """
:root { --fg: #1d2430; --muted: #5b6576; --line: #d9dee7; --bg: #ffffff; --soft: #f4f6fa; --bad: #a3262a; --ok: #1f6f3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1100px; margin: 0 auto; padding: 1rem 1.25rem 3rem; }
header { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: .5rem 0; word-break: break-word; }
h2 { font-size: 1.3rem; margin: 2rem 0 .5rem; padding-top: .5rem; border-top: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
nav { display: flex; flex-wrap: wrap; gap: .3rem .9rem; margin: .5rem 0 1rem; font-size: .95rem; }
nav a { color: #2358a8; text-decoration: none; }
.muted { color: var(--muted); }
.headline { font-size: 1.15em; margin: .4em 0 .8em; }
.problems { background: #fff4e5; border-left: 4px solid #e08a00; padding: .6rem 1rem; margin: 1rem 0; }
.problems ul { margin: .3rem 0; padding-left: 1.2rem; }
.state-done { color: var(--ok); font-weight: 600; }
.state-failed, .state-interrupted, .state-stopped { color: var(--bad); font-weight: 600; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; margin: .5rem 0; }
table { border-collapse: collapse; font-size: .9rem; }
th, td { border-bottom: 1px solid var(--line); padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.nowrap { white-space: nowrap; }
details { margin: .5rem 0; }
summary { cursor: pointer; color: #2358a8; }
pre { background: var(--soft); padding: .75rem; overflow-x: auto; font-size: .82rem; line-height: 1.4; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; margin: .5rem 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-word; }
figure { margin: 1rem 0 1.5rem; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); background: #fff; cursor: zoom-in; }
/* Tap or click a picture (it takes focus) to see it whole over the page; tap again or Esc-Tab to leave.
   No script: a 64-map grid is readable on a phone this way. */
figure img:focus { position: fixed; inset: 0; z-index: 10; width: 100vw; height: 100vh; max-width: none;
                   object-fit: contain; background: #fff; cursor: zoom-out; outline: none; }
figcaption { color: var(--muted); font-size: .9rem; margin-top: .35rem; max-width: 60rem; }
.gallery { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 0 1.25rem; }
@media (max-width: 640px) {
  body { font-size: 15px; }
  main { padding: .5rem .75rem 2rem; }
  h1 { font-size: 1.3rem; }
  .gallery { grid-template-columns: 1fr; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: .4rem; }
}
"""


def esc(value) -> str:
    """Any value as HTML text (quotes too, so it is safe in attributes)."""
    text = "" if value is None else str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a folder name that is not UTF-8 (os.fsdecode's surrogates): show its bytes as \xNN
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return html.escape(text, quote=True)


def png_data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figure_png(data: bytes, caption: str, alt: str | None = None) -> str:
    """A picture with the caption that says what it shows; ``caption`` is plain text."""
    return (
        f'<figure><img src="{png_data_uri(data)}" alt="{esc(alt or caption)}" loading="eager" tabindex="0">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def figure_file(path: Path, caption: str) -> str | None:
    """A PNG file as a figure, or None when it cannot be read."""
    try:
        return figure_png(Path(path).read_bytes(), caption)
    except OSError:
        return None


def figure_matplotlib(fig, caption: str) -> str:
    """A matplotlib Figure drawn straight into the page (no file)."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return figure_png(buffer.getvalue(), caption)


def table(header: list[str], rows: list[list], numeric: set[int] = frozenset(), nowrap: set[int] = frozenset()) -> str:
    """An escaped table that scrolls sideways on a narrow screen; ``numeric``: right-aligned
    columns; ``nowrap``: columns kept on one line (shapes)."""

    def cells(values, tag):
        return "".join(f"<{tag}{_classes(i)}>{esc(v)}</{tag}>" for i, v in enumerate(values))

    def _classes(i):
        names = " ".join(n for n, on in (("num", i in numeric), ("nowrap", i in nowrap)) if on)
        return f' class="{names}"' if names else ""

    body = "".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{cells(header, "th")}</tr></thead><tbody>{body}</tbody></table></div>'


def facts(pairs: list[tuple[str, object]]) -> str:
    return "<dl class=facts>" + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in pairs) + "</dl>"


def problems_box(problems: list[str], title: str = "Missing or damaged") -> str:
    if not problems:
        return ""
    items = "".join(f"<li>{esc(p)}</li>" for p in problems)
    return f'<div class="problems"><strong>{esc(title)}</strong><ul>{items}</ul></div>'


def page(title: str, sections: list[tuple[str, str, str]], intro: str = "") -> str:
    """A whole document. ``sections``: (anchor id, heading, inner HTML), linked from the top."""
    nav = "".join(f'<a href="#{esc(anchor)}">{esc(heading)}</a>' for anchor, heading, _ in sections)
    body = "".join(f'<section id="{esc(anchor)}"><h2>{esc(heading)}</h2>{inner}</section>' for anchor, heading, inner in sections)
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<meta name=referrer content="no-referrer">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><main><header><h1>{esc(title)}</h1>{intro}<nav>{nav}</nav></header>\n{body}\n</main></body></html>\n"
    )
