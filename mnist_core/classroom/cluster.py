"""Where training runs go: a Dask cluster, either embedded (a LocalCluster of worker processes on this computer,
started the first time a run is needed) or a class's lab cluster named by $DIGIT_LAB_CLUSTER, reached only over
Dask's mutual TLS with the app's certificate from $DIGIT_LAB_CLUSTER_KEYS (mnist_core.classroom.keys).

Worker processes run one run each at a time, at a lower CPU priority than the app, so drawing and browsing stay
quick while training goes on. A cluster runs the pickles it is sent, so a lab cluster lets in only the computers that
hold a certificate of the class's authority; the embedded one listens on 127.0.0.1 only.
This module is imported only when a run is needed: distributed is slow to import (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.metadata
import logging
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask
from distributed import Client, LocalCluster, WorkerPlugin
from distributed.comm import get_address_host
from distributed.comm.core import CommClosedError, FatalCommClosedError
from distributed.core import Status
from distributed.security import Security

from mnist_core.classroom.keys import KeysError, check_readable
from mnist_core.i18n import _, ngettext

NICENESS = 10  # worker processes' CPU priority below the app's (Unix niceness; 0 is normal, 19 the lowest)
CONNECT_TIMEOUT_S = 10
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt() parameters
APP_PID = "DIGIT_LAB_APP_PID"  # set for an embedded cluster's workers: the app whose end they follow
TOPIC = "digit-lab"  # the one Dask event topic the workers speak to the app on: each run's events, workers refused
SILENT_S = 300.0  # a run whose worker sends nothing for this long has hung: $DIGIT_LAB_SILENT_S
RESTART_S = 60  # how long the embedded cluster may take to replace a hung worker process


class ClusterError(RuntimeError):
    """The cluster cannot be used; the message says why in one line, naming the setting to change."""


@dataclass(frozen=True)
class ClusterSettings:
    address: str | None = None  # $DIGIT_LAB_CLUSTER, e.g. tls://192.168.1.10:8786; None = embedded
    workers: int = 1  # $DIGIT_LAB_WORKERS: runs at once on this computer (embedded only)
    keys: Path | None = None  # $DIGIT_LAB_CLUSTER_KEYS: the cluster-keys folder holding the app's certificate
    silent_s: float = SILENT_S  # $DIGIT_LAB_SILENT_S: a run whose worker sends nothing this long is failed

    @classmethod
    def from_environment(cls) -> ClusterSettings:
        address = os.environ.get("DIGIT_LAB_CLUSTER", "").strip() or None
        text = os.environ.get("DIGIT_LAB_WORKERS", "").strip() or "1"
        if not text.isdigit() or not 1 <= int(text) <= 64:
            raise ClusterError(f"DIGIT_LAB_WORKERS must be a whole number of runs at once, 1 to 64, not {text!r}")
        keys = os.environ.get("DIGIT_LAB_CLUSTER_KEYS", "").strip()
        silent = os.environ.get("DIGIT_LAB_SILENT_S", "").strip() or str(SILENT_S)
        try:
            silent_s = float(silent)
        except ValueError:
            silent_s = 0.0
        if not 1 <= silent_s <= 86400:
            raise ClusterError(f"DIGIT_LAB_SILENT_S must be a number of seconds, 1 to 86400, not {silent!r}")
        return cls(address, int(text), Path(keys).expanduser() if keys else None, silent_s)

    def security(self) -> Security:
        """Mutual TLS with the app's certificate, for the lab cluster; a ClusterError for any other way in, since
        a cluster without it runs the code of anyone on the network who reaches it."""
        scheme = self.address.split("://", 1)[0].lower() if "://" in self.address else ""
        if scheme != "tls":
            raise ClusterError(
                _(
                    "DIGIT_LAB_CLUSTER must be a tls:// address, not {address}: a Dask cluster without TLS runs "
                    "the code of anyone who reaches it. Make the class's keys with "
                    "`python -m mnist_core cluster-keys DIR`, start the scheduler and workers with them (README, "
                    "class section) and set DIGIT_LAB_CLUSTER=tls://host:8786 DIGIT_LAB_CLUSTER_KEYS=DIR"
                ).format(address=self.address)
            )
        if self.keys is None:
            raise ClusterError(
                _(
                    "DIGIT_LAB_CLUSTER_KEYS is not set: name the folder `python -m mnist_core cluster-keys DIR` "
                    "made, which holds this app's certificate for the cluster at {address}"
                ).format(address=self.address)
            )
        try:
            paths = check_readable(self.keys, "app", "DIGIT_LAB_CLUSTER_KEYS")
        except KeysError as e:
            raise ClusterError(str(e)) from None
        security = Security(
            require_encryption=True,
            tls_ca_file=str(paths.ca),
            tls_client_cert=str(paths.cert),
            tls_client_key=str(paths.key),
        )
        try:  # read the files now, so a damaged or mismatched one is named before anything connects
            security.get_connection_args("client")
        except (ssl.SSLError, ValueError) as e:
            raise ClusterError(
                _("cannot use the certificate in {folder} (DIGIT_LAB_CLUSTER_KEYS): {error}").format(
                    folder=self.keys, error=e
                )
            ) from None
        return security

    def describe(self) -> str:
        if self.address:
            return _("the Dask cluster at {address}").format(address=self.address)
        return ngettext("this computer ({n} run at a time)", "this computer ({n} runs at a time)", self.workers).format(
            n=self.workers
        )


def engine_versions() -> dict[str, str]:
    """What a worker must share with the app to run its jobs: the same torch, and the same engine code (a hash
    of mnist_core's source, so a lab computer with an older copy is caught)."""
    digest, engine = hashlib.sha256(), Path(__file__).resolve().parents[1]
    for path in sorted(engine.rglob("*.py")):
        digest.update(path.relative_to(engine).as_posix().encode() + path.read_bytes())
    return {
        "python": ".".join(map(str, sys.version_info[:2])),
        # From the installed package's record, not by importing torch: a joining worker checks this in its event
        # loop (VersionCheck), where importing torch would take seconds.
        "torch": importlib.metadata.version("torch"),
        "mnist_core": digest.hexdigest()[:12],
    }


def version_mismatches(theirs: dict[str, str], here: dict[str, str]) -> list[str]:
    """What differs between a worker's engine_versions() and the app's, one "key theirs (this app: ours)" each."""
    return [f"{key} {theirs.get(key)} (this app: {here[key]})" for key in here if theirs.get(key) != here[key]]


def _worker_versions() -> dict[str, str]:
    return engine_versions()  # by name: each worker reads its own copy of the engine


def prepare_worker_process() -> None:
    """Make this worker process train as fast as the CLI and yield the CPU to the app. Idempotent."""
    _lower_priority()
    _default_malloc()
    _end_with_app()


_watching = threading.Lock()


def _end_with_app() -> None:
    """An embedded cluster's workers end within a second of their app, even one killed without closing them:
    otherwise a run would go on training for nobody until Dask's death timeout."""
    app = os.environ.get(APP_PID, "")
    # Not on Windows: there os.kill(pid, 0) would end the app instead of asking whether it lives.
    if os.name != "posix" or not app.isdigit() or not _watching.acquire(blocking=False):
        return

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(int(app), 0)
            except ProcessLookupError:
                os.killpg(os.getpgid(0), signal.SIGKILL)  # the `dask worker` process, its nannies and workers
            except OSError:  # alive, but not ours to signal
                pass

    threading.Thread(target=watch, name="digit-lab-app-watch", daemon=True).start()


def _lower_priority() -> None:
    """Every thread of this process at a lower CPU priority (on Linux niceness is per thread; threads made later
    inherit their maker's)."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < NICENESS:
                os.setpriority(os.PRIO_PROCESS, tid, NICENESS)
        except OSError:  # a thread that ended meanwhile, or a system without priorities
            pass


def _default_malloc() -> None:
    """Undo Dask's MALLOC_TRIM_THRESHOLD_ for this process: with it glibc hands every tensor over 128 KB back to the
    system and maps it afresh, and training ran much slower in a worker than in the CLI (docs/performance.md)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: Dask's setting does not apply there either
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 * 2**20)
    libc.mallopt(M_TRIM_THRESHOLD, 64 * 2**20)


class WorkerSetup(WorkerPlugin):
    """Run in every worker process as it joins: a lower CPU priority, memory handled as in the CLI, and no
    statistical profiler (Dask samples every thread's stack 100 times a second, for its dashboard)."""

    name = "digit-lab-setup"

    def setup(self, worker) -> None:
        prepare_worker_process()
        for name in ("profile", "profile-cycle"):
            if name in worker.periodic_callbacks:
                worker.periodic_callbacks[name].stop()


@dataclass(frozen=True)
class Refusal:
    """A lab worker VersionCheck refused as it joined: its address and what differs from the app."""

    address: str
    wrong: tuple[str, ...]  # "key theirs (this app: ours)", as version_mismatches() words them
    at: float = field(default_factory=time.time)


class VersionCheck(WorkerPlugin):
    """On a lab cluster, every worker as it joins, whenever that is: one whose Python, torch or engine code differs
    from the app's is refused before it takes a run (none starts there and the scheduler sends it none; it leaves with
    its nanny, so it does not come back by itself) and says why on TOPIC; one that matches says so."""

    name = "digit-lab-versions"

    def __init__(self, expected: dict[str, str]):
        self.expected = expected

    def setup(self, worker) -> None:
        wrong = version_mismatches(engine_versions(), self.expected)
        if not wrong:
            worker.log_event(TOPIC, {"accepted": worker.address})
            return
        worker.status = Status.closing_gracefully  # paused at once: no run starts here, the scheduler sends none
        worker.log_event(TOPIC, {"refused": worker.address, "wrong": wrong})
        logging.getLogger(__name__).error("this worker does not match the Digit Lab app: %s", "; ".join(wrong))
        worker.loop.add_callback(self._leave, worker)

    @staticmethod
    async def _leave(worker) -> None:
        # Retired first, as Worker.close_gracefully does: a run the scheduler gave it meanwhile goes to another
        # worker instead of failing as if this one had died.
        await worker.scheduler.retire_workers(
            workers=[worker.address], close_workers=False, remove=True, stimulus_id=f"digit-lab-refused-{time.time()}"
        )
        await worker.close(nanny=True, reason="digit-lab: its versions differ from the app's")


# A run's task to a lab cluster carries its dataset (full MNIST: 55 MB; the embedded workers read it themselves,
# dataref); sent with the task, it waits at the scheduler for a free worker instead of holding up the page until a
# worker can take it (Client.scatter).
dask.config.set({"distributed.admin.large-graph-warning-threshold": "512MB"})

# An idle embedded cluster kept a good part of a core busy (Dask's 20 ms event-loop tick, 100 ms memory monitor,
# profiler and work stealing), and these settings leave it almost idle (docs/performance.md). Runs last minutes
# and one worker trains one run at a time, so nothing here needs checking more often than each second.
QUIET = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
}
EMBEDDED = {
    **QUIET,
    # A worker that dies takes its run with it: fail that run at once instead of starting it again.
    "distributed.scheduler.allowed-failures": 0,
    # One run per worker: the next waits at the scheduler for the first free worker, not behind a busy one.
    "distributed.scheduler.worker-saturation": 1.0,
    # The scheduler, in the app's process, keeps this many of each topic's messages for get_events(), which
    # nothing here reads (each goes to the app's subscription as it comes): 1,000 held a run's events for minutes.
    "distributed.admin.low-level-log-length": 100,
}


class Cluster:
    """A Dask client on the cluster the settings name. The embedded one is a scheduler in this process and one
    `dask worker` process with $DIGIT_LAB_WORKERS workers, on 127.0.0.1: what a teacher starts by hand, started
    here. Not multiprocessing's workers: those re-run the process's __main__, which under Streamlit is the app."""

    def __init__(self, settings: ClusterSettings | None = None):
        self.settings = settings or ClusterSettings.from_environment()
        self._scheduler: LocalCluster | None = None
        self._workers: subprocess.Popen | None = None
        if self.settings.address:
            security = self.settings.security()
            try:
                self.client = Client(
                    self.settings.address, security=security, timeout=CONNECT_TIMEOUT_S, set_as_default=False
                )
            except CommClosedError as e:
                # Fatal: the scheduler's certificate is not the class's; an SSL end: it refused this app's.
                if not isinstance(e, FatalCommClosedError) and "SSL" not in str(e):
                    raise ClusterError(
                        f"cannot reach the Dask cluster at {self.settings.address} (DIGIT_LAB_CLUSTER): {e}"
                    ) from None
                raise ClusterError(
                    _(
                        "the Dask cluster at {address} and this app do not share a certificate authority: start the "
                        "scheduler and the workers with keys from the folder DIGIT_LAB_CLUSTER_KEYS names ({folder})"
                    ).format(address=self.settings.address, folder=self.settings.keys)
                ) from None
            except (OSError, TimeoutError) as e:
                raise ClusterError(
                    f"cannot reach the Dask cluster at {self.settings.address} (DIGIT_LAB_CLUSTER): {e}"
                ) from None
            self._check_versions()
        else:
            logging.getLogger("distributed").setLevel(logging.WARNING)  # not a line per worker event in the log
            # Dask's own bound on a silent worker (its heartbeat's time to live) later than the app's: a hung worker
            # is then the app's to replace (set_aside), not only dropped by the scheduler with its nanny unaware.
            ttl = {"distributed.scheduler.worker-ttl": f"{max(600.0, 2 * self.settings.silent_s)}s"}
            with dask.config.set({**EMBEDDED, **ttl}):
                # Plain TCP on 127.0.0.1, not Security.temporary(): off the network either way, and TLS made the
                # start and every run's submit slower (docs/performance.md).
                # No dashboard; the scheduler's small HTTP server (health, metrics) still starts, on a free port
                # rather than on 8787, where a second app or test cluster on this computer would collide.
                self._scheduler = LocalCluster(
                    n_workers=0,
                    host="127.0.0.1",
                    dashboard_address=None,
                    scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                )
            self.client = Client(self._scheduler, set_as_default=False)
            self._workers = self._start_workers(self._scheduler.scheduler_address)
            self.restarts = 0  # how often the worker processes were started again after they died
            self._closed = threading.Event()
            threading.Thread(target=self._keep_workers, name="digit-lab-workers", daemon=True).start()
        self.refused: dict[str, Refusal] = {}  # lab computers VersionCheck refused, by host, until one matches
        if self.settings.address:
            self.client.register_plugin(VersionCheck(engine_versions()))
        self.client.register_plugin(WorkerSetup())
        if self.settings.address:
            self._fail_at_once()

    def note_worker(self, msg: dict) -> None:
        """A lab worker's word from VersionCheck as it joined (TOPIC): refused, with what differs, or accepted."""
        if "refused" in msg:
            address = str(msg["refused"])
            self.refused[get_address_host(address)] = Refusal(address, tuple(map(str, msg.get("wrong", ()))))
        elif "accepted" in msg:
            self.refused.pop(get_address_host(str(msg["accepted"])), None)

    def set_aside(self, address: str) -> None:
        """A worker that has hung takes no next run: the embedded cluster's nanny replaces its process, so the next
        run trains; a lab computer's worker is removed from the scheduler (its own nanny, or the teacher, starts it
        again). A nested function travels by value, so the lab's scheduler needs no copy of the engine."""
        if self._scheduler is not None:
            self.client.restart_workers([address], timeout=RESTART_S, raise_for_error=False)
            return

        async def remove(dask_scheduler, address: str) -> None:
            await dask_scheduler.remove_worker(address, stimulus_id=f"digit-lab-silent-{time.time()}", close=True)

        self.client.run_on_scheduler(remove, address=address)

    def _fail_at_once(self) -> None:
        """A dead worker fails its run once on a lab cluster too, instead of Dask starting it from scratch up to
        three times; a function nested here travels by value, so the scheduler needs no copy of the engine."""

        def no_retries(dask_scheduler) -> None:
            dask_scheduler.allowed_failures = 0

        try:
            self.client.run_on_scheduler(no_retries)
        except Exception:  # a scheduler that refuses: runs are retried as Dask's settings say
            logging.getLogger(__name__).warning("could not set allowed-failures 0 on the lab scheduler")

    @property
    def embedded(self) -> bool:
        """Whether the workers run on this computer, reading its files (not a class's lab cluster)."""
        return not self.settings.address

    def connected(self) -> bool:
        return self.client.status == "running"

    def reconnect(self) -> None:
        """A new client for a lab cluster whose scheduler was lost (Dask's client closes itself after failing to
        reconnect): the next run goes through it; a ClusterError when the scheduler is not back yet."""
        try:
            self.client.close(timeout=CONNECT_TIMEOUT_S)
        except Exception:  # already closed
            pass
        fresh = Cluster(self.settings)
        self.client = fresh.client

    def _keep_workers(self) -> None:
        """The embedded cluster's `dask worker` process started again when it dies (an out-of-memory kill of it, or
        of all its workers), so the next run trains; Dask's nanny restarts a single dead worker by itself."""
        while not self._closed.wait(1):
            if self._workers.poll() is None:
                continue
            try:  # its orphaned workers too: the group started_new_session made
                os.killpg(self._workers.pid, signal.SIGKILL)
            except OSError:
                pass
            if self._closed.is_set():
                return
            self._workers = self._start_workers(self._scheduler.scheduler_address)
            self.restarts += 1

    def _start_workers(self, address: str) -> subprocess.Popen:
        engine_root = str(Path(__file__).resolve().parents[2])  # the folder that holds mnist_core
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [engine_root, os.environ.get("PYTHONPATH")])),
            "DIGIT_LAB_CPU_THREADS": str(self._threads_per_run()),
            "DASK_LOGGING__DISTRIBUTED": "warning",
            **{"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(v) for key, v in QUIET.items()},
            APP_PID: str(os.getpid()),
        }
        command = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers"]
        command += [str(self.settings.workers), "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard"]
        command += ["--death-timeout", "60"]  # if this app dies without closing them, they end by themselves
        # A process group of their own: Ctrl-C in a terminal reaches the app only, which stops the runs, lets the
        # workers send back what they learned, then ends them.
        group = (
            {"start_new_session": True}
            if os.name == "posix"
            else {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        )
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, **group)

    def _threads_per_run(self) -> int:
        """Each worker's share of this computer's cores: more threads than cores in all made training much slower
        (docs/performance.md)."""
        text = os.environ.get("DIGIT_LAB_CPU_THREADS", "").strip()
        if text.isdigit() and int(text) > 0:  # the host's own choice; 0 means the share below
            return int(text)
        return max(1, (os.cpu_count() or 1) // self.settings.workers)

    def _check_versions(self) -> None:
        here = engine_versions()
        try:
            theirs = self.client.run(_worker_versions)
        except Exception as e:  # a worker that cannot even import the engine
            raise ClusterError(f"the Dask workers at {self.settings.address} cannot run Digit Lab: {e}") from None
        if not theirs:
            raise ClusterError(f"the Dask cluster at {self.settings.address} has no workers yet")
        wrong = [
            f"{address}: {mismatch}"
            for address, versions in sorted(theirs.items())
            for mismatch in version_mismatches(versions, here)
        ]
        if wrong:
            self.client.close()
            raise ClusterError("some Dask workers do not match this app; update them: " + "; ".join(wrong))

    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def wait_for_workers(self, timeout: float = 120) -> None:
        self.client.wait_for_workers(self.settings.workers if self._workers else 1, timeout=timeout)

    def close(self) -> None:
        if self._scheduler is not None:
            self._closed.set()
        self.client.close()
        if self._workers is not None:
            self._workers.terminate()
            try:
                self._workers.wait(15)
            except subprocess.TimeoutExpired:
                self._workers.kill()
        if self._scheduler is not None:
            self._scheduler.close()
