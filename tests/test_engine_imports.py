"""The engine stands on its own: every mnist_core module imports without Streamlit (the CLI, notebooks and the
benchmarks use it too) and without the benchmarks, and each one imports first without an import cycle."""

import subprocess
import sys

from harness.browser import REPO

CHECK = """
import importlib, pkgutil, sys
import mnist_core
names = sorted(m.name for m in pkgutil.walk_packages(mnist_core.__path__, "mnist_core.") if m.name != "mnist_core.__main__")
for name in names:
    for loaded in [m for m in sys.modules if m == "mnist_core" or m.startswith("mnist_core.")]:
        del sys.modules[loaded]  # each module is imported first, on its own: a cycle would fail here
    importlib.import_module(name)
print(len(names))
print(" ".join(sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("streamlit", "benchmarks")})))
"""


def test_every_engine_module_imports_alone_without_streamlit():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, forbidden = (proc.stdout.splitlines() + [""])[:2]
    assert int(count) >= 30  # every module was found and imported, in every room (the rooms themselves too)
    assert forbidden == "", f"mnist_core pulled in {forbidden}"
