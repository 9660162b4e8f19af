"""Hyperparameter search with Keras Tuner, where every trial is a normal cnnlab run.

The config's ``tune:`` section (cnnlab.config.tune) names dotted config keys and their
distributions. Keras Tuner's oracle (random, Bayesian optimisation, Hyperband) picks
the values; each trial writes them into the config (as ``--set`` would) and trains it
with ``cnnlab.train.train`` into outputs/<name>/<stamp>/, so evaluate, visualize and
resume work on trials as on any run. Keras Tuner keeps its own state in
outputs/<name>/tune/ (its project directory): rerunning the command continues the
search, and a trial that was interrupted continues its own run (``train --resume``).

Needs the optional dependency: pip install 'cnnlab[tune]' (keras-tuner).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path


from cnnlab import runs
from cnnlab.runs.table import text_table
from cnnlab.errors import CnnlabError, ConfigError, RunError, TrainingDiverged, TrainingInterrupted
from cnnlab.config.tune import Choice, IntRange, TuneConfig, Uniform, parse_space

TUNE_DIR = "tune"  # Keras Tuner's project directory, under outputs/<name>/
HPARAMS_DIR = "tensorboard"  # under TUNE_DIR: the search space for TensorBoard's HParams tab
TRIALS_FILE = "cnnlab-trials.json"  # trial id -> run directory, values, objective
SEARCH_FILE = "cnnlab-search.json"  # what the search is of: a rerun must be the same search
BEST_FILE = "best.yaml"


@dataclass
class TrialRecord:
    trial_id: str
    values: dict
    run: str | None
    objective: float | None
    status: str  # done | interrupted | failed


# ---------------------------------------------------------------- the config side


def load_tune_config(path: Path, overrides=()):
    """(base Config, its TuneConfig) from a YAML file with a ``tune:`` section; the space
    is checked against the config before anything trains."""
    from cnnlab.config import load_config

    cfg = load_config(path, overrides)  # --set tune.trials=3 works like any other key
    if cfg.tune is None:
        raise ConfigError(f"{path}: tune: the config has no tune: section; add one with oracle, trials and space "
                          "(e.g. space: {train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}})")  # fmt: skip
    check_space(cfg, cfg.tune, str(path))
    return cfg, cfg.tune


CHECKED_CHOICES = 16  # choices per key tried in the config before the search; the rest when a trial draws them


def _checked_samples(dist) -> tuple:
    """What check_space tries of a distribution: all of a short list, the ends and an even
    spread of a long one (20,000 whole-config checks would take minutes before trial 1)."""
    samples = dist.samples()
    if len(samples) <= CHECKED_CHOICES:
        return samples
    picks = sorted({round(i * (len(samples) - 1) / (CHECKED_CHOICES - 1)) for i in range(CHECKED_CHOICES)})
    return tuple(samples[i] for i in picks)


def check_space(cfg, tune: TuneConfig, source: str) -> dict:
    """Parse the space and try every key with the ends of its range (or its choices: up to
    CHECKED_CHOICES of them; trial_config checks the others when a trial draws them) in the
    config, so an unknown key or an impossible value is an error now, not in trial 7."""
    from cnnlab.config import config_from_dict
    from cnnlab.model.layer_specs import check_model_layers

    try:
        space = parse_space(tune.space)
    except ValueError as exc:
        key, problem = exc.args[0]
        raise ConfigError(f"{source}: tune.space{'.' + key if key else ''}: {problem}") from None
    base = cfg.model_dump(mode="json") | {"tune": None}
    for key, dist in space.items():
        for value in _checked_samples(dist):
            try:
                trial = config_from_dict(json.loads(json.dumps(base)), [f"{key}={json.dumps(value)}"], source=source)
                if key.startswith(("model.layers", "model.head")):  # a layer type or argument: ask Keras now
                    check_model_layers(trial)
            except ConfigError as exc:
                problem = str(exc).split(": ", 1)[1] if str(exc).startswith("--set ") else str(exc)
                if isinstance(dist, Uniform) and value == dist.inside and not dist.log:
                    low, high = int(math.ceil(dist.low)), int(math.floor(dist.high))
                    problem = (f"{{uniform: [{dist.low:g}, {dist.high:g}]}} draws numbers like {value:g}, and {key} "
                               f"takes whole numbers; use {{int: [{low}, {high}]}} or a list of choices")  # fmt: skip
                raise ConfigError(f"{source}: tune.space.{key}: {problem}") from None
    if tune.oracle == "hyperband" and cfg.train.epochs < 2:
        raise ConfigError(f"{source}: tune.oracle: hyperband trains for up to train.epochs, which is "
                          f"{cfg.train.epochs}; set train.epochs to 2 or more, or use random/bayesian")  # fmt: skip
    return space


def trial_config(cfg, values: dict, source: str = "tune trial"):
    """The base config with the trial's values written in (as --set KEY=VALUE would)."""
    from cnnlab.config import config_from_dict

    overrides = [f"{key}={json.dumps(value)}" for key, value in values.items()]
    # Without the tune: section: a trial's run (and best.yaml) is a plain config to train.
    return config_from_dict(cfg.model_dump(mode="json") | {"tune": None}, overrides, source=source)


# ---------------------------------------------------------------- Keras Tuner


def keras_tuner():
    try:
        import keras_tuner as kt
    except ImportError:
        raise CnnlabError(
            "cnnlab tune needs Keras Tuner, which is not installed; pip install 'cnnlab[tune]' (or keras-tuner)"
        ) from None
    return kt


def hyperparameters(space: dict):
    """Parsed space -> keras_tuner.HyperParameters, one entry per dotted key."""
    kt = keras_tuner()
    hp = kt.HyperParameters()
    for key, dist in space.items():
        if isinstance(dist, Choice):
            hp.Choice(key, list(dist.values))
        elif isinstance(dist, Uniform):
            hp.Float(key, dist.low, dist.high, sampling="log" if dist.log else "linear")
        elif isinstance(dist, IntRange):
            hp.Int(key, dist.low, dist.high)
    return hp


def make_oracle(tune: TuneConfig, objective: str, hp, seed: int, max_epochs: int):
    kt = keras_tuner()
    direction = "min" if objective.endswith("loss") else "max"
    common = dict(objective=kt.Objective(objective, direction), hyperparameters=hp, seed=seed,
                  tune_new_entries=False, allow_new_entries=False, max_consecutive_failed_trials=3)  # fmt: skip
    oracles = {
        "random": lambda: kt.oracles.RandomSearchOracle(max_trials=tune.trials, **common),
        "bayesian": lambda: kt.oracles.BayesianOptimizationOracle(max_trials=tune.trials, **common),
        "hyperband": lambda: kt.oracles.HyperbandOracle(max_epochs=max_epochs, factor=tune.hyperband_factor, **common),
    }
    try:
        oracle = oracles[tune.oracle]()
    except ImportError as exc:  # Bayesian optimisation needs scikit-learn (keras-tuner[bayesian])
        raise CnnlabError(f"tune.oracle {tune.oracle} needs a package that is missing ({exc.name or exc}); "
                          "pip install 'cnnlab[tune]'") from None  # fmt: skip
    oracle.max_trials = tune.trials  # Hyperband has no max_trials argument, but its base Oracle honours it
    return oracle


def _tuner_class():
    kt = keras_tuner()

    class _Stop(kt.errors.FatalError):
        """Carries a cnnlab stop (Ctrl-C, a data error) through Keras Tuner, which
        records any other exception as an invalid trial and goes on."""

    class CnnlabTuner(kt.engine.base_tuner.BaseTuner):
        """Each trial: the base config with the trial's values, trained by cnnlab.train.train."""

        def __init__(self, oracle, cfg, tune, output_dir: Path, fresh: bool, say):
            self.cfg, self.tune, self.output_dir, self.say = cfg, tune, Path(output_dir), say
            self.folder = runs.inside(self.output_dir, cfg.name) / TUNE_DIR
            with contextlib.redirect_stdout(io.StringIO()):  # its "Reloading Tuner from ..." line
                super().__init__(oracle, directory=str(runs.inside(self.output_dir, cfg.name)), project_name=TUNE_DIR,
                                 overwrite=fresh)  # fmt: skip
            self.records = {} if fresh else read_trials(self.folder)

        def run_trial(self, trial, *args, **kwargs):
            values = {k: v for k, v in trial.hyperparameters.values.items() if k in self.tune.space}
            try:  # a long list of choices is checked here, as each is drawn (check_space tried a spread)
                cfg = trial_config(self.cfg, values, source=f"tune trial {trial.trial_id}")
            except ConfigError as exc:
                raise _Stop(exc) from None
            epochs = trial.hyperparameters.values.get("tuner/epochs")  # hyperband: this round's budget
            if epochs:
                cfg = trial_config(cfg, {"train.epochs": int(epochs)})
            earlier = self.records.get(trial.trial_id)
            resume = Path(earlier.run) if earlier and earlier.status == "interrupted" and earlier.run else None
            shown = ", ".join(f"{k}={_show(v)}" for k, v in values.items()) + (f", epochs={epochs}" if epochs else "")
            self.say(f"trial {trial.trial_id}: {shown}" + (f" (resuming {resume})" if resume else ""))
            run, status = self._train(cfg, trial.trial_id, values, resume)
            value = objective_value(run, self.objective_name)
            self._record(TrialRecord(trial.trial_id, values, str(run), value, status))
            if value is None:
                raise keras_tuner().errors.FailedTrialError(f"run {run} has no {self.objective_name} values")
            self.say(f"trial {trial.trial_id}: {self.objective_name} {value:.4f}  run {run}")
            return {self.objective_name: value}

        @property
        def objective_name(self) -> str:
            return self.oracle.objective.name

        def _train(self, cfg, trial_id, values, resume):
            from cnnlab.backend import keras
            from cnnlab.train import train
            from cnnlab.train.resume import plan_resume

            keras().backend.clear_session()  # one trial's graphs and tf.functions do not pile up in the next
            if resume is not None:  # the interrupted trial's own run, with its own config
                plan = plan_resume(str(resume), self.output_dir)
                if plan.cfg is None:
                    return resume, "done"
                cfg = plan.cfg
            before = set(existing_runs(self.output_dir, cfg.name))
            try:
                return train(cfg, self.output_dir, resume_run=resume), "done"
            except TrainingInterrupted as exc:
                run = resume or _new_run(self.output_dir, cfg.name, before)
                self._record(TrialRecord(trial_id, values, str(run) if run else None, None, "interrupted"))
                raise _Stop(exc) from None
            except TrainingDiverged as exc:  # a rate too high diverges: a bad trial, not a bad search
                run = resume or _new_run(self.output_dir, cfg.name, before)
                self.say(f"trial {trial_id}: {exc}")
                return run, "failed"
            except CnnlabError as exc:
                raise _Stop(exc) from None

        def _record(self, record: TrialRecord) -> None:
            self.records[record.trial_id] = record
            write_trials(self.folder, self.records)

    return CnnlabTuner


def _show(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def existing_runs(output_dir: Path, name: str) -> list[Path]:
    parent = runs.inside(output_dir, name)
    return [p for p in parent.iterdir() if runs.is_run_dir(p)] if parent.is_dir() else []


def _new_run(output_dir: Path, name: str, before: set) -> Path | None:
    new = [p for p in existing_runs(output_dir, name) if p not in before]
    return max(new) if new else None


def objective_value(run: Path | None, objective: str) -> float | None:
    """The best value of ``objective`` over the run's epochs (min for losses, max otherwise)."""
    if run is None or not runs.RunDir(run).history.is_file():
        return None
    values = [v for v in runs.RunDir(run).read_history().get(objective, []) if math.isfinite(v)]
    if not values:
        return None
    return min(values) if objective.endswith("loss") else max(values)


def read_trials(folder: Path) -> dict[str, TrialRecord]:
    path = folder / TRIALS_FILE
    if not path.is_file():
        return {}
    try:
        return {k: TrialRecord(**v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise RunError(_damaged(path, exc)) from None


def _damaged(path: Path, exc: Exception) -> str:
    from cnnlab.errors import first_line

    return (f"{path} is damaged ({type(exc).__name__}: {first_line(exc, 80)}); rerun with --fresh to start the "
            "search over (its runs stay)")


def write_trials(folder: Path, records: dict[str, TrialRecord]) -> None:
    runs.write_json(folder / TRIALS_FILE, {k: vars(r) for k, r in sorted(records.items())})


def check_same_search(folder: Path, cfg, tune: TuneConfig, fresh: bool) -> None:
    """A rerun continues the search only if it is the same search."""
    fingerprint = {
        "config": hashlib.sha256(_searched_config(cfg).encode()).hexdigest()[:16],
        "tune": hashlib.sha256(json.dumps(tune.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16],
    }
    path = folder / SEARCH_FILE
    if path.exists() and not fresh:
        try:
            old = json.loads(path.read_text())
            if not isinstance(old, dict):
                raise ValueError(f"holds {type(old).__name__}, not an object")
        except (OSError, ValueError) as exc:
            raise RunError(_damaged(path, exc)) from None
        changed = [part for part in ("config", "tune") if old.get(part) != fingerprint[part]]
        if changed:
            what = "the config" if changed == ["config"] else "the tune: section" if changed == ["tune"] else "the config and the tune: section"
            raise ConfigError(
                f"{folder} holds a search of another version of {what}; rerun with --fresh to start it over "
                "(its runs stay), or give the config another name:"
            )
    runs.write_json(path, fingerprint)


def _searched_config(cfg) -> str:
    """The config as YAML without tune: and track: (where runs are logged is not what is
    searched); the same text as dump_config gave before track: existed."""
    import yaml

    return yaml.safe_dump(cfg.model_copy(update={"tune": None}).model_dump(mode="json", exclude={"track"}), sort_keys=False)


@dataclass
class SearchResult:
    records: list[TrialRecord]  # best first; failed and unfinished trials last
    objective: str
    best_config: Path | None
    folder: Path


def tune(cfg, tune_cfg: TuneConfig, output_dir: Path = runs.DEFAULT_OUTPUT_DIR, fresh: bool = False,
         say=lambda line: None) -> SearchResult:  # fmt: skip
    """Run (or continue) the search; returns the trials, best first, and writes the best
    config to outputs/<name>/tune/best.yaml."""
    from cnnlab.config import dump_config

    runs.check_writable(output_dir)
    space = check_space(cfg, tune_cfg, "config")
    objective = tune_cfg.objective or cfg.train.monitor
    if objective.startswith("val_") and cfg.data.validation_split == 0:
        raise ConfigError(f"tune.objective: is {objective!r} but data.validation_split is 0; set a split or use loss")
    folder = runs.inside(output_dir, cfg.name) / TUNE_DIR
    check_same_search(folder, cfg, tune_cfg, fresh)
    if cfg.train.tensorboard:  # `tensorboard --logdir outputs/<name>`: the trials in the HParams tab
        from cnnlab.track.hparams import write_search_space

        write_search_space(folder / HPARAMS_DIR, space)
    oracle = make_oracle(tune_cfg, objective, hyperparameters(space), cfg.seed, cfg.train.epochs)
    tuner = _tuner_class()(oracle, cfg, tune_cfg, output_dir, fresh, say)
    if fresh:
        tuner.records = {}
        write_trials(folder, {})
    done = sum(r.status == "done" for r in tuner.records.values())
    if done:
        say(f"continuing the search in {folder}: {done} trial(s) done")
    try:
        tuner.search(verbose=0)
    except keras_tuner().errors.FatalError as stop:
        if stop.args and isinstance(stop.args[0], BaseException):
            raise stop.args[0] from None
        raise
    except RuntimeError as exc:  # Keras Tuner gives up after 3 failed trials in a row
        if "consecutive failures" not in str(exc):
            raise
        raise RunError(f"3 trials in a row failed without a {objective} value (diverged or stopped early); "
                       f"narrow tune.space (e.g. lower learning rates) and rerun with --fresh") from None  # fmt: skip
    records = sorted(tuner.records.values(), key=lambda r: _rank_key(r, objective))
    best_path = None
    if records and records[0].objective is not None:
        best_values = records[0].values
        best_path = folder / BEST_FILE
        header = (f"# best of {len(records)} trial(s) by {objective} = {records[0].objective:.5g} "
                  f"(trial {records[0].trial_id}, run {records[0].run})\n")  # fmt: skip
        runs.write_text(best_path, header + dump_config(trial_config(cfg, best_values)))
    return SearchResult(records, objective, best_path, folder)


def _rank_key(record: TrialRecord, objective: str):
    if record.objective is None:
        return (1, 0.0, record.trial_id)
    sign = 1 if objective.endswith("loss") else -1
    return (0, sign * record.objective, record.trial_id)


def summary_table(result: SearchResult, keys: list[str]) -> list[str]:
    """One row per trial, best first."""
    headers = ["rank", "trial", *keys, result.objective, "run"]
    rows = []
    for rank, r in enumerate(result.records, 1):
        value = f"{r.objective:.4f}" if r.objective is not None else r.status
        rows.append([str(rank), r.trial_id, *(_show(r.values.get(k, "")) for k in keys), value, r.run or "-"])
    return text_table(headers, rows).splitlines()


def summary_rows(result: SearchResult) -> list[dict]:
    """``cnnlab tune --json``: the trials, best first, as plain values."""
    return [{"rank": rank, "trial": r.trial_id, "values": r.values, result.objective: r.objective, "status": r.status,
             "run": r.run} for rank, r in enumerate(result.records, 1)]  # fmt: skip
