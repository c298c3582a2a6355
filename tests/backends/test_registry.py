"""The backend registry: built-ins by name, backends from higher packages registered by those packages."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wizardmath.backends import BACKENDS, FakeBackend, SamplingParams, get_backend, register_backend


def test_the_registry_names_no_package_above_it():
    assert all(
        target.startswith("wizardmath.backends.") for name, target in BACKENDS.items() if name != "symbolic"
    )


def test_symbolic_is_registered_by_the_evol_package_on_import():
    script = (
        "from wizardmath.backends import BACKENDS, get_backend\n"
        "assert 'symbolic' not in BACKENDS\n"
        "import wizardmath.evol.world\n"  # any module of the package registers it
        "print(type(get_backend('symbolic', seed=1)).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SymbolicBackend"


def test_module_class_names_and_registration(monkeypatch):
    assert isinstance(get_backend("wizardmath.backends.base:FakeBackend", respond="x"), FakeBackend)
    monkeypatch.setitem(BACKENDS, "echo-test", "")
    register_backend("echo-test", "wizardmath.backends.base:FakeBackend")
    assert get_backend("echo-test", respond="y").generate(["p"], SamplingParams())[0][0].text == "y"
    with pytest.raises(ValueError, match="package.module:Class"):
        register_backend("bad", "no_colon")
    with pytest.raises(ValueError, match="unknown backend 'nope'; valid: .*fake"):
        get_backend("nope")


def test_an_argument_the_backend_does_not_take_is_one_clear_error():
    with pytest.raises(
        ValueError, match=r"backend 'fake' does not take 'error_rate', 'failure_rate'.*takes: respond"
    ):
        get_backend("fake", respond="x", failure_rate=0.5, error_rate=0.1)
