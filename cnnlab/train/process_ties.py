"""What ties the launcher's workers to it (Linux): each dies with the launcher, even on
``kill -9`` (the kernel's parent-death signal), and all of them share one private
network namespace that has only loopback, so their gRPC servers (TensorFlow binds
0.0.0.0, with no option for an address) cannot be reached from another machine.

Both are set in the forked child before it execs the worker (``preexec_fn``): ``libc``
and its functions are looked up beforehand, so the child only makes system calls."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# The namespace holder: a process that makes a user + network namespace, brings its
# loopback up, says "ok" and waits for its stdin to close (the launcher exiting).
_HOLDER = r"""
import ctypes, fcntl, os, socket, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: go with the launcher
uid, gid = os.geteuid(), os.getegid()
if libc.unshare(0x10000000 | 0x40000000) != 0:
    print("unshare: " + os.strerror(ctypes.get_errno()), flush=True); sys.exit(0)
try:
    with open("/proc/self/setgroups", "w") as f: f.write("deny")
except OSError: pass
with open("/proc/self/uid_map", "w") as f: f.write(f"{uid} {uid} 1")
with open("/proc/self/gid_map", "w") as f: f.write(f"{gid} {gid} 1")
s = socket.socket()
ifreq = struct.pack("16sH14x", b"lo", 0x1 | 0x40)  # IFF_UP | IFF_RUNNING
fcntl.ioctl(s, 0x8914, ifreq)  # SIOCSIFFLAGS
print("ok", flush=True)
sys.stdin.read()
"""


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


class WorkerTies:
    """``preexec_fn`` for Popen: parent-death signal, and (when ``private_network``) the
    holder's user + network namespaces. ``network_note`` says what could not be done."""

    def __init__(self, private_network: bool = True):
        self.libc = _libc()
        self.launcher_pid = os.getpid()
        self.holder: subprocess.Popen | None = None
        self.fds: tuple[int, int] | None = None
        self.network_note = ""
        if private_network and self.libc is not None:
            self._start_holder()
        elif private_network:
            self.network_note = "this system has no Linux network namespaces"

    def _start_holder(self) -> None:
        try:
            holder = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)  # fmt: skip
            said = holder.stdout.readline().strip()
        except OSError as exc:
            self.network_note = f"cannot start the namespace holder ({exc.strerror})"
            return
        if said != "ok":
            holder.kill()
            holder.wait()
            self.network_note = f"no private network namespace here ({said or 'the holder failed'})"
            return
        self.holder = holder
        self.fds = (os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY), os.open(f"/proc/{holder.pid}/ns/net", os.O_RDONLY))
        self._setns = self.libc.setns

    def __call__(self) -> None:  # in the forked child, before exec
        if self.libc is not None:
            self.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != self.launcher_pid:  # the launcher died before prctl: go now
                os._exit(1)
        if self.fds is not None:
            if self._setns(self.fds[0], CLONE_NEWUSER) != 0 or self._setns(self.fds[1], CLONE_NEWNET) != 0:
                os._exit(70)  # EX_SOFTWARE: never run a worker outside the private network

    def close(self) -> None:
        if self.fds is not None:
            for fd in self.fds:
                os.close(fd)
            self.fds = None
        if self.holder is not None:
            self.holder.stdin.close()  # its read() returns: it exits
            try:
                self.holder.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait()
            self.holder = None
