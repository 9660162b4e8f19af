"""cnnlab's models on a GPU: training images/s with mixed precision and XLA, and a
Fashion-MNIST recipe screen (accuracy per epoch, many recipes at once).

    KERAS_BACKEND=jax python benchmarks/gpu_benchmark.py throughput --out DIR
    KERAS_BACKEND=jax python benchmarks/gpu_benchmark.py screen RECIPE.yaml --out DIR
    python benchmarks/gpu_benchmark.py report benchmarks/gpu    # -> its sections of RESULTS.md

Why the JAX backend: the GPU machines lent to this project have no network and no
TensorFlow (its wheel is ~600 MB; 64 MiB travel there), but they have JAX with CUDA.
Keras 3 runs the very same model on JAX, and JAX compiles every training step with
XLA, so this measures cnnlab's config loader and model builder (cnnlab.config,
cnnlab.model, cnnlab.train.compile: none of them needs TensorFlow) under XLA. It does
not measure cnnlab's tf.data input pipeline: batches come from NumPy arrays in host
memory, which Keras copies to the GPU step by step.

throughput: each fashion config at its own batch in float32 (TF32 on the GPU) and
mixed_bfloat16, fashion-best also at batch 1024, and a ResNet50 fine-tune (every layer
trainable, random weights: ImageNet weights cannot be fetched there) at 224x224x3,
batch 256, in float32, mixed_float16 and mixed_bfloat16. Synthetic uint8 images; one fit of 4 epochs, the first (XLA compiling)
dropped, the median of the other 3. Writes throughput.jsonl, a line per measurement.

screen: trains one recipe (a cnnlab config, with --set overrides such as seed=43 and a
--tag naming the rows) on real Fashion-MNIST with cnnlab's own split, and appends to
screen.jsonl a line per epoch with validation and test accuracy, and the accuracy with TTA
over the views the model trained on (cnnlab.inspect.tta_views) where it has any: accuracy
per epoch does not depend on the hardware, so a GPU can screen recipes that must then fit a
CPU's time budget (see configs/fashion-best.yaml). benchmarks/gpu/run_screen.sh runs a file
of such jobs, many at once; prepare_bundle.sh packs the data it needs.

report: turns the .jsonl files of a folder (benchmarks/gpu/ holds the measured ones)
into two sections of benchmarks/RESULTS.md (or of --output), next to NVIDIA's published
ResNet-50 figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def keras_without_tensorflow():
    """cnnlab.backend.keras() imports TensorFlow; on a Keras backend without it, hand
    cnnlab plain keras instead (before any cnnlab stage module binds the name)."""
    import keras

    from cnnlab import backend

    if keras.backend.backend() != "tensorflow":
        backend.keras = lambda: keras
        backend.has_gpu = lambda: True  # compile_model: XLA on (JAX compiles anyway)
    return keras


def throughput(out: Path) -> None:
    keras = keras_without_tensorflow()
    import jax

    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model
    from fit_speed import fit_images_per_second, synthetic

    device = str(jax.devices()[0].device_kind)
    halves = ("float32", "mixed_bfloat16")
    jobs = []  # (what, config, batch, image shape, steps per epoch, precisions)
    for name in ("fashion.yaml", "fashion-fast.yaml", "fashion-best.yaml"):
        cfg = load_config(REPO / "configs" / name, [])
        jobs.append((name, cfg, cfg.data.batch_size, (28, 28, 1), 100, halves))
    jobs.append(("fashion-best.yaml", cfg, 1024, (28, 28, 1), 50, halves[1:]))  # what the GPU could do
    cfg = load_config(
        REPO / "configs" / "finetune.yaml",
        ["model.backbone.weights=none", "model.backbone.input_size=[224,224]", "data.batch_size=256"],
    )
    jobs.append(("resnet50 fine-tune 224x224", cfg, 256, (224, 224, 3), 20, ("float32", "mixed_float16", "mixed_bfloat16")))
    for name, cfg, batch, shape, steps, precisions in jobs:
        for precision in precisions:
            keras.mixed_precision.set_global_policy(precision)
            keras.utils.set_random_seed(0)
            model = build_model(cfg, shape, 10)
            for layer in model.layers:  # a full fine-tune: every layer learns (NVIDIA's benchmark does too)
                layer.trainable = True
            compile_model(model, cfg, steps_per_epoch=steps)
            x, y = synthetic(shape, batch * steps, 10, cfg.train.loss)
            ips = fit_images_per_second(keras, model, x, y, batch, shuffle=False)
            row = {"model": name, "precision": precision, "batch": batch, "images_per_s": round(ips), "device": device}
            print(json.dumps(row), flush=True)
            with (out / "throughput.jsonl").open("a") as f:
                f.write(json.dumps(row) + "\n")
            keras.backend.clear_session()


def screen(recipe: Path, out: Path, sets: list[str], tag: str | None = None) -> None:
    keras = keras_without_tensorflow()
    from cnnlab.config import load_config
    from cnnlab.data import load_dataset
    from cnnlab.inspect.evaluate import views_probabilities
    from cnnlab.inspect.tta_views import trained_views
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model
    from fit_speed import targets

    cfg = load_config(recipe, sets)
    name = tag or recipe.stem
    path = recipe.resolve()  # the rows name it, for report's cost column
    config = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.as_posix()
    run = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"  # tells apart reruns appended to the same file
    keras.mixed_precision.set_global_policy("float32")  # the CPU run's numerics, not the GPU's fastest
    keras.utils.set_random_seed(cfg.seed)
    data = load_dataset(cfg.data, cfg.seed)
    classes = len(data.class_names)

    def labels(y):
        return targets(y, classes, cfg.train.loss)

    batch = cfg.data.batch_size
    steps = -(-len(data.x_train) // batch)
    model = build_model(cfg, data.x_train.shape[1:], classes)
    compile_model(model, cfg, steps_per_epoch=steps)
    log = out / "screen.jsonl"  # one short line per write: several screens can append at once
    started = time.perf_counter()

    views = trained_views(model)  # the test-time views cnnlab's evaluation averages (tta_views.py)

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            test = self.model.evaluate(data.x_test, labels(data.y_test), batch_size=1024, verbose=0, return_dict=True)
            row = {"recipe": name, "config": config, "sets": sets, "run": run, "seed": cfg.seed, "epoch": epoch + 1, "val_accuracy": round(float(logs["val_accuracy"]), 4),
                   "test_accuracy": round(float(test["accuracy"]), 4), "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
            if views:
                probs = views_probabilities(self.model, data.x_test, views, batch_size=1024)  # as cnnlab evaluate
                row["test_accuracy_tta"] = round(float((probs.argmax(1) == data.y_test).mean()), 4)
            with log.open("a") as f:
                f.write(json.dumps(row) + "\n")

    model.fit(
        data.x_train, labels(data.y_train), batch_size=batch, epochs=cfg.train.epochs, verbose=0,
        validation_data=(data.x_val, labels(data.y_val)), callbacks=[Record()],
    )  # fmt: skip


# NVIDIA DeepLearningExamples, TensorFlow/Classification/ConvNets/resnet50v1.5/README.md,
# "Training performance: NVIDIA DGX A100 (8x A100 40GB)", 1 GPU, batch 256, TF 20.06 container.
# NVIDIA publishes no TensorFlow ResNet-50 training figure for the H100 or H200.
REFERENCE = "ResNet-50 v1.5, TensorFlow + XLA, 1x A100 40GB, batch 256: TF32 909 images/s, mixed precision 2,375 images/s"


def report(folder: Path, output: Path) -> None:
    if not any((folder / name).exists() for name in ("throughput.jsonl", "screen.jsonl")):
        sys.exit(f"{folder}: neither throughput.jsonl nor screen.jsonl")
    if (folder / "throughput.jsonl").exists():
        _report_throughput(folder, output)
    if (folder / "screen.jsonl").exists():
        _report_screen(folder, output)


def _report_throughput(folder: Path, output: Path) -> None:
    from results import write_section

    rows = [json.loads(line) for line in (folder / "throughput.jsonl").read_text().splitlines() if line.strip()]
    device = (folder / "device.txt").read_text().strip().splitlines() if (folder / "device.txt").exists() else []
    lines = [
        "## GPU throughput (Keras on JAX, XLA)",
        "",
        f"Generated by `python benchmarks/gpu_benchmark.py report {folder.as_posix()}` from the figures "
        "`gpu_benchmark.py throughput` measured on a lent GPU machine"
        + (f" ({device[1]}; JAX and Keras {device[2].split()[0]}/{device[2].split()[1]})"
           if len(device) > 2 and len(device[2].split()) > 1 else "")
        + ". TensorFlow is not on that machine, so the models ran on Keras's JAX backend, where XLA "
        "compiles every step; batches came from NumPy arrays, not cnnlab's tf.data pipeline. "
        "Median of 3 epochs after a compiling epoch.",
        "",
        "| model | precision | batch | train images/s |",
        "|---|---|---:|---:|",
    ]
    lines += [f"| {r['model']} | {r['precision']} | {r['batch']} | {r['images_per_s']:,} |" for r in rows]
    lines += ["", f"Published reference (NVIDIA): {REFERENCE}."]
    if (folder / "NOTES.md").exists():  # where and when the figures were measured
        lines += ["", (folder / "NOTES.md").read_text().strip()]
    write_section("gpu_throughput", "\n".join(lines), output)


def _report_screen(folder: Path, output: Path) -> None:
    from results import write_section

    runs: dict[tuple, list[dict]] = {}  # one training run each (rows before --tag have no run id)
    for line in (folder / "screen.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            runs.setdefault((row["recipe"], row.get("seed"), row.get("run")), []).append(row)
    screens: dict[str, list[dict]] = {}  # label -> rows: the tag, its seed where named, "run 2" for a rerun
    for (recipe, seed, _), rows in sorted(runs.items(), key=lambda item: (item[0][0], item[0][1] or 0, item[0][2] or "")):
        label = recipe + (f" (seed {seed})" if seed is not None else "")
        count = sum(1 for key in screens if key == label or key.startswith(label + ", run "))
        screens[label + (f", run {count + 1}" if count else "")] = rows
    lines = [
        "## Fashion-MNIST recipe screen (GPU, float32)",
        "",
        f"Generated by `python benchmarks/gpu_benchmark.py report {folder.as_posix()}` from "
        "`gpu_benchmark.py screen` runs (one seed each unless named: differences under ~0.003 "
        "are noise). Accuracy per epoch does not depend on the hardware; cost does. \"cost\" is the "
        "training work relative to configs/fashion-best.yaml as it was (r0): forward FLOPs per image x epochs. "
        "TTA: the test accuracy there averaged over the views the model trained on (— where not recorded). "
        "Epochs \"12/20\": a run stopped before its schedule ended (the screen's time ran out).",
        "",
        "| recipe | epochs | batch | cost | best val accuracy (epoch) | test accuracy there | TTA there | last-epoch test |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base_flops, base_epochs, _ = _recipe_facts(REPO / "benchmarks" / "recipes" / "r0-best.yaml")
    base_cost = base_flops * base_epochs
    for name in sorted(screens):
        epochs = sorted(screens[name], key=lambda r: r["epoch"])
        best = max(epochs, key=lambda r: r["val_accuracy"])
        # rows written since --set/--tag name their config and overrides; older ones are recipes/NAME.yaml
        config = REPO / best["config"] if "config" in best else REPO / "benchmarks" / "recipes" / f"{best['recipe']}.yaml"
        if config.exists():
            flops, planned, batch = _recipe_facts(config, best.get("sets", []))
            cost = f"{flops * planned / base_cost:.2f}"
        else:  # a recipe from outside the repository, gone since
            planned, batch, cost = epochs[-1]["epoch"], "—", "—"
        done = f"{epochs[-1]['epoch']}" + (f"/{planned}" if epochs[-1]["epoch"] < planned else "")
        tta = f"{best['test_accuracy_tta']:.4f}" if "test_accuracy_tta" in best else "—"
        lines.append(f"| {name} | {done} | {batch} | {cost} | "
                     f"{best['val_accuracy']:.4f} ({best['epoch']}) | {best['test_accuracy']:.4f} | {tta} | "
                     f"{epochs[-1]['test_accuracy']:.4f} |")  # fmt: skip
    write_section("recipe_screen", "\n".join(lines), output)


def _recipe_facts(recipe: Path, sets: list[str] = ()) -> tuple[float, int, int]:
    """(forward FLOPs per image of the Conv2D, SeparableConv2D and Dense layers, epochs, batch)."""
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from layer_profile import model_forward_flops

    cfg = load_config(recipe, list(sets))
    return model_forward_flops(build_model(cfg, (28, 28, 1), 10)), cfg.train.epochs, cfg.data.batch_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["throughput", "screen", "report"])
    parser.add_argument("recipe", nargs="?", type=Path, help="screen: a config; report: a folder of .jsonl")
    parser.add_argument("--out", type=Path, default=Path("."))
    parser.add_argument("--set", dest="sets", action="append", default=[], help="screen: a config override, as cnnlab's --set")
    parser.add_argument("--tag", help="screen: the name its rows carry (default: the recipe's file name)")
    parser.add_argument("--output", type=Path, default=None, help="report: default its sections of benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.what == "report":  # reads files and builds models for their FLOPs: any backend
        from results import RESULTS

        report(args.recipe, args.output or RESULTS)
        return
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before Keras is imported
    args.out.mkdir(parents=True, exist_ok=True)
    if args.what == "throughput":
        throughput(args.out)
    else:
        screen(args.recipe, args.out, args.sets, args.tag)


if __name__ == "__main__":
    main()
