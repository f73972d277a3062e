"""Shared fixtures: the flowlens binary and helpers to run it."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def flowlens():
    exe = os.environ.get("FLOWLENS", str(ROOT / "target" / "release" / "flowlens"))
    # Absolute, so that a test may run flowlens in another folder (cwd=...): the Makefile passes
    # FLOWLENS=target/release/flowlens, relative to the checkout.
    exe = str(pathlib.Path(exe).resolve())
    if not pathlib.Path(exe).exists():
        pytest.fail(f"flowlens binary not found at {exe}: run `make release` or set FLOWLENS")

    def run(*args, **kw):
        return subprocess.run([exe, *map(str, args)], check=True, capture_output=True, text=True, **kw)

    return run
