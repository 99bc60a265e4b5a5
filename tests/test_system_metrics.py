"""GPU sampling through NVML, exercised with a stand-in ``pynvml`` module (no GPU on CI)."""

from __future__ import annotations

import sys
import time
import types

from aimcol import Repo, Run


def _fake_pynvml(n_gpus: int = 2):
    mod = types.ModuleType("pynvml")
    mod.NVML_TEMPERATURE_GPU = 0
    mod.calls = {"init": 0, "shutdown": 0}

    def init():
        mod.calls["init"] += 1

    def shutdown():
        mod.calls["shutdown"] += 1

    mod.nvmlInit = init
    mod.nvmlShutdown = shutdown
    mod.nvmlDeviceGetCount = lambda: n_gpus
    mod.nvmlDeviceGetHandleByIndex = lambda i: i
    mod.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=10 * (h + 1))
    mod.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=(h + 1) * 1024, total=4096)
    mod.nvmlDeviceGetTemperature = lambda h, kind: 50 + h
    mod.nvmlDeviceGetPowerUsage = lambda h: 250_000 + h * 1000  # milliwatts
    return mod


def test_gpu_metrics_use_aims_names_and_contexts(repo_path, monkeypatch):
    fake = _fake_pynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    run = Run(repo=repo_path, system_tracking_interval=0.1, capture_terminal_logs=False)
    deadline = time.time() + 15
    while time.time() < deadline:
        if run.get_metric("__system__gpu_power_watts", {"gpu": 1}) is not None:
            break
        time.sleep(0.1)
    run.close()
    stored = Repo(repo_path).get_run(run.hash)
    gpu0 = stored.get_metric("__system__gpu", {"gpu": 0})
    gpu1 = stored.get_metric("__system__gpu", {"gpu": 1})
    assert gpu0.values_list()[0] == 10.0 and gpu1.values_list()[0] == 20.0
    assert stored.get_metric("__system__gpu_memory_percent", {"gpu": 1}).last == 50.0
    assert stored.get_metric("__system__gpu_temp", {"gpu": 0}).last == 50.0
    assert stored.get_metric("__system__gpu_power_watts", {"gpu": 1}).last == 251.0
    assert fake.calls["init"] == 1 and fake.calls["shutdown"] == 1


def test_no_nvml_means_host_metrics_only(repo_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    run = Run(repo=repo_path, system_tracking_interval=0.1, capture_terminal_logs=False)
    deadline = time.time() + 15
    while time.time() < deadline and run.get_metric("__system__cpu") is None:
        time.sleep(0.1)
    run.close()
    names = {m.name for m in Repo(repo_path).get_run(run.hash).metrics()}
    assert "__system__cpu" in names and not any(n.startswith("__system__gpu") for n in names)


def test_system_tracking_never_blocks_or_outlives_the_run(repo_path):
    import threading

    before = set(threading.enumerate())  # earlier tests' threads (an index builder's reaper …) are not this run's
    run = Run(repo=repo_path, system_tracking_interval=0.1, capture_terminal_logs=False)  # Aim's shortest
    assert run._system_resource_tracker is not None
    for i in range(20000):
        run.track(float(i), name="loss")
    run.close()
    left = [t for t in threading.enumerate() if t not in before and t.name.startswith("aimcol-") and t.is_alive()]
    assert not [t.name for t in left if t.name != "aimcol-index-builder-reaper"]
    assert Repo(repo_path).get_run(run.hash).get_metric("loss").last == 19999.0


def test_an_interval_outside_aims_limits_tracks_nothing_with_a_warning(tmp_path):
    """As Aim: 0 or None tracks nothing silently; outside [0.1 s, 1 day] a warning and no sampler."""
    import warnings

    from aimcol import Run

    run = Run(repo=str(tmp_path), system_tracking_interval=0, capture_terminal_logs=False)
    assert run._system_resource_tracker is None
    run.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Run(repo=str(tmp_path), system_tracking_interval=2 * 24 * 3600, capture_terminal_logs=False)
    assert run._system_resource_tracker is None
    assert any("outside" in str(w.message) for w in caught)
    run.close()
    run = Run(repo=str(tmp_path), system_tracking_interval=5, capture_terminal_logs=False)
    assert run._system_resource_tracker is not None
    run.close()
    assert not [m for m in run.metrics() if m.name.startswith("__system__")] == []  # the first sample at start
