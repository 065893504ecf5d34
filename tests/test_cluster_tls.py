"""The lab cluster over Dask's mutual TLS: keys made by `python -m mnist_core cluster-keys`, a real `dask scheduler`
and `dask worker` started here on 127.0.0.1 with them (ended by their pids); the app's certificate gets in, and a
client or worker without a certificate, or with one from another class's authority, is refused."""

from __future__ import annotations

import asyncio
import io
import operator
import ssl
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from distributed import Client
from distributed.comm import connect

from harness import lab_cluster
from mnist_core.classroom.cluster import Cluster, ClusterError, ClusterSettings
from mnist_core.classroom.jobs import JobQueue
from mnist_core.classroom.keys import all_files, files
from mnist_core.cli import main


def cluster_keys(*args) -> subprocess.CompletedProcess:
    """`python -m mnist_core cluster-keys ...` through the CLI's main() in this process: output and exit code."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["cluster-keys", *map(str, args)])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def security(keys: Path, ca_from: Path | None = None):
    """The app's Security for `keys`' certificate, trusting `ca_from`'s authority (by default the same folder's)."""
    from distributed.security import Security

    app = files(keys, "app")
    return Security(
        require_encryption=True,
        tls_ca_file=str(files(ca_from or keys, "app").ca),
        tls_client_cert=str(app.cert),
        tls_client_key=str(app.key),
    )


def until(condition, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while not condition():
        assert time.time() < end, what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The class's keys and another class's, each made by `cluster-keys`."""
    root = tmp_path_factory.mktemp("keys")
    for name in ("class", "other"):
        proc = cluster_keys(root / name)
        assert proc.returncode == 0, proc.stderr
    return root / "class", root / "other"


@pytest.fixture(scope="module")
def lab(keys, tmp_path_factory):
    """A TLS scheduler and one worker with the class's certificates: (address, scheduler log, worker address)."""
    ours, _other = keys
    logs = tmp_path_factory.mktemp("logs")
    address, scheduler = lab_cluster.start_scheduler(ours, logs / "scheduler.log")
    procs = [scheduler]
    try:
        procs.append(lab_cluster.start_worker(address, ours, logs / "worker.log", DIGIT_LAB_CPU_THREADS="1"))
        end = time.time() + 60
        while True:  # the scheduler answers once it has started
            try:
                client = Client(address, security=security(ours), timeout=5, set_as_default=False)
                break
            except OSError:
                assert scheduler.poll() is None and time.time() < end, (logs / "scheduler.log").read_text()[-2000:]
                time.sleep(0.5)
        try:
            client.wait_for_workers(1, timeout=60)
            [worker] = client.scheduler_info(n_workers=-1)["workers"]
        finally:
            client.close()
        yield address, logs / "scheduler.log", worker
    finally:
        lab_cluster.end(*procs)


def test_cluster_keys_writes_an_authority_and_three_certificates_with_owner_only_keys(keys):
    ours, other = keys
    for folder in keys:
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in all_files(folder))
        for path in all_files(folder):
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o600 if path.name.endswith("-key.pem") else 0o644), (path.name, oct(mode))
    assert not any("ca-key" in p.name for p in ours.iterdir())  # the authority's key is never kept
    assert files(ours, "worker").ca.read_bytes() != files(other, "worker").ca.read_bytes()


def test_cluster_keys_prints_what_it_wrote_and_the_next_commands(tmp_path):
    proc = cluster_keys(tmp_path / "k")
    assert proc.returncode == 0 and not proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:7] == [str(p) for p in all_files(tmp_path / "k")]
    text = proc.stdout
    assert "dask scheduler" in text and "--tls-cert" in text and "scheduler-key.pem" in text
    assert "dask worker tls://" in text and "worker-key.pem" in text
    assert f"DIGIT_LAB_CLUSTER_KEYS={(tmp_path / 'k').resolve()}" in text


def test_cluster_keys_refuses_to_overwrite_without_force_and_a_bad_folder_in_one_line(tmp_path):
    folder = tmp_path / "k"
    assert cluster_keys(folder).returncode == 0
    before = files(folder, "app").key.read_bytes()
    proc = cluster_keys(folder)
    assert proc.returncode == 2 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1
    assert "already holds cluster keys" in proc.stderr and "--force" in proc.stderr
    assert files(folder, "app").key.read_bytes() == before
    files(folder, "app").key.chmod(0o644)  # a replaced key never keeps an old file's wider mode
    assert cluster_keys(folder, "--force").returncode == 0
    assert files(folder, "app").key.read_bytes() != before
    assert stat.S_IMODE(files(folder, "app").key.stat().st_mode) == 0o600
    (tmp_path / "a-file").write_text("x")
    for bad in (tmp_path / "a-file", tmp_path / "a-file" / "sub"):
        proc = cluster_keys(bad)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_the_apps_certificate_gets_in_and_runs_a_task(lab, keys):
    address, _log, worker = lab
    with Client(address, security=security(keys[0]), timeout=10, set_as_default=False) as client:
        assert client.submit(operator.add, 1, 2).result(timeout=30) == 3
        assert list(client.scheduler_info(n_workers=-1)["workers"]) == [worker]


def test_a_client_without_a_certificate_is_refused_by_the_scheduler(lab, keys):
    address, log, _worker = lab
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(files(keys[0], "app").ca))
    context.check_hostname = False  # as Dask's own: a class's authority, addresses rather than names

    async def ask() -> None:
        comm = await connect(address, timeout=5, ssl_context=context, require_encryption=True)
        await comm.write({"op": "identity"})
        await comm.read()

    with pytest.raises(OSError):  # Dask's CommClosedError: the scheduler ended the handshake
        # a thread of its own: a browser test in the same worker may have an event loop running in this one
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, ask()).result()
    until(lambda: "PEER_DID_NOT_RETURN_A_CERTIFICATE" in log.read_text(), 10, "the scheduler logged no refusal")
    with pytest.raises((OSError, TimeoutError)):  # plain tcp: the scheduler cuts it off
        Client(address.replace("tls://", "tcp://"), timeout=2, set_as_default=False)


def test_a_client_with_another_authoritys_certificate_is_refused(lab, keys):
    address, log, _worker = lab
    ours, other = keys
    # It trusts the class's scheduler, but its own certificate is another class's: the scheduler refuses it.
    with pytest.raises(OSError):
        Client(address, security=security(other, ca_from=ours), timeout=5, set_as_default=False)
    until(lambda: "certificate verify failed" in log.read_text(), 10, "the scheduler logged no refusal")
    # And an app with the other class's folder refuses the class's scheduler, with a message saying what to fix.
    with pytest.raises(ClusterError, match="do not share a certificate authority"):
        Cluster(ClusterSettings(address, keys=other))


def test_a_worker_with_another_authoritys_certificate_cannot_join(lab, keys, tmp_path):
    address, _log, worker = lab
    log = tmp_path / "foreign-worker.log"
    foreign = lab_cluster.start_worker(address, keys[1], log, "--death-timeout", "30")
    try:
        foreign.wait(60)  # it gives up at once: the handshake fails, it does not retry
    finally:
        lab_cluster.end(foreign)
    assert foreign.returncode != 0 and "TLS certificate does not match" in log.read_text()
    with Client(address, security=security(keys[0]), timeout=10, set_as_default=False) as client:
        assert list(client.scheduler_info(n_workers=-1)["workers"]) == [worker]


def test_digit_lab_reaches_the_tls_cluster_through_its_settings(lab, keys, tmp_path, monkeypatch):
    address, _log, worker = lab
    monkeypatch.setenv("DIGIT_LAB_CLUSTER", address)
    monkeypatch.setenv("DIGIT_LAB_CLUSTER_KEYS", str(keys[0]))
    settings = ClusterSettings.from_environment()
    assert settings == ClusterSettings(address, 1, keys[0])
    cluster = Cluster(settings)  # checks the worker's torch and engine against this app's, over TLS
    try:
        queue = JobQueue(tmp_path, cluster=cluster)
        client = queue.cluster().client
        assert client.submit(operator.mul, 6, 7).result(timeout=30) == 42
        assert cluster.workers() == 1 and address in queue.describe()
    finally:
        cluster.close()


def test_every_other_way_to_the_lab_cluster_is_refused_with_how_to_make_keys(keys, tmp_path):
    ours, _other = keys
    for address in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "ws://127.0.0.1:8786"):
        with pytest.raises(ClusterError, match=r"must be a tls:// address.*cluster-keys"):
            Cluster(ClusterSettings(address, keys=ours))
    with pytest.raises(ClusterError, match="DIGIT_LAB_CLUSTER_KEYS is not set"):
        Cluster(ClusterSettings("tls://127.0.0.1:8786"))
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "ca.pem").write_bytes(files(ours, "app").ca.read_bytes())
    with pytest.raises(ClusterError, match="has no app.pem: make the keys with"):
        Cluster(ClusterSettings("tls://127.0.0.1:8786", keys=partial))
    loose = tmp_path / "loose"
    assert cluster_keys(loose).returncode == 0
    files(loose, "app").key.chmod(0o644)
    with pytest.raises(ClusterError, match="can be read by other users.*chmod 600"):
        Cluster(ClusterSettings("tls://127.0.0.1:8786", keys=loose))
    files(loose, "app").key.chmod(0o600)
    files(loose, "app").cert.write_text("-----BEGIN CERTIFICATE-----\nnot one\n-----END CERTIFICATE-----\n")
    with pytest.raises(ClusterError, match=r"cannot use the certificate in .*loose \(DIGIT_LAB_CLUSTER_KEYS\)"):
        Cluster(ClusterSettings("tls://127.0.0.1:8786", keys=loose))
