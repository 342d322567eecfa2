"""Bad input, bounded: non-regular files are refused before reading; huge inputs are refused fast."""
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from convshape.cli import main

CHILD = "import sys; from convshape.cli import main; sys.argv[0] = 'convshape'; main()"
ENV = {**os.environ, "PYTHONPATH": os.getcwd()}


def run_child(*args):
    # a subprocess: a regression would read /dev/zero until memory runs out, or block on the FIFO
    return subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, timeout=60, env=ENV)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
@pytest.mark.parametrize("command", ["summary", "lint"])
def test_device_is_refused_before_reading(command):
    proc = run_child(command, "/dev/zero")
    assert proc.returncode == 2
    assert "error: /dev/zero: not a regular file (a device, pipe or socket): give a spec file\n" in proc.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    proc = run_child("summary", str(fifo))   # opening a FIFO with no writer would block: timeout=60 fails
    assert proc.returncode == 2
    assert proc.stderr == f"error: {fifo}: not a regular file (a device, pipe or socket): give a spec file\n"


@pytest.mark.parametrize("command", ["summary", "lint"])
def test_an_input_with_2000_symbols_is_refused_fast(tmp_path, command):
    spec = tmp_path / "many.yaml"
    spec.write_text("input: [" + ", ".join(f"S{i}" for i in range(2000)) + "]\nlayers:\n  - ReLU\n  - Flatten\n")
    start = time.process_time()
    r = CliRunner().invoke(main, [command, str(spec)])
    assert time.process_time() - start < 5   # before the bound: 14 s (summary), over 20 s (lint)
    assert r.exit_code == 2
    assert f"error: {spec}:1:1: [input] the input has 2000 dims; convshape analyzes inputs of at most 64" in r.output


def test_64_dims_still_work(tmp_path):
    spec = tmp_path / "wide.yaml"
    spec.write_text("input: [" + ", ".join(["1"] * 62 + ["2", "3"]) + "]\nlayers:\n  - ReLU\n")
    r = CliRunner().invoke(main, ["summary", str(spec), "--format", "json"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["summary", str(spec), "--input", ",".join(["1"] * 65)])
    assert r.exit_code == 2 and "the network takes" in r.output   # rank differs from the declared 64
