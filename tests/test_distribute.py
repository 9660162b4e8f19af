"""Training on tf.distribute: strategy choice, TF_CONFIG, mirrored on 2 logical CPU
devices, and `cnnlab train --workers 2` (MultiWorkerMirroredStrategy over loopback) on
real Fashion-MNIST: one run directory, identical workers, SIGTERM + resume, a killed
worker. Every multi-process test runs real `python -m cnnlab` processes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, requires_fashion, write_config

PY = sys.executable

# A small textbook stack with 10 outputs: real Fashion-MNIST, seconds per epoch.
FASHION_LAYERS = [
    {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "units": 32, "activation": "relu"},
    {"type": "Dense", "units": 10, "activation": "softmax"},
]


def fashion_config(tmp_path: Path, epochs: int, limit: int = 640) -> Path:
    return write_config(
        tmp_path / "fashion-small.yaml",
        name="dist",
        data={"source": "fashion_mnist", "limit": limit, "batch_size": 32, "validation_split": 0.2},
        model={"layers": FASHION_LAYERS},
        train={"epochs": epochs, "verbose": 0, "tensorboard": False, "early_stopping": {"enabled": False}},
    )


def env(**extra) -> dict:
    out = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    return {**out, **extra}


def cnnlab(*args, **popen):
    return subprocess.Popen([PY, "-m", "cnnlab", *map(str, args)], cwd=REPO, env=popen.pop("env", env()),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)  # fmt: skip


def status(run: Path) -> dict:
    try:
        return json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def the_run(out: Path) -> Path | None:
    runs = [p for p in out.glob("*/*") if p.is_dir()]
    return runs[0] if len(runs) == 1 else None


def history_epochs(run: Path) -> list[int]:
    with open(run / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def model_weights(path: Path) -> list[np.ndarray]:
    from cnnlab.runs import load_model

    return load_model(path).get_weights()


# ---------------------------------------------------------------- fast: choice and TF_CONFIG


def test_tf_config_names_chief_and_workers():
    from cnnlab.train.distribute import read_tf_config

    cluster = {"worker": ["h1:1", "h2:2", "h3:3"]}
    w0 = read_tf_config({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}})})
    w2 = read_tf_config({"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 2}})})
    assert (w0.workers, w0.is_chief, w2.is_chief) == (3, True, False)
    with_chief = {"chief": ["c:1"], "worker": ["h1:1"]}
    chief = read_tf_config({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}})})
    worker0 = read_tf_config({"TF_CONFIG": json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}})})
    assert (chief.workers, chief.is_chief, worker0.is_chief) == (2, True, False)
    assert read_tf_config({}) is None
    single = {"cluster": {"worker": ["h1:1"]}, "task": {"type": "worker", "index": 0}}
    assert read_tf_config({"TF_CONFIG": json.dumps(single)}) is None  # one process: nothing to distribute


def test_bad_tf_config_is_one_line_error():
    from cnnlab.train.distribute import read_tf_config
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^TF_CONFIG is not a valid cluster description; set it like"):
        read_tf_config({"TF_CONFIG": "{not json"})
    bad_index = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 5}}
    with pytest.raises(ConfigError, match=r"^TF_CONFIG task worker 5 is not in its cluster"):
        read_tf_config({"TF_CONFIG": json.dumps(bad_index)})


def test_cluster_after_tensorflow_started_is_one_line_error(monkeypatch):
    from cnnlab.backend import tf
    from cnnlab.errors import ConfigError
    from cnnlab.train.distribute import start_cluster
    from cnnlab.train.launcher import free_ports, tf_configs

    tf().constant(1)  # TensorFlow is running: too late to set up collective ops
    monkeypatch.setenv("TF_CONFIG", tf_configs(free_ports(2))[0])
    with pytest.raises(ConfigError, match=r"^TF_CONFIG names a cluster, but TensorFlow was already running"):
        start_cluster()


def test_launcher_ports_and_tf_configs():
    from cnnlab.train.launcher import free_ports, tf_configs

    ports = free_ports(3)
    assert len(set(ports)) == 3
    configs = [json.loads(c) for c in tf_configs(ports)]
    assert [c["task"]["index"] for c in configs] == [0, 1, 2]
    assert all(c["cluster"]["worker"] == [f"127.0.0.1:{p}" for p in ports] for c in configs)


def test_train_help_shows_workers(cli):
    result = cli("train", "--help")
    assert result.exit_code == 0
    assert "--workers N" in result.output


def test_workers_must_be_two_or_more(cli, tiny_config):
    result = cli("train", tiny_config, "--workers", "1")
    assert result.exit_code == 2
    assert "Invalid value for '--workers': 1 is not in the range x>=2" in result.output


def test_multi_worker_without_tf_config_is_an_error(cli, tiny_config, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = cli("train", tiny_config, "--set", "train.distribute=multi_worker", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: train.distribute is multi_worker but TF_CONFIG names no cluster; "
        "use cnnlab train CONFIG --workers N on one machine, or set TF_CONFIG on every node"
    )
    assert not (tmp_path / "out").exists()  # nothing half-made


def test_devices_need_mirrored(cli, tiny_config):
    result = cli("train", tiny_config, "--set", "train.devices=[CPU:0]")
    assert result.exit_code == 2
    assert "train.devices: only applies to train.distribute: mirrored (it is none)" in result.stderr


def test_several_steps_per_call_are_refused_when_distributed(cli, tiny_config):
    result = cli("train", tiny_config, "--set", "train.distribute=mirrored", "--set", "train.steps_per_execution=8")
    assert result.exit_code == 2
    assert "train.steps_per_execution: must be 1 (or auto) with train.distribute: mirrored" in result.stderr
    from cnnlab.config import load_config
    from cnnlab.train.compile import steps_per_execution

    # under a strategy (whatever train.distribute resolved to) one step per call, auto or not
    assert steps_per_execution(load_config(tiny_config, ["train.distribute=auto"]), distributed=True) == 1
    auto_eight = load_config(tiny_config, ["train.distribute=auto", "train.steps_per_execution=8"])
    assert steps_per_execution(auto_eight, distributed=True) == 1
    assert steps_per_execution(auto_eight, distributed=False) == 8


# ---------------------------------------------------------------- slow: real distributed training


@pytest.mark.slow
@requires_fashion
def test_mirrored_on_two_cpu_devices_matches_single_device_and_resumes(tmp_path):
    """Same global batch and seed: accuracy within 0.01 of one device, and the run's
    metrics.json equals evaluating its model.keras alone; a stopped mirrored run resumes. No Dropout: its masks are
    drawn per replica, so they differ from the single-device run's."""
    config = fashion_config(tmp_path, epochs=2, limit=800)
    script = f"""
import json, sys
from cnnlab.train.distribute import split_cpu
split_cpu(2)  # before TensorFlow starts: 2 logical CPU devices
from cnnlab.config import load_config
from cnnlab.train import train
out = {{}}
mirrored = ["train.distribute=mirrored", "train.devices=[CPU:0, CPU:1]"]
for kind, extra in [("none", []), ("mirrored", mirrored)]:
    run = train(load_config({str(config)!r}, extra), {str(tmp_path / "out")!r})
    out[kind] = str(run)

# resume: a stop request (what SIGTERM sets) once epoch 1 is backed up, then --resume
import threading, time
from pathlib import Path
from cnnlab.errors import TrainingInterrupted
from cnnlab.train import signals
later = Path({str(tmp_path / "resume")!r})
def stop_after_epoch_1():
    while True:
        found = list(later.glob("*/*/status.json"))
        if found and json.loads(found[0].read_text()).get("epoch") == 1:
            return signals.request_stop(15)
        time.sleep(0.02)
threading.Thread(target=stop_after_epoch_1, daemon=True).start()
cfg = load_config({str(config)!r}, [*mirrored, "train.epochs=3"])
try:
    train(cfg, later)
except TrainingInterrupted:
    pass
run = next(later.glob("*/*"))
out["interrupted"] = json.loads((run / "status.json").read_text())
signals.request_stop(None)
out["resumed"] = str(train(cfg, later, resume_run=run))
print(json.dumps(out))
"""
    done = subprocess.run([PY, "-c", script], check=False, cwd=REPO, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    assert "distribute: mirrored; 2 replicas (CPU:0, CPU:1); global batch 32 = 2 x 16" in done.stderr
    single, mirrored = (json.loads((Path(runs[k]) / "metrics.json").read_text()) for k in ("none", "mirrored"))
    assert abs(single["test_accuracy"] - mirrored["test_accuracy"]) <= 0.01
    assert status(Path(runs["mirrored"]))["state"] == "done"
    assert history_epochs(Path(runs["mirrored"])) == [1, 2]
    assert runs["interrupted"]["state"] == "interrupted" and runs["interrupted"]["signal"] == "SIGTERM"
    resumed = Path(runs["resumed"])
    assert status(resumed) == {"state": "done", "epoch": 3}
    assert history_epochs(resumed) == [1, 2, 3]
    # evaluated once, from the saved model alone
    from cnnlab.config import load_config
    from cnnlab.data import load_dataset
    from cnnlab.inspect.evaluate import evaluate_model
    from cnnlab.runs import load_model

    data = load_dataset(load_config(config).data, 1)
    model = load_model(Path(runs["mirrored"]) / "model.keras")
    alone = evaluate_model(model, data.x_test, data.y_test, data.class_names, batch_size=256).metrics
    assert (alone["test_accuracy"], alone["test_loss"]) == (mirrored["test_accuracy"], mirrored["test_loss"])


@pytest.mark.slow
@requires_fashion
def test_two_workers_sigterm_in_epoch_2_then_resume(tmp_path):
    """`--workers 2` on real data: SIGTERM to the launcher during epoch 2 -> 143 and
    status interrupted; `--resume RUN --workers 2` finishes; one complete run directory,
    no duplicate epochs, and the non-chief worker ends with the chief's weights."""
    config, out, kept = fashion_config(tmp_path, epochs=3), tmp_path / "out", tmp_path / "workers"
    launcher = cnnlab("train", config, "--workers", "2", "--no-report", "--output-dir", out,
                      env=env(CNNLAB_KEEP_WORKER_DIRS=str(kept)))  # fmt: skip
    try:
        run = wait_for(lambda: the_run(out), 120, "the run directory")
        wait_for(lambda: status(run).get("epoch") == 1, 180, "epoch 1 to finish")
        launcher.send_signal(signal.SIGTERM)
        stdout, stderr = launcher.communicate(timeout=120)
    finally:
        launcher.kill()
    assert launcher.returncode == 143, stderr[-2000:]
    interrupted = status(run)
    assert interrupted["state"] == "interrupted" and interrupted["signal"] == "SIGTERM"
    assert interrupted["resume"] == f"cnnlab train --resume {run} --workers 2"
    assert f"resume with: cnnlab train --resume {run} --workers 2" in stderr

    resumed = cnnlab("train", "--resume", run, "--workers", "2", "--no-report", "--output-dir", out,
                     env=env(CNNLAB_KEEP_WORKER_DIRS=str(kept)))  # fmt: skip
    stdout, stderr = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, stderr[-2000:]
    assert f"run saved to {run}" in stdout
    assert [p for p in out.glob("*/*")] == [run]  # exactly one run directory
    assert status(run) == {"state": "done", "epoch": 3}
    assert history_epochs(run) == [1, 2, 3]
    for name in ("config.yaml", "classes.json", "summary.txt", "initial.weights.h5", "model.keras", "metrics.json",
                 "plots/history.png", "plots/confusion_matrix.png"):  # fmt: skip
        assert (run / name).is_file(), name
    assert not (run / "backup").exists()
    assert not (run / "report.html").exists() and "report written" not in stdout  # --no-report reached the chief
    # the non-chief worker's kept scratch copy (of the resumed session): same weights, same history
    worker_dirs = sorted(kept.glob("cnnlab-worker1-*"), key=lambda p: p.stat().st_mtime)
    assert len(worker_dirs) == 2
    other = worker_dirs[-1]
    assert history_epochs(other) == [1, 2, 3]
    assert all(np.array_equal(a, b) for a, b in zip(model_weights(run / "model.keras"), model_weights(other / "model.keras")))
    assert not (other / "metrics.json").exists()  # evaluation happens once, on the chief


def _worker_pid(launcher_pid: int, index: int) -> int | None:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == launcher_pid and f'"index": {index}}}'.encode() in environ:
            return int(proc.name)
    return None


@pytest.mark.slow
@requires_fashion
def test_killed_worker_stops_the_launcher_with_one_error_line(tmp_path):
    config, out = fashion_config(tmp_path, epochs=50), tmp_path / "out"
    launcher = cnnlab("train", config, "--workers", "2", "--output-dir", out)
    try:
        run = wait_for(lambda: the_run(out), 120, "the run directory")
        wait_for(lambda: "pid" in status(run), 180, "training to start")
        pid = wait_for(lambda: _worker_pid(launcher.pid, 1), 10, "worker 1's process")
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = launcher.communicate(timeout=60)
        seconds = time.monotonic() - killed
    finally:
        launcher.kill()
    assert launcher.returncode == 1
    assert seconds < 60
    assert stderr.strip().splitlines()[-1] == (
        f"Error: worker 1 (pid {pid}) was killed by SIGKILL; stopped the other workers; "
        f"resume with: cnnlab train --resume {run} --workers 2"
    )
    assert status(run)["state"] == "failed"
    assert _worker_pid(launcher.pid, 0) is None  # the chief is gone too


@pytest.mark.slow
def test_keras_patches_are_still_needed(tmp_path):
    """Fails when upstream Keras has fixed model.fit under MultiWorkerMirroredStrategy
    (keras-team/keras#20585, tensorflow/tensorflow#72388): then drop cnnlab.train.keras_patches,
    or at least this version from its PATCHED_VERSIONS."""
    from cnnlab.train import keras_patches
    from cnnlab.train.launcher import free_ports, tf_configs

    probe = str(Path(__file__).with_name("keras_mwms_probe.py"))
    procs = [
        subprocess.Popen([PY, probe], cwd=REPO, env=env(TF_CONFIG=c), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in tf_configs(free_ports(2))
    ]  # fmt: skip
    try:
        results = [json.loads(p.communicate(timeout=240)[0].strip().splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            p.kill()
    for result in results:
        assert result["patched"] == "ok", result
        broken = result["unpatched"] != "ok"
        assert broken == keras_patches.needed(result["keras"]), (
            f"Keras {result['keras']}: unpatched fit under MultiWorkerMirroredStrategy gives {result['unpatched']!r}; "
            "update cnnlab.train.keras_patches.PATCHED_VERSIONS (drop the patch if upstream fixed it)"
        )
        if broken:  # each of the two fixes is needed
            assert "PerReplica" in result["unpatched"], result
            assert "Invalid reduction dimension 0" in result["fix1_only"], result


# ---------------------------------------------------------------- issue 23: the launcher's ties


def _children_with_tf_config(launcher_pid: int) -> list[int]:
    return [pid for pid in (_worker_pid(launcher_pid, i) for i in range(2)) if pid]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux namespaces and parent-death signal")
def test_workers_see_only_loopback_and_die_with_a_killed_launcher(tiny_config, tmp_path):
    launcher = cnnlab("train", tiny_config, "--workers", "2", "--no-report", "--output-dir", tmp_path / "out",
                      "--set", "train.epochs=10000", "--set", "train.early_stopping.enabled=false")  # fmt: skip
    workers = []
    try:
        workers += wait_for(lambda: len(_children_with_tf_config(launcher.pid)) == 2
                           and _children_with_tf_config(launcher.pid), 120, "two workers")  # fmt: skip
        for pid in workers:  # item 2: their network has loopback only, whatever their gRPC servers bind
            interfaces = [line.split(":")[0].strip() for line in Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]]
            assert interfaces == ["lo"], interfaces
            assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        launcher.send_signal(signal.SIGKILL)  # item 3: no handler runs, the workers must still go
        launcher.wait()
        wait_for(lambda: not any(_alive(pid) for pid in workers), 15, "the workers to die with their launcher")
    finally:
        if launcher.poll() is None:
            launcher.kill()
        for pid in workers:  # never leave an orphan behind, even when the test fails
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_beyond_cores_and_memory_are_refused_before_starting(cli, tmp_path):
    from cnnlab.train.launcher import worker_limit

    limit, why = worker_limit()
    assert limit >= 2 and "CPU core" in why
    result = cli("train", tmp_path / "never-read.yaml", "--workers", "1000", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    lines = result.output.strip().splitlines()  # free memory moves between the two readings: not compared
    assert len(lines) == 1 and lines[0].startswith("Error: --workers 1000 is more than this machine can run at once (at most ")
    assert "CPU core" in lines[0] and lines[0].endswith(", or add --over-limit to start 1000 anyway")


@pytest.mark.slow
def test_tf_config_port_in_use_is_one_error_line(tiny_config, tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        other = __import__("cnnlab.train.launcher", fromlist=["free_ports"]).free_ports(1)[0]
        tf_config = json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{other}"]},
                                "task": {"type": "worker", "index": 0}})  # fmt: skip
        proc = cnnlab("train", tiny_config, "--output-dir", tmp_path / "out", env=env(TF_CONFIG=tf_config))
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stderr[-800:]
    assert stderr.strip().splitlines()[-1] == (
        f"Error: TF_CONFIG: worker 0 cannot listen on 127.0.0.1:{port} (port {port} is in use, or the address is not "
        f"this machine's); stop what uses port {port} or give this task a free port in TF_CONFIG")
