"""A class's lab cluster on this computer, as the README's class section starts it: `dask scheduler` and
`dask worker` processes over TLS with the keys of `python -m mnist_core cluster-keys`, on 127.0.0.1, ended by
their process ids."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from mnist_core.classroom.keys import files

REPO = Path(__file__).resolve().parent.parent
DASK = str(Path(sys.executable).parent / "dask")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tls_flags(keys: str | Path, role: str) -> list[str]:
    """Dask's command-line flags for one role's files in a cluster-keys folder."""
    paths = files(keys, role)
    return ["--tls-ca-file", str(paths.ca), "--tls-cert", str(paths.cert), "--tls-key", str(paths.key)]


def env(**extra: str) -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def start_scheduler(keys: str | Path, log: Path, port: int = 0, **extra_env: str) -> tuple[str, subprocess.Popen]:
    """A TLS scheduler on 127.0.0.1 at `port` (0: a free one; its HTTP server on a free port), logging to `log`."""
    port = port or free_port()
    command = [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", "127.0.0.1:0"]
    with open(log, "w") as out:
        proc = subprocess.Popen(
            command + tls_flags(keys, "scheduler"), cwd=REPO, env=env(**extra_env), stdout=out, stderr=out
        )
    return f"tls://127.0.0.1:{port}", proc


def start_worker(
    address: str, keys: str | Path, log: Path, *flags: str, role: str = "worker", **extra_env: str
) -> subprocess.Popen:
    """A `dask worker --nthreads 1` on 127.0.0.1 with `role`'s certificate from `keys`, as a lab computer runs it."""
    command = [DASK, "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard", *flags]
    with open(log, "w") as out:
        return subprocess.Popen(command + tls_flags(keys, role), cwd=REPO, env=env(**extra_env), stdout=out, stderr=out)


def end(*procs: subprocess.Popen) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
