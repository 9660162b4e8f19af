"""``cnnlab train CONFIG --workers N``: N local worker processes on loopback, one run.

Each worker is ``python -m cnnlab train ...`` with its own TF_CONFIG (free loopback
ports, worker 0 is the chief) in a session of its own, so a terminal's Ctrl-C reaches
the launcher only, and the launcher forwards it (and SIGTERM) once to every worker:
the workers agree on the batch to stop at (cnnlab.train.distribute.StopVote). The chief's
output is shown; the others' goes to a log that is quoted if they fail.

The workers die with the launcher, even on kill -9 (a parent-death signal), and share
one private network namespace with loopback only (cnnlab.train.process_ties): their gRPC
servers cannot be reached from another machine, and they cannot download (weights come
from the Keras cache; train once without --workers to fill it). At most worker_limit()
workers start (cores, memory) unless --over-limit says otherwise.

A worker that dies takes the collective ops of the others with it (they would wait
for it), so the launcher stops the rest at once and reports one line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from cnnlab import runs
from cnnlab.errors import ConfigError, RunError
from cnnlab.train.process_ties import WorkerTies

RUN_FILE_ENV = "CNNLAB_RUN_FILE"  # the chief writes its run directory's path here
GRACE_SECONDS = 3.0  # a worker stuck in a collective op cannot run its SIGTERM handler
AFTER_STOP_SECONDS = 60.0  # after a forwarded stop, how long the workers get to save and exit
EXIT_TOGETHER_SECONDS = 15.0  # ... and once one of them has exited, how long the others get
WORKER_MEMORY = 2**30  # bytes a worker needs at least (TensorFlow alone takes ~0.5 GiB)
SETTLE_SECONDS = 5.0  # after one worker's orderly error, how long the chief gets to report its own


def free_ports(n: int) -> list[int]:
    """n distinct free TCP ports on 127.0.0.1 (held open together, so they differ)."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def tf_configs(ports: list[int]) -> list[str]:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}) for i in range(len(ports))]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def last_error_line(log: Path) -> str:
    """The worker's last `Error: ...` line, or ''."""
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if line.startswith("Error:")]
    return errors[-1][:300] if errors else ""  # its own one-line error, if it had time to print one


def worker_limit() -> tuple[int, str]:
    """(most workers this machine runs, why): one per CPU core this process may use, and
    no more than fit in the memory available now at WORKER_MEMORY each (at least 2)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    free = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    limit, why = cores, f"{cores} CPU core{'s' * (cores != 1)}"
    if free is not None:
        fit = free // WORKER_MEMORY
        why += f", {free / 2**30:.1f} GiB free memory at {WORKER_MEMORY / 2**30:g} GiB a worker"
        limit = min(limit, fit)
    return max(limit, 2), why


def check_workers(workers: int, over_limit: bool = False) -> None:
    """ConfigError (one line) before anything starts when ``workers`` is not 2..the limit."""
    if workers < 2:
        raise ConfigError(f"--workers must be at least 2 (it is {workers}); leave it out to train in one process")
    limit, why = worker_limit()
    if workers > limit and not over_limit:
        raise ConfigError(f"--workers {workers} is more than this machine can run at once (at most {limit}: {why}); "
                          f"use --workers {limit}, or add --over-limit to start {workers} anyway")  # fmt: skip


def launch(args: list[str], workers: int, resume_run: Path | None = None, over_limit: bool = False) -> int:
    """Run ``cnnlab <args>`` as ``workers`` local workers; -> the chief's exit code.
    Raises RunError (one line) when a worker dies before the others are done, ConfigError
    when ``workers`` is over worker_limit() (unless ``over_limit``)."""
    check_workers(workers, over_limit)
    ties = WorkerTies(private_network=True)  # die with the launcher; loopback-only network
    if ties.network_note:
        print(f"warning: the workers' gRPC servers listen on every network interface here: {ties.network_note}",
              file=sys.stderr)  # fmt: skip
    try:
        return _launch(args, workers, resume_run, ties)
    finally:
        ties.close()


def _launch(args: list[str], workers: int, resume_run: Path | None, ties: WorkerTies) -> int:
    with tempfile.TemporaryDirectory(prefix="cnnlab-launch-") as tmp:
        tmp = Path(tmp)
        run_file = tmp / "run"
        logs = [None] + [tmp / f"worker{i}.log" for i in range(1, workers)]
        procs: list[subprocess.Popen] = []
        forwarded: list[int] = []

        def forward(signum, frame):
            forwarded.append(signum)
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signum)

        previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for i, tf_config in enumerate(tf_configs(free_ports(workers))):
                env = {**os.environ, "TF_CONFIG": tf_config, RUN_FILE_ENV: str(run_file) if i == 0 else ""}
                out = None if i == 0 else open(logs[i], "w")  # noqa: SIM115  closed with the process
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cnnlab", *args], env=env, stdout=out, stderr=out, start_new_session=True,
                        preexec_fn=ties,
                    )
                )
            return _supervise(procs, logs, forwarded, lambda: _run_dir(run_file, resume_run))
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            for p in procs:  # never leave a worker behind (an exception, a second Ctrl-C)
                if p.poll() is None:
                    p.kill()
                    p.wait()


def _supervise(procs, logs, forwarded, run_dir) -> int:
    chief = procs[0]
    stop_deadline = settle_deadline = None
    while True:
        codes = [p.poll() for p in procs]
        if all(c is not None for c in codes):
            return codes[0]
        if forwarded and stop_deadline is None:
            stop_deadline = time.monotonic() + AFTER_STOP_SECONDS
        if forwarded and any(c is not None for c in codes):
            # Workers agree on the batch to stop at and exit within moments of each other;
            # one that died before it could vote (e.g. still starting) leaves the others
            # waiting in a collective op, so they get a short while, not the full minute.
            stop_deadline = min(stop_deadline, time.monotonic() + EXIT_TOGETHER_SECONDS)
        failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if failed and not forwarded:
            i, code = failed[0]
            if code > 0 and settle_deadline is None:
                # An orderly error (NaN, full disk) reaches every worker at the same
                # batch: give the chief a moment to print its own Error: line and exit.
                settle_deadline = time.monotonic() + SETTLE_SECONDS
            if codes[0] not in (None, 0) and codes[0] > 0:
                _stop_all(procs)
                return codes[0]
            if code < 0 or time.monotonic() > settle_deadline:
                _stop_all(procs)
                raise RunError(_death_message(procs, logs, i, code, run_dir()))
        if stop_deadline is not None and time.monotonic() > stop_deadline:
            _stop_all(procs)
            return chief.returncode if chief.returncode is not None else 128 + forwarded[0]
        time.sleep(0.1)


def _death_message(procs, logs, i: int, code: int, run: Path | None) -> str:
    detail = last_error_line(logs[i]) if logs[i] else ""
    who = f"worker {i} (pid {procs[i].pid}{', the chief' if i == 0 else ''})"
    message = f"{who} {describe_exit(code)}{f' ({detail})' if detail else ''}; stopped the other workers"
    if run is not None:
        resume = runs.resume_command(run, len(procs))
        _mark_failed(run, f"{message}; resume with: {resume}", resume)
        message += f"; resume with: {resume}"
    return message


def _stop_all(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + GRACE_SECONDS
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _run_dir(run_file: Path, resume_run: Path | None) -> Path | None:
    if resume_run is not None:
        return Path(resume_run)
    try:
        text = run_file.read_text().strip()
    except OSError:
        return None
    return Path(text) if text else None


def _mark_failed(run: Path, message: str, resume: str) -> None:
    """status.json says failed (resumable) unless the chief finished or said more itself."""
    layout = runs.RunDir(run)
    status = layout.read_status() or {"epoch": 0}
    if status.get("state") in ("done", "interrupted"):
        return
    status.update(state="failed", error=message, resume=resume)
    status.pop("pid", None)
    try:
        runs.write_json(layout.status, status)
    except OSError:
        pass


def write_run_file(run: Path) -> None:
    """Called by the chief once its run directory exists (the launcher names it in errors)."""
    target = os.environ.get(RUN_FILE_ENV)
    if target:
        Path(target).write_text(str(run))
