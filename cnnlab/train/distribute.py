"""Training on tf.distribute: which strategy a run uses, who the chief is, where each
worker writes, and how all workers agree to stop.

    train.distribute   none         one device, TensorFlow's default strategy
                       mirrored     one process, all local GPUs (or train.devices)
                       multi_worker one process per machine, cluster from TF_CONFIG
                       auto         multi_worker when TF_CONFIG names a cluster, mirrored
                                    when more than one GPU is visible, else none

The batch size in the config is the global batch: each of R replicas gets batch/R.
The learning rate is never scaled behind the user's back.

MultiWorkerMirroredStrategy must exist before TensorFlow runs its first op (collective
ops are configured at program start-up), and cnnlab's config checks already build Keras
layers. So a process started with a multi-worker TF_CONFIG creates the strategy first,
``start_cluster()``, and ``choose()`` later hands that one out.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ConfigError
from cnnlab.runs import RunDir

KINDS = ("none", "mirrored", "multi_worker", "auto")
KEEP_WORKER_DIRS_ENV = "CNNLAB_KEEP_WORKER_DIRS"  # keep non-chief scratch folders under this path
_cluster_strategy = None  # the MultiWorkerMirroredStrategy made at start-up, if any


# ---------------------------------------------------------------- TF_CONFIG


@dataclass(frozen=True)
class Cluster:
    """The parts of TF_CONFIG cnnlab needs."""

    workers: int  # processes taking part (chief + workers)
    task_type: str
    task_index: int
    has_chief: bool = False
    address: str = ""  # this task's host:port in the cluster

    @property
    def is_chief(self) -> bool:
        # TensorFlow's rule: the "chief" task, or worker 0 when the cluster has no chief.
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0 and not self.has_chief)

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.task_index}"


def read_tf_config(environ=None) -> Cluster | None:
    """TF_CONFIG as a Cluster; None when unset or naming a single process."""
    text = (environ if environ is not None else os.environ).get("TF_CONFIG", "").strip()
    if not text:
        return None
    hint = 'set it like {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        members = {kind: list(cluster.get(kind) or []) for kind in ("chief", "worker")}
        task_type, task_index = str(task["type"]), int(task["index"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(f"TF_CONFIG is not a valid cluster description; {hint}") from None
    if task_type not in members or not 0 <= task_index < len(members[task_type]):
        raise ConfigError(f"TF_CONFIG task {task_type} {task_index} is not in its cluster; {hint}")
    workers = len(members["chief"]) + len(members["worker"])
    if workers < 2:
        return None
    return Cluster(workers, task_type, task_index, has_chief=bool(members["chief"]),
                   address=str(members[task_type][task_index]))  # fmt: skip


def start_cluster():
    """Call at process start, before any TensorFlow op: when TF_CONFIG names a cluster,
    create the MultiWorkerMirroredStrategy now (and patch Keras for it). Idempotent."""
    global _cluster_strategy
    cluster = read_tf_config()
    if _cluster_strategy is None and cluster is not None:
        from cnnlab.train import keras_patches
        from cnnlab.backend import tf

        try:
            _cluster_strategy = tf().distribute.MultiWorkerMirroredStrategy()
        except Exception as exc:  # noqa: BLE001  TensorFlow's UnknownError has no narrower class
            if "gRPC server" in str(exc):  # "Could not start gRPC server": the port is taken (or not this host's)
                port = cluster.address.rpartition(":")[2]
                raise ConfigError(
                    f"TF_CONFIG: {cluster.name} cannot listen on {cluster.address} (port {port} is in use, or the "
                    f"address is not this machine's); stop what uses port {port} or give this task a free port in "
                    "TF_CONFIG"
                ) from None
            if not isinstance(exc, RuntimeError) or "startup" not in str(exc):  # "Collective ops must be configured at program startup"
                raise
            raise ConfigError(
                "TF_CONFIG names a cluster, but TensorFlow was already running when training started; "
                "call cnnlab.train.distribute.start_cluster() first thing in your script (the CLI does)"
            ) from None
        keras_patches.apply()
    return _cluster_strategy


# ---------------------------------------------------------------- choosing a strategy


@dataclass
class Distribution:
    """The strategy a run trains under, and this process's place in it."""

    kind: str  # none | mirrored | multi_worker
    strategy: object  # a tf.distribute.Strategy
    replicas: int
    is_chief: bool = True
    worker: str = "chief"
    workers: int = 1
    reason: str = ""

    def describe(self, batch_size: int) -> str:
        """One line for the log, e.g. 'distribute: mirrored over 2 devices (CPU:0, CPU:1)'."""
        per = ""
        if self.replicas > 1:
            share, rest = divmod(batch_size, self.replicas)
            per = f"global batch {batch_size} = {self.replicas} x {share}" + (
                f" (+{rest}: some replicas get {share + 1})" if rest else ""
            )
        parts = [f"distribute: {self.kind}", self.reason, per]
        return "; ".join(p for p in parts if p)

    def scope(self):
        return self.strategy.scope()


def _none(devices):
    from cnnlab.backend import tf

    return Distribution("none", tf().distribute.get_strategy(), 1, reason="one device")


def _mirrored(devices):
    from cnnlab.backend import tf

    t = tf()
    if devices:
        known = {d.name.split("device:")[-1] for d in t.config.list_logical_devices()} | {
            d.name for d in t.config.list_logical_devices()
        }
        missing = [d for d in devices if d not in known and f"/device:{d}" not in known]
        if missing:
            shown = ", ".join(sorted(n.split("device:")[-1] for n in known if "device:" in n))
            raise ConfigError(f"train.devices names {missing[0]!r}, not a device here; devices here: {shown}")
        strategy = t.distribute.MirroredStrategy(devices=list(devices))
        where = ", ".join(devices)
    else:
        gpus = t.config.list_logical_devices("GPU")
        strategy = t.distribute.MirroredStrategy()  # all local GPUs, or the CPU when there are none
        where = ", ".join(g.name.split("device:")[-1] for g in gpus) or "CPU:0 (no GPU visible)"
    from cnnlab.train import keras_patches

    keras_patches.apply()  # fit builds without an extra iterator (see there)
    n = strategy.num_replicas_in_sync
    return Distribution("mirrored", strategy, n, reason=f"{n} replica{'s' * (n > 1)} ({where})")


def _multi_worker(devices):
    cluster = read_tf_config()
    if cluster is None:
        raise ConfigError(
            "train.distribute is multi_worker but TF_CONFIG names no cluster; "
            "use cnnlab train CONFIG --workers N on one machine, or set TF_CONFIG on every node"
        )
    strategy = start_cluster()
    role = "chief" if cluster.is_chief else "non-chief"
    n = strategy.num_replicas_in_sync
    return Distribution(
        "multi_worker", strategy, n, is_chief=cluster.is_chief, worker=cluster.name, workers=cluster.workers,
        reason=f"{cluster.workers} workers, {n} replicas; this is {cluster.name} ({role})",
    )  # fmt: skip


STRATEGIES = {"none": _none, "mirrored": _mirrored, "multi_worker": _multi_worker}


def resolve_kind(kind: str) -> tuple[str, str]:
    """'auto' -> the kind it picks here, and why."""
    if kind != "auto":
        return kind, ""
    if read_tf_config() is not None:
        return "multi_worker", "auto: TF_CONFIG names a cluster"
    from cnnlab.backend import tf

    gpus = len(tf().config.list_physical_devices("GPU"))
    if gpus > 1:
        return "mirrored", f"auto: {gpus} GPUs visible"
    return "none", f"auto: {gpus} GPU{'s' * (gpus != 1)} visible"


def choose(kind: str = "none", devices=None) -> Distribution:
    """The Distribution for train.distribute = ``kind`` (and train.devices)."""
    if kind not in KINDS:
        raise ConfigError(f"train.distribute is {kind!r}; choose one of {', '.join(KINDS)}")
    picked, why = resolve_kind(kind)
    if picked != "multi_worker" and read_tf_config() is not None:
        raise ConfigError(
            f"TF_CONFIG names a cluster but train.distribute is {kind}; "
            "set --set train.distribute=multi_worker (or auto), or unset TF_CONFIG"
        )
    if devices and picked != "mirrored":
        raise ConfigError(f"train.devices is only for train.distribute=mirrored (it is {kind}); drop train.devices")
    dist = STRATEGIES[picked](devices)
    if why:
        dist.reason = f"{why} -> {dist.reason}" if dist.reason else why
    return dist


def split_cpu(n: int) -> None:
    """Make ``n`` logical CPU devices (before TensorFlow starts) so mirrored can be
    tried without GPUs: train.devices [CPU:0, CPU:1]."""
    from cnnlab.backend import tf

    t = tf()
    cpu = t.config.list_physical_devices("CPU")[0]
    t.config.set_logical_device_configuration(cpu, [t.config.LogicalDeviceConfiguration()] * n)


# ---------------------------------------------------------------- chief-only writes


@contextmanager
def writable_run_dir(run: Path | None, dist: Distribution):
    """The directory this process writes its run files to. The chief writes the real
    run directory; every other worker writes the same files (same code path, same
    collective ops) into a scratch copy that is removed afterwards. On resume the copy
    starts from the run's files, so every worker restores the same backup."""
    if dist.is_chief:
        yield run
        return
    keep = os.environ.get(KEEP_WORKER_DIRS_ENV)  # a debugging aid: compare what each worker trained
    parent = Path(keep) if keep else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"cnnlab-{dist.worker.replace(' ', '')}-", dir=parent))
    try:
        if run is not None and Path(run).is_dir():
            shutil.copytree(run, scratch, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*RunDir.SCRATCH))
        yield scratch
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


# ---------------------------------------------------------------- agreeing to stop


class StopVote:
    """Every stop is agreed by all workers: each one offers its reason (a signal
    number, or 0) and all of them learn whether anyone asked, through one all-reduce.
    Called at the same points on every worker (train begin, every EVERY-th batch, epoch
    end), so the collectives line up; a stop seen by one worker only would deadlock the
    others in their next gradient all-reduce. A vote costs about 7 ms on loopback, so
    not every batch votes: a stop waits at most EVERY batches. NaN and early stopping
    need no vote: they follow from the loss and metrics, which are already all-reduced
    and so identical on every worker. With one process it is a plain function call."""

    EVERY = 10

    def __init__(self, dist: Distribution):
        self.dist = dist
        self._vote = None
        if dist.kind == "multi_worker":
            from cnnlab.backend import tf

            t, strategy = tf(), dist.strategy
            @t.function
            def vote(offer):
                def replica_fn(x):
                    # [replicas asking to stop, sum of their signal numbers]
                    ctx = t.distribute.get_replica_context()
                    return ctx.all_reduce("SUM", t.stack([t.cast(x > 0, t.float32), x]))

                return strategy.run(replica_fn, args=(offer,))

            self._vote = vote

    def agree(self, signum: int | None, batch: int | None = None) -> int | None:
        """-> the signal number to stop for (this worker's or another's), or None.
        ``batch``: the batch just finished (votes only every EVERY-th), None: always vote."""
        if self._vote is None:
            return signum
        if batch is not None and batch % self.EVERY:
            return None  # not a voting batch: a request waits for the next one
        from cnnlab.backend import tf

        t = tf()
        out = self._vote(t.constant(float(signum or 0)))
        asked, total = (float(v) for v in self.dist.strategy.experimental_local_results(out)[0].numpy())
        if asked == 0:
            return None
        return signum or round(total / asked)  # another worker's signal (their mean, if they differ)
