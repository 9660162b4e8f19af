"""Test-set evaluation: loss, accuracy, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cnnlab import runs
from cnnlab.config import DataConfig
from cnnlab.data import load_dataset
from cnnlab.data.images import model_image_shape
from cnnlab.data.photos import reference_background
from cnnlab.data.pipeline import EVAL_BATCH
from cnnlab.errors import CnnlabError, DataError
from cnnlab.inspect.tta_views import TTA_KEY, VIEWS_KEY, shown, trained_views
from cnnlab.model import outputs_logits


@dataclass
class Evaluation:
    metrics: dict  # written to metrics.json: test_loss and test_accuracy first
    probabilities: np.ndarray  # (N, classes)
    y_true: np.ndarray  # (N,)

def predict_probabilities(model, images: np.ndarray, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """images: an array, or a streamed folder split (cnnlab.data.FileSplit), read in batches."""
    from cnnlab.data.files import FileSplit
    from cnnlab.data.pipeline import model_input

    if isinstance(images, FileSplit):
        scores = model.predict(model_input(images, batch_size), verbose=0)
    else:
        scores = model.predict(images, batch_size=batch_size, verbose=0)
    scores = np.asarray(scores, dtype=np.float64)
    if outputs_logits(model):  # softmax, numerically stable
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
    return scores


VIEW_CHUNK = 2048  # images moved or mirrored at a time: a streamed split is read one slice at a time


def views_probabilities(model, images, views, batch_size: int = EVAL_BATCH) -> np.ndarray:
    """The sum of the probabilities over ``views`` (tta_views.View) of every image; ``images``
    an array or a streamed folder split (cnnlab.data.FileSplit, whose slices are arrays)."""
    parts = []
    for i in range(0, len(images), VIEW_CHUNK):
        chunk = np.asarray(images[i : i + VIEW_CHUNK])
        parts.append(sum(predict_probabilities(model, shown(chunk, view), batch_size) for view in views))
    return np.concatenate(parts)


def evaluate_model(model, x_test: np.ndarray, y_test: np.ndarray, class_names: list[str], batch_size: int = EVAL_BATCH) -> Evaluation:
    probs = predict_probabilities(model, x_test, batch_size)
    y_true = np.asarray(y_test, np.int64)
    y_pred = probs.argmax(axis=1)
    n_classes = len(class_names)
    # Same clipping as Keras's cross-entropy, so test_loss matches model.evaluate.
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-7, 1.0))))
    cm = confusion_matrix(y_true, y_pred, n_classes)
    per_class = {}
    for c, name in enumerate(class_names):
        tp = cm[c, c]
        precision = tp / cm[:, c].sum() if cm[:, c].sum() else 0.0
        recall = tp / cm[c, :].sum() if cm[c, :].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(float(precision), 4),
            "recall": round(float(recall), 4),
            "f1": round(float(f1), 4),
            "support": int(cm[c, :].sum()),
        }
    metrics = {
        "test_loss": round(loss, 5),
        "test_accuracy": round(float((y_pred == y_true).mean()), 5),
        "test_images": int(len(y_true)),
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion_matrix": cm.tolist(),  # rows: true class, columns: predicted class
    }
    if len(getattr(x_test, "shape", ())) == 4 and len(x_test):  # images, not cached features (N, F)
        # the mean of the test images' border pixels, 0..255: predict and visualize --image
        # compare a photo's background with it (cnnlab.data.photos)
        metrics["test_background"] = round(reference_background(x_test), 1)
        views = trained_views(model)
        if views:  # a pass per view it trained on: the accuracy with TTA, beside the plain one
            averaged = (probs + views_probabilities(model, x_test, views[1:], batch_size)) / len(views)
            metrics[TTA_KEY] = round(float((averaged.argmax(axis=1) == y_true).mean()), 5)
            metrics[VIEWS_KEY] = [view.name for view in views]
    return Evaluation(metrics, probs, y_true)


MISTAKES_FILE = runs.RunDir.MISTAKES  # in the run directory: every misclassified test image, by test index


def csv_field(text: str) -> str:
    """A class name as one CSV field (quoted when it holds a comma or a quote)."""
    return '"' + text.replace('"', '""') + '"' if any(ch in text for ch in ',"\n') else text


def misclassified(y_true: np.ndarray, probs: np.ndarray, class_names: list[str]) -> list[dict]:
    """Every wrongly predicted test image, most confidently wrong first: its index in the
    run's test split (what `cnnlab visualize --index N` takes), true and predicted class,
    and the predicted class's probability."""
    y_pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(y_pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")]
    return [{"index": int(i), "true": class_names[int(y_true[i])], "predicted": class_names[int(y_pred[i])],
             "confidence": round(float(probs[i, y_pred[i]]), 4)} for i in wrong]  # fmt: skip


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def write_evaluation(run: Path, evaluation: Evaluation, x_test: np.ndarray) -> None:
    """metrics.json, the mistakes file, plots/confusion_matrix.png and plots/misclassified.png."""
    # matplotlib here, not at import: predicting (export, shift, predict, the GPU screen) draws nothing
    from cnnlab.plots import plot_confusion_matrix, plot_misclassified

    run = runs.RunDir(run)
    names = evaluation.metrics["class_names"]
    run.write_metrics(evaluation.metrics)
    rows = misclassified(evaluation.y_true, evaluation.probabilities, names)
    runs.write_text(run.mistakes, "index,true,predicted,confidence\n" + "".join(
        f"{r['index']},{csv_field(r['true'])},{csv_field(r['predicted'])},{r['confidence']}\n" for r in rows))
    cm = np.array(evaluation.metrics["confusion_matrix"])
    runs.save_figure(plot_confusion_matrix(cm, names), run.confusion_plot)
    y_pred = evaluation.probabilities.argmax(axis=1)
    runs.save_figure(
        plot_misclassified(x_test, evaluation.y_true, y_pred, evaluation.probabilities, names),
        run.mistakes_plot,
    )


def run_test_data(loaded, fix: str = "pass the run directory that trained this model") -> tuple[np.ndarray, np.ndarray]:
    """A loaded run's own test images and labels (see run_dataset)."""
    data = run_dataset(loaded, fix)
    return data.x_test, data.y_test


def run_dataset(loaded, fix: str = "pass the run directory that trained this model"):
    """A loaded run's own dataset (its config and seed), read once per LoadedRun: the
    report draws several layers from one. A bare .keras file has no config, so it gets
    Fashion-MNIST adapted to the model's input size and channels."""
    if "dataset" in loaded.cache:
        return loaded.cache["dataset"]
    if loaded.config is not None:
        data_cfg, seed = loaded.config.data, loaded.config.seed
    else:
        h, w, c = model_image_shape(loaded.model)
        data_cfg, seed = DataConfig(image_size=(h, w), color_mode="rgb" if c == 3 else "grayscale"), 0
    data = load_dataset(data_cfg, seed)
    if data.num_classes != len(loaded.class_names):
        raise DataError(
            f"the model predicts {len(loaded.class_names)} classes but the test data found for it has "
            f"{data.num_classes}; {fix}"
        )
    loaded.cache["dataset"] = data
    return data


def run_background(loaded) -> tuple[float | None, str]:
    """(the run's images' background level, "") for the photo check of predict and
    visualize --image: metrics.json's test_background, else measured on the run's test
    split; (None, the reason) when neither can be read here (then --invert auto inverts nothing)."""
    if loaded.run_dir is not None:
        try:
            level = runs.RunDir(loaded.run_dir).read_metrics().get("test_background")
        except (OSError, ValueError, AttributeError):
            level = None
        if isinstance(level, (int, float)):
            return float(level), ""
    try:
        x_test, _ = run_test_data(loaded)
    except (CnnlabError, OSError) as exc:
        return None, (f"cannot compare backgrounds: the run's images are not readable here ({exc}); "
                      "--invert yes or no decides")  # fmt: skip
    return reference_background(x_test), ""


def evaluate_run(loaded, batch_size: int = EVAL_BATCH, progress: Callable[[str], None] | None = None) -> Evaluation:
    """Evaluate a loaded run on its test split and, for a run directory, rewrite its
    metrics.json and plots. ``progress`` gets one line per step (the CLI prints them)."""
    say = progress or (lambda line: None)
    say("reading the test split ...")
    x_test, y_test = run_test_data(loaded)
    views = len(trained_views(loaded.model))
    say(f"predicting {len(y_test)} test images" + (f", each in {views} views (TTA) ..." if views else " ..."))
    evaluation = evaluate_model(loaded.model, x_test, y_test, loaded.class_names, batch_size)
    if loaded.run_dir is not None:
        # Keep what only training knows (time, best epoch): `cnnlab runs` and reports read it.
        try:
            trained = runs.RunDir(loaded.run_dir).read_metrics()
        except (OSError, ValueError):
            trained = {}
        for key in TRAINING_KEYS:
            if key in trained and key not in evaluation.metrics:
                evaluation.metrics[key] = trained[key]
        say("writing the metrics, the confusion matrix and the misclassified images ...")
        write_evaluation(loaded.run_dir, evaluation, x_test)
    return evaluation


# metrics.json keys written by train only (cnnlab evaluate keeps them)
TRAINING_KEYS = ("train_seconds", "best_epoch", "timings_seconds", "train_images", "precision")
