"""``cnnlab report``: one self-contained HTML page about a run, RUN/report.html.

    from cnnlab.inspect.report import write_report
    print(write_report("outputs/fashion/20260101-120000").path)

The page shows the run's status and timings, resolved config, layer table, training
curves, test metrics, confident mistakes, what the network learned (filters, feature
maps, Grad-CAM: drawn now for the conv layers where missing, within a time budget),
the augmentation preview and the environment. Pictures are embedded as data: URIs and
a Content-Security-Policy forbids network loads (cnnlab.inspect.html_page). A run with
missing or damaged files still gets a page: each section says what it could not read.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab import runs
from cnnlab.errors import CnnlabError, RunError
from cnnlab.inspect import html_page as h
from cnnlab.inspect.tta_views import views_phrase
from cnnlab.runs import RunDir, RunFiles, read_run

REPORT_FILE = RunDir.REPORT
VISUALIZE_BUDGET_SECONDS = 60.0  # drawing stops starting new layers after this
MADE_KINDS = ("filters", "feature-maps")  # drawn for each top-level conv layer; Grad-CAM for the top mistakes
MISTAKES_SHOWN = 3  # Grad-CAM of the most confident mistakes (mistakes.csv), at the last conv layer

# What each picture of cnnlab visualize shows; {layer} is the layer's path, {image} the image
# its sidecar names ("test #4: Sneaker", "shoe.jpg"; "one test image" for pictures without one).
KIND_CAPTIONS = {
    "filters": "Filters of {layer}: each learned kernel (first input channel) on one colour scale centred at 0; "
    "red weights are positive, blue negative.",
    "filters-before": "Filters of {layer} before training (the initial weights): compare them with the trained "
    "filters to see what training changed.",
    "histogram": "Weights of {layer}: their distribution before training (initial weights) and after.",
    "feature-maps": "Feature maps of {layer} for {image} (shown first): each channel's output, scaled per "
    "channel; bright means strongly activated.",
    "feature-maps-shared": "Feature maps of {layer} for {image} (shown first) on one colour scale centred at 0 "
    "(the colour bar): red is positive, blue negative, white zero, so channels compare with each other.",
    "stats": "Activation statistics of {layer} over many test images: mean activation and fraction of zeros per "
    "channel (a channel that is always zero is dead).",
    "gradcam": "Grad-CAM at {layer} for {image}: the parts of it that speak for the predicted class (and for the "
    "true class when they differ); red is most important.",
    "patterns": "Filter patterns of {layer}: the input each filter responds to most, found by gradient ascent.",
}
KIND_ORDER = ("filters", "filters-before", "histogram", "feature-maps", "stats", "gradcam", "patterns")


@dataclass
class Report:
    path: Path
    problems: list[str]  # what could not be read or made; also listed on the page
    drawn: list[Path] = field(default_factory=list)  # pictures made for this report


@dataclass
class _Context:
    run: RunFiles
    model: object | None = None
    loaded: object | None = None  # the LoadedRun every drawing shares (its test split is read once)
    notes: list[str] = field(default_factory=list)  # what could not be made (not: files missing)
    drawn: list[Path] = field(default_factory=list)


def write_report(run_dir, *, visualize_budget: float = VISUALIZE_BUDGET_SECONDS, unsafe: bool = False,
                 say=None) -> Report:  # fmt: skip
    """Write RUN/report.html (atomically) and return where, with what was missing.
    ``visualize_budget``: seconds for drawing missing pictures; 0 draws none. ``say(line)``
    hears each step that takes seconds (the CLI prints them)."""
    say = say or (lambda line: None)
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a run directory" if run_dir.exists() else "does not exist"
        raise RunError(f"run {str(run_dir)!r} {what}; pass a run directory such as outputs/<name>/<stamp> (cnnlab runs lists them)")
    ctx = _Context(read_run(run_dir))
    # A run whose pictures are all drawn (and whose summary.txt gives the layer table) needs
    # no model: the report of a finished run then opens without starting TensorFlow.
    if not _pictures_complete(ctx):
        say(f"loading {RunDir.MODEL} to draw what is missing ...")
        ctx.model = _load_model(ctx, unsafe)
    if ctx.model is not None and visualize_budget > 0:
        _draw_missing_pictures(ctx, visualize_budget, unsafe, say)
        _write_network_page(ctx, say)
    say(f"writing {RunDir.REPORT} ...")
    text = render(ctx)
    path = RunDir(run_dir).report
    try:
        runs.write_text(path, text)
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}; check the run directory's permissions") from None
    return Report(path, ctx.run.problems + ctx.notes, ctx.drawn)


def render(ctx: _Context) -> str:
    run = ctx.run
    sections = []
    for anchor, heading, build in SECTIONS:
        try:
            inner = build(ctx)
        except Exception as exc:  # noqa: BLE001  a damaged file must cost one section, never the page
            inner = f"<p class=muted>This section could not be drawn: {h.esc(type(exc).__name__)}: {h.esc(exc)}</p>"
        if inner:
            sections.append((anchor, heading, inner))
    intro = (
        f"<p class=muted>Run <code>{h.esc(run.path)}</code> · report written {h.esc(time.strftime('%Y-%m-%d %H:%M'))}"
        " · every picture and table is inside this file.</p>"
        + _headline(run)
        + h.problems_box(run.problems + ctx.notes, "Missing, damaged or not made")
    )
    return h.page(f"cnnlab run: {run.name} ({run.path.name})", sections, intro)


def _headline(run: RunFiles) -> str:
    """The answer first: test accuracy, the epoch kept, the state."""
    parts = [f"test accuracy <b>{run.test_accuracy:.4f}</b>" if run.test_accuracy is not None else "not evaluated yet"]
    if run.test_accuracy is not None and run.tta is not None:
        parts[0] += f" ({run.tta[0]:.4f} with TTA over {len(run.tta[1])} views)"
    if run.best_epoch is not None:
        done = f" of {run.epochs_done}" if run.epochs_done else ""
        parts.append(f"best epoch {run.best_epoch}{done} (kept in model.keras)")
    parts.append(f"state {h.esc(run.state)}")
    return f"<p class=headline>{' · '.join(parts)}</p>"


# ---------------------------------------------------------------- sections


PRECISION_TEXT = {
    "float32": "float32",
    "mixed_bfloat16": "mixed_bfloat16 (layers compute in bfloat16, weights stay float32)",
    "mixed_float16": "mixed_float16 (layers compute in float16, weights stay float32)",
}


def section_status(ctx: _Context) -> str:
    run, status = ctx.run, ctx.run.status or {}
    state = run.state
    epochs = run.epochs_done
    planned = run.epochs_planned
    pairs = [
        ("state", state),
        ("started", time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started))),
        ("epochs finished", "unknown" if epochs is None else f"{epochs}" + (f" of {planned}" if planned else "")),
    ]
    if status.get("phase"):
        pairs.append(("phase", status["phase"]))
    if status.get("error"):
        pairs.append(("stopped because", status["error"]))
    if run.best_epoch is not None:
        pairs.append(("best epoch (kept in model.keras)", run.best_epoch))
    seconds = (run.metrics or {}).get("train_seconds")
    if isinstance(seconds, (int, float)):
        pairs.append(("training time", _duration(seconds)))
    epoch_seconds = (run.history or {}).get("epoch_seconds") or []
    if epoch_seconds:
        median = sorted(epoch_seconds)[len(epoch_seconds) // 2]
        per_epoch = f"first {epoch_seconds[0]:.1f} s (includes start-up), median {median:.1f} s, total {sum(epoch_seconds):.1f} s"
        pairs.append(("time per epoch", per_epoch))
    precision = (run.metrics or {}).get("precision")
    if isinstance(precision, str):  # what train.mixed_precision (auto) chose on the machine that trained it
        pairs.append(("precision", PRECISION_TEXT.get(precision, precision)))
    if run.parameters is not None:
        pairs.append(("parameters", f"{run.parameters:,}"))
    html = h.facts(pairs).replace(f"<dd>{h.esc(state)}</dd>", f'<dd class="state-{h.esc(state)}">{h.esc(state)}</dd>', 1)
    if state in ("interrupted", "failed", "stopped", "running") and status.get("reason") != "diverged":
        command = runs.resume_command(run.path)
        html += f"<p>Continue it with <code>{h.esc(command)}</code>" + (" once it has stopped" if state == "running" else "") + ".</p>"
    return html


def section_config(ctx: _Context) -> str:
    if ctx.run.config_text is None:
        return "<p class=muted>config.yaml is missing or unreadable.</p>"
    return (
        "<p class=muted>The fully resolved config (every default filled in): "
        f"<code>cnnlab train {h.esc(ctx.run.layout.config)}</code> repeats the run.</p>"
        f"<details><summary>config.yaml ({ctx.run.config_text.count(chr(10))} lines)</summary>"
        f"<pre>{h.esc(ctx.run.config_text)}</pre></details>"
    )


def section_layers(ctx: _Context) -> str:
    if ctx.model is not None:
        try:
            return _layer_table(ctx)
        except Exception:  # noqa: BLE001, S110  fall back to the text table written at training time
            pass
    if ctx.run.summary_text:
        return "<p class=muted>From summary.txt (written when training started).</p>" + f"<pre>{h.esc(ctx.run.summary_text)}</pre>"
    return "<p class=muted>No layer table: summary.txt is missing and model.keras could not be loaded.</p>"


def _layer_table(ctx: _Context) -> str:
    from cnnlab.model.summary import explain, shape_text

    model = ctx.model
    phase_headers, phase_cells = _trainable_by_phase(ctx.run.config or {})
    rows = []
    for layer in model.layers:
        try:
            shape = shape_text(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        try:
            arithmetic = explain(layer)
        except Exception:  # noqa: BLE001  arithmetic is a bonus; a custom layer may not support it
            arithmetic = ""
        nested = hasattr(layer, "layers") and layer.__class__.__name__ != "Sequential" and layer.layers
        rows.append([layer.name, type(layer).__name__, shape, f"{layer.count_params():,}", *phase_cells(layer, bool(nested)), arithmetic])
    trainable = sum(int(_size(w)) for w in model.trainable_weights)
    total = model.count_params()
    # shapes and numbers on one line (on a phone the table scrolls sideways in its box); the
    # arithmetic, the last column, wraps instead of running past a laptop's screen
    numeric, nowrap = {3}, set(range(len(rows[0]) - 1 if rows else 0))
    header = ["layer", "type", "output shape", "params", *phase_headers, "arithmetic"]
    return (
        f"<p>Input {h.esc(shape_text(tuple(model.input.shape)))}: raw pixels 0..255 (the model rescales them). "
        f"Total {total:,} parameters, {trainable:,} trainable as saved. Output size rule: "
        "OH = (H + 2P − FH)/S + 1.</p>" + h.table(header, rows, numeric, nowrap)
    )


def _trainable_by_phase(config: dict):
    """Column headers and a cell function: which layers each training phase trains (from the config)."""
    backbone = ((config.get("model") or {}).get("backbone")) if isinstance(config.get("model"), dict) else None
    if not isinstance(backbone, dict):
        return ["trained"], lambda layer, nested: ["yes" if layer.count_params() else "—"]
    if backbone.get("mode") == "fine_tune":
        top = f"top {backbone['unfreeze']} layers" if backbone.get("unfreeze") else f"from {backbone.get('unfreeze_from')} up"
        unfrozen = f"{top} trained (BatchNorm frozen)"
        headers = ["phase 1: head", "phase 2: fine-tune"]
        return headers, lambda layer, nested: (
            ["frozen", unfrozen] if nested else ["yes", "yes"] if layer.count_params() else ["—", "—"]
        )
    return ["trained (feature extraction)"], lambda layer, nested: [
        "frozen" if nested else "yes" if layer.count_params() else "—"
    ]


def _size(weight) -> int:
    n = 1
    for d in weight.shape:
        n *= int(d)
    return n


def section_curves(ctx: _Context) -> str:
    run = ctx.run
    history = run.history
    png = run.layout.history_plot
    parts = []
    several_phases = len(run.phases) > 1
    caption = ("Loss and accuracy per epoch: training (solid) and validation (dashed). The best epoch by "
               f"{_monitor(run)} (the green dashed line) is the model kept in model.keras.")  # fmt: skip
    if history and (several_phases or not png.is_file()):
        from cnnlab.inspect.curves import plot_curves

        if several_phases:
            caption += " Dotted vertical lines mark where a new training phase starts (e.g. fine-tuning after the head)."
        parts.append(h.figure_matplotlib(plot_curves([(run.label, history)], run.best_epoch), caption))
    elif png.is_file():
        parts.append(h.figure_file(png, caption + " (plots/history.png)") or "<p class=muted>plots/history.png is unreadable.</p>")
    else:
        return "<p class=muted>No curves: history.csv has no readable epochs yet.</p>"
    if history:
        keys = [k for k in ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "epoch_seconds") if k in history]
        n = len(history[keys[0]])
        rows = [[_cell(k, history[k][i]) for k in keys] for i in range(n)]
        parts.append("<h3>Epochs</h3>" + h.table(keys, rows, numeric=set(range(len(keys)))))
    return "".join(parts)


def section_metrics(ctx: _Context) -> str:
    metrics = ctx.run.metrics
    if not metrics:
        return "<p class=muted>No test metrics: metrics.json is missing or damaged (training has not finished, or " \
               f"failed). <code>cnnlab evaluate {h.esc(ctx.run.path)}</code> makes them.</p>"  # fmt: skip
    pairs = [(k.replace("_", " "), _cell(k, metrics[k])) for k in ("test_accuracy", "test_loss", "test_images") if k in metrics]
    if ctx.run.tta is not None:
        value, views = ctx.run.tta
        pairs.insert(1, ("test accuracy with TTA", _cell("", value) + f" (each prediction the mean over {len(views)} "
                         f"views: {h.esc(views_phrase(views))}, as the model saw images in training; "
                         "test accuracy is the image alone)"))
    parts = [h.facts(pairs)]
    per_class = metrics.get("per_class")
    if isinstance(per_class, dict) and per_class:
        rows = [[name, *(_cell("", (row or {}).get(k)) for k in ("precision", "recall", "f1", "support"))]
                for name, row in per_class.items()]  # fmt: skip
        parts.append("<h3>Per class</h3>" + h.table(["class", "precision", "recall", "F1", "support"], rows, {1, 2, 3, 4}))
    caption = ("Confusion matrix on the test split: rows are the true class, columns the predicted class; "
               "the diagonal counts correct predictions.")  # fmt: skip
    png = ctx.run.layout.confusion_plot
    figure = h.figure_file(png, caption) if png.is_file() else None
    if figure is None and isinstance(metrics.get("confusion_matrix"), list):
        import numpy as np

        from cnnlab.plots import plot_confusion_matrix

        cm = np.asarray(metrics["confusion_matrix"], dtype=np.int64)
        names = ctx.run.class_names or [str(i) for i in range(len(cm))]
        figure = h.figure_matplotlib(plot_confusion_matrix(cm, names), caption)
    parts.append("<h3>Confusion matrix</h3>" + (figure or "<p class=muted>No confusion matrix in this run.</p>"))
    return "".join(parts)


def section_mistakes(ctx: _Context) -> str:
    png = ctx.run.layout.mistakes_plot
    caption = ("The test images the model got wrong with the highest confidence: each shows the true class and the "
               "predicted class with its probability.")  # fmt: skip
    figure = h.figure_file(png, caption) if png.is_file() else None
    return figure or "<p class=muted>plots/misclassified.png is missing (it is drawn when the run is evaluated).</p>"


def section_learned(ctx: _Context) -> str:
    root = ctx.run.layout.visualize_dir
    pictures = sorted(root.rglob("*.png")) if root.is_dir() else []
    if not pictures:
        return "<p class=muted>No pictures of what the network learned" + (
            ": model.keras could not be loaded to draw them.</p>" if ctx.model is None else ".</p>"
        )
    if ctx.run.layout.network_page.is_file():
        parts_first = (f'<p><a href="{RunDir.NETWORK}">Open {RunDir.NETWORK}</a> (beside this page in the run folder): '
                       "every layer's feature maps for one test image, the class probabilities at the end; click a "
                       "map to see its filter, the input it convolved and the numbers under the cursor.</p>")  # fmt: skip
    else:
        parts_first = ""
    by_layer: dict[str, list[Path]] = {}
    for png in pictures:
        by_layer.setdefault(png.parent.relative_to(root).as_posix(), []).append(png)
    order = _layer_order(ctx.model)
    parts = [
        parts_first,
        (
            "<p class=muted>Made by <code>cnnlab visualize</code> (plots/visualize/&lt;layer&gt;/&lt;kind&gt;.png); "
            "each caption says which image a picture shows. Grad-CAM is drawn for the model's most confident "
            "mistakes (mistakes.csv), to see what misled it.</p>"
        )
    ]
    for layer in sorted(by_layer, key=lambda name: (order.get(name, len(order)), name)):
        pictures = [(png, _about(png)) for png in by_layer[layer]]
        pictures.sort(key=lambda pa: (KIND_ORDER.index(pa[1]["kind"]) if pa[1]["kind"] in KIND_ORDER else 99, pa[0].stem))
        figures = [h.figure_file(png, _caption(layer, about)) for png, about in pictures]
        parts.append(f"<h3>{h.esc(layer)}</h3><div class=gallery>{''.join(f for f in figures if f)}</div>")
    return "".join(parts)


def _about(png: Path) -> dict:
    """What made a picture: its sidecar (cnnlab.inspect.visualize.write_about), else what its
    name says (pictures from before sidecars: one test image, per-channel scale)."""
    from cnnlab.inspect.visualize import ABOUT

    about = runs.read_json_file(png.with_name(png.stem + ABOUT), dict) or {}
    kind = about.get("kind") if isinstance(about.get("kind"), str) else next(
        (k for k in sorted(KIND_CAPTIONS, key=len, reverse=True) if png.stem.startswith(k)), png.stem)  # fmt: skip
    return {**about, "kind": kind}


def _caption(layer: str, about: dict) -> str:
    kind = about["kind"]
    key = "feature-maps-shared" if kind == "feature-maps" and about.get("shared_scale") else kind
    image = about.get("image") if isinstance(about.get("image"), str) else "one test image"
    caption = KIND_CAPTIONS.get(key, "{kind} of {layer}").format(layer=layer, kind=kind, image=image)
    if kind == "gradcam" and isinstance(about.get("note"), str) and about["note"]:
        caption += f" The model {about['note'].replace('predicted:', 'predicted', 1)}."
    return caption


def section_augmentation(ctx: _Context) -> str:
    # cnnlab augment writes <output-dir>/<name>/augment-preview.png, beside the config's runs.
    for png in (ctx.run.layout.augment_preview, ctx.run.path.parent / RunDir.AUGMENT_PREVIEW):
        if png.is_file():
            caption = ("Augmentation preview: one training image, then randomly augmented versions of it as the "
                       "model sees them during training (cnnlab augment).")  # fmt: skip
            return h.figure_file(png, caption) or ""
    return ""  # no augmentation preview: the section is left out


def section_environment(ctx: _Context) -> str:
    from cnnlab import __version__

    pairs = [("cnnlab", __version__), ("Python", sys.version.split()[0])]
    for packages, module, shown in ((("tensorflow", "tensorflow-cpu", "tensorflow-macos"), "tensorflow", "TensorFlow"),
                                     (("keras",), "keras", "Keras")):  # fmt: skip
        if module in sys.modules:  # started for this report: its own word
            found = getattr(sys.modules[module], "__version__", None)
        else:  # not started: what is installed, under any of its distribution names
            found = next((v for v in (_installed(p) for p in packages) if v), None)
        pairs.append((shown, found or "not installed"))
    if "tensorflow" in sys.modules:  # started for this report (drawing) or by training: ask it
        from cnnlab.backend import tf

        gpus = tf().config.list_physical_devices("GPU")
        device = ", ".join(g.name for g in gpus) if gpus else f"CPU only ({_cpu_count()} cores)"
    else:  # a report of a finished run does not start TensorFlow just to list GPUs
        device = f"{_cpu_count()} CPU cores (GPUs not checked: TensorFlow was not started for this report)"
    import numpy as np

    pairs += [("NumPy", np.__version__), ("device", device), ("system", f"{platform.system()} {platform.machine()}")]
    return "<p class=muted>The machine that wrote this report.</p>" + h.facts(pairs)


SECTIONS = [  # (anchor, heading, builder): a new section is one function and one line
    ("status", "Status and timings", section_status),
    ("config", "Resolved config", section_config),
    ("layers", "Layers", section_layers),
    ("curves", "Training curves", section_curves),
    ("metrics", "Test metrics", section_metrics),
    ("mistakes", "Most confident mistakes", section_mistakes),
    ("learned", "What the network learned", section_learned),
    ("augmentation", "Augmentation preview", section_augmentation),
    ("environment", "Environment", section_environment),
]


# ---------------------------------------------------------------- the model and missing pictures


def _load_model(ctx: _Context, unsafe: bool):
    path = ctx.run.layout.model
    if not path.is_file():
        ctx.notes.append(f"{runs.MODEL_FILE}: missing (no epoch finished), so no layer table from the model and no new pictures")
        return None
    try:
        return runs.load_model(path, unsafe=unsafe)
    except CnnlabError as exc:
        ctx.notes.append(f"{runs.MODEL_FILE}: {exc}")
        return None


def _conv_layers(model) -> list[str]:
    """Top-level layers with a 4-D conv kernel (a nested backbone gets Grad-CAM only: too many layers)."""
    return [layer.name for layer in model.layers if len(getattr(getattr(layer, "kernel", None), "shape", ())) == 4]


CONV_TYPES = ("Conv2D", "Conv2DTranspose")  # the layer types _conv_layers finds, as summary.txt names them


def _missing_pictures(ctx: _Context, conv_layers: list[str]) -> list[tuple]:
    """The one rule for what the report draws: [(layer or None, kinds, test index or None)]
    still missing: MADE_KINDS of each conv layer, and Grad-CAM (at the last conv layer) of
    the top mistakes when no Grad-CAM is there yet."""
    root = ctx.run.layout.visualize_dir
    plan = [(name, [k for k in MADE_KINDS if not (runs.inside(root, name) / f"{k}.png").is_file()], None)
            for name in conv_layers]  # fmt: skip
    plan = [(name, kinds, index) for name, kinds, index in plan if kinds]
    if not (root.is_dir() and any(root.rglob("gradcam*.png"))):  # None: visualize picks the last conv layer
        plan += [(None, ["gradcam"], index) for index in _top_mistakes(ctx)] or [(None, ["gradcam"], None)]
    return plan


def _pictures_complete(ctx: _Context) -> bool:
    """Whether nothing is missing for the conv layers that summary.txt lists (so the model
    need not be loaded to find out)."""
    if not ctx.run.summary_text:
        return False
    rows = [line.split() for line in ctx.run.summary_text.splitlines()]
    return not _missing_pictures(ctx, [row[0] for row in rows if len(row) > 2 and row[1] in CONV_TYPES])


def _draw_missing_pictures(ctx: _Context, budget: float, unsafe: bool, say=lambda line: None) -> None:
    """Filters and feature maps of each conv layer and Grad-CAM of the top mistakes, where not
    drawn yet, by cnnlab visualize; stops starting new layers once ``budget`` seconds are spent."""
    plan = _missing_pictures(ctx, _conv_layers(ctx.model))
    if not plan:
        return
    try:
        loaded = _loaded_run(ctx)
    except CnnlabError as exc:
        ctx.notes.append(f"pictures of what the network learned not made: {exc}")
        return
    from cnnlab.inspect.visualize import visualize_run

    started = time.perf_counter()
    for i, (layer, kinds, index) in enumerate(plan):
        if time.perf_counter() - started > budget:
            left = ", ".join(dict.fromkeys(name or "Grad-CAM" for name, _, _ in plan[i:]))
            ctx.notes.append(f"not drawn within the {budget:.0f} s budget: {left}; "
                             f"cnnlab visualize {ctx.run.path} --layer NAME draws them")  # fmt: skip
            return
        say(f"drawing {', '.join(kinds)} of {layer or 'the last conv layer'} ...")
        try:
            written = visualize_run(loaded, layer, kinds=kinds, index=index, unsafe=unsafe)
        except CnnlabError as exc:
            ctx.notes.append(f"{layer or 'Grad-CAM'}: not drawn: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001  a picture that fails must not cost the whole report
            ctx.notes.append(f"{layer or 'Grad-CAM'}: not drawn: {type(exc).__name__}: {str(exc).strip()[:200]}")
            continue
        ctx.drawn += [w.path for w in written if w.path.suffix == ".png"]


def _top_mistakes(ctx: _Context) -> list[int]:
    """The test indices of the most confident mistakes (mistakes.csv, most confident first)."""
    try:
        lines = ctx.run.layout.mistakes.read_text(encoding="utf-8").splitlines()[1 : 1 + MISTAKES_SHOWN]
        return [int(line.split(",", 1)[0]) for line in lines]
    except (OSError, ValueError, UnicodeDecodeError):
        return []


def _write_network_page(ctx: _Context, say=lambda line: None) -> None:
    """RUN/network.html (cnnlab explain network), linked from the report, where missing."""
    if ctx.run.layout.network_page.is_file():
        return
    say(f"writing {RunDir.NETWORK} (every layer's maps for one test image) ...")
    try:
        from cnnlab.inspect.network_page import write_network_page

        write_network_page(_loaded_run(ctx))
    except Exception as exc:  # noqa: BLE001  the page is a bonus: a failure is a note, never the report
        ctx.notes.append(f"{RunDir.NETWORK}: not made: {type(exc).__name__}: {str(exc).strip()[:200]}")


def _loaded_run(ctx: _Context):
    if ctx.loaded is None:
        ctx.loaded = _new_loaded_run(ctx)
    return ctx.loaded


def _new_loaded_run(ctx: _Context):
    from cnnlab.config import load_config

    config = load_config(ctx.run.layout.config)
    n_classes = int(ctx.model.output.shape[-1])
    names = ctx.run.class_names if ctx.run.class_names and len(ctx.run.class_names) == n_classes else [str(i) for i in range(n_classes)]
    return runs.LoadedRun(ctx.run.path, ctx.model, names, config)


# ---------------------------------------------------------------- small formatting helpers


def _layer_order(model) -> dict[str, int]:
    if model is None:
        return {}
    return {layer.name: i for i, layer in enumerate(model.layers)}


def _monitor(run: RunFiles) -> str:
    train = (run.config or {}).get("train") if isinstance(run.config, dict) else None
    return str((train or {}).get("monitor", "val_loss")) if isinstance(train, dict) else "val_loss"


def _cell(key: str, value) -> str:
    if value is None:
        return "—"
    if key in ("epoch", "phase", "test_images", "support") and isinstance(value, (int, float)):
        return f"{int(value)}"
    if isinstance(value, float):
        if key == "learning_rate":
            return f"{value:.3g}"
        if key == "epoch_seconds":
            return f"{value:.1f}"
        return f"{value:.4f}"
    return str(value)


def _duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"


def _installed(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
