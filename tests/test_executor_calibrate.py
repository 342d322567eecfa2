"""`convshape calibrate`: measured figures, the cache (location, key, merge), and its CLI."""
from __future__ import annotations

import json
import sys

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from convshape.cli import main  # noqa: E402
from convshape.executor import calibrate as cal  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path))
    return tmp_path


def fake(flops: dict, bandwidth: float = 5e9) -> cal.Calibration:
    key, name = cal.device_identity(CPU)
    return cal.Calibration(device=key, device_name=name, matmul_flops=flops, copy_bytes_per_s=bandwidth)


def test_cache_location(tmp_path, monkeypatch):
    monkeypatch.setenv(cal.CACHE_ENV, str(tmp_path / "here"))
    assert cal.cache_path() == tmp_path / "here" / "calibration.json"
    if sys.platform.startswith("linux"):
        monkeypatch.delenv(cal.CACHE_ENV)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert cal.cache_path() == tmp_path / "xdg" / "convshape" / "calibration.json"


def test_measure_save_load(cache):
    measured = cal.measure(CPU, dtypes=("float32",))
    assert measured.matmul_flops["float32"] > 0 and measured.copy_bytes_per_s > 0
    assert measured.matmul_sizes["float32"] >= 256
    assert cal.load(CPU) is None
    assert cal.save(measured) == cache / "calibration.json"
    assert cal.load(CPU) == measured


def test_cached_figures_are_used_without_measuring(cache, monkeypatch):
    cal.save(fake({"float32": 1e11}))

    def no(*args, **kwargs):
        raise AssertionError("measured although cached")
    monkeypatch.setattr(cal, "measure", no)
    got, measured_now = cal.calibration_for(CPU, "float32")
    assert (got.matmul_flops, measured_now) == ({"float32": 1e11}, False)


def test_missing_dtype_or_cache_is_measured_and_saved(cache, monkeypatch):
    cal.save(fake({"float32": 1e11}))
    monkeypatch.setattr(cal, "measure", lambda device, dtypes=cal.DTYPES: fake({d: 2e11 for d in dtypes}))
    got, measured_now = cal.calibration_for(CPU, "bfloat16")
    assert measured_now and got.matmul_flops["bfloat16"] == 2e11
    assert cal.load(CPU).matmul_flops["bfloat16"] == 2e11


def test_recalibrate_keeps_other_dtypes(cache, monkeypatch):
    cal.save(fake({"float32": 1e11, "bfloat16": 3e11}))
    monkeypatch.setattr(cal, "measure", lambda device, dtypes=cal.DTYPES: fake({d: 7e11 for d in dtypes}, 9e9))
    merged, path = cal.recalibrate(CPU, ("float32",))
    assert merged.matmul_flops == {"float32": 7e11, "bfloat16": 3e11}
    assert cal.load(CPU).copy_bytes_per_s == 9e9


def test_unreadable_cache_is_ignored(cache):
    (cache / "calibration.json").write_text("{not json")
    assert cal.load(CPU) is None
    cal.save(fake({"float32": 1.0}))   # and is replaced whole
    assert cal.load(CPU).matmul_flops == {"float32": 1.0}


def test_cli(cache):
    runner = CliRunner()
    missing = runner.invoke(main, ["calibrate", "--show"])
    assert missing.exit_code == 2 and missing.stderr.count("\n") == 1 and "no calibration cached" in missing.stderr
    result = runner.invoke(main, ["calibrate", "--dtype", "float32", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["cache"] == str(cache / "calibration.json")
    assert set(data["matmul_flops"]) == {"float32"} and data["copy_bytes_per_s"] > 0
    shown = runner.invoke(main, ["calibrate", "--show"])
    assert shown.exit_code == 0 and "float32" in shown.stdout and "copy bandwidth" in shown.stdout
