"""Background sampling of system metrics under Aim's names (``__system__cpu`` …).

A daemon thread samples every ``interval`` seconds and calls ``run.track()``, which only
takes the run's buffer lock for a few appends, so training never waits for psutil or NVML.
GPU figures come from NVIDIA's management library (``pynvml``, from the ``nvidia-ml-py``
package) when it imports and finds devices; otherwise only CPU/memory/disk are tracked.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import threading
import time

FIRST_SAMPLE_WINDOW = 0.05
"""Seconds the first CPU reading spans (psutil measures CPU use between two calls)."""


def _nvml():
    """The initialised ``pynvml`` module, or ``None`` when no NVIDIA driver/library is present."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:
        return None
    return pynvml


def sample_gpus(nvml) -> list[dict]:
    """Per-GPU ``{gpu, gpu_memory_percent, gpu_temp, gpu_power_watts}`` via NVML."""
    out = []
    for index in range(nvml.nvmlDeviceGetCount()):
        handle = nvml.nvmlDeviceGetHandleByIndex(index)
        sample = {}
        try:
            sample["gpu"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            pass
        try:
            mem = nvml.nvmlDeviceGetMemoryInfo(handle)
            sample["gpu_memory_percent"] = 100.0 * mem.used / mem.total if mem.total else 0.0
        except Exception:
            pass
        try:
            sample["gpu_temp"] = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        except Exception:
            pass
        try:
            sample["gpu_power_watts"] = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
        except Exception:
            pass
        out.append(sample)
    return out


def sample_host(process) -> dict:
    import psutil

    sample = {
        "cpu": psutil.cpu_percent(interval=None),
        "memory_percent": psutil.virtual_memory().percent,
        "p_memory_percent": process.memory_percent(),
    }
    try:
        sample["disk_percent"] = psutil.disk_usage(os.path.abspath(os.sep)).percent
    except OSError:
        pass
    return sample


MIN_INTERVAL = 0.1
"""Shortest ``system_tracking_interval`` in seconds (as Aim); outside the range nothing is tracked."""
MAX_INTERVAL = 24 * 60 * 60.0
"""Longest ``system_tracking_interval`` in seconds (one day, as Aim)."""


class SystemMetricsTracker(threading.Thread):
    """Tracks host and GPU metrics into a run until ``stop()`` (holds the run weakly)."""

    def __init__(self, run_ref, interval: float):
        super().__init__(name="aimcol-system-metrics", daemon=True)
        self._run_ref = run_ref
        self._interval = max(interval, 0.1)
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            import psutil
        except ImportError:
            return
        process = psutil.Process()
        psutil.cpu_percent(interval=None)  # prime: a reading covers the time since the previous one
        process.cpu_percent(interval=None)
        nvml = _nvml()
        try:
            # the first sample comes at once (after a short CPU window), even if stop() was
            # already called: a run shorter than one interval still has one
            time.sleep(FIRST_SAMPLE_WINDOW)
            while self._sample(process, nvml) and not self._stop_event.wait(self._interval):
                pass
        finally:
            if nvml is not None:
                try:
                    nvml.nvmlShutdown()
                except Exception:
                    pass

    def _sample(self, process, nvml) -> bool:
        """Track one sample of every metric; False once the run is gone or refuses points."""
        run = self._run_ref()
        if run is None:
            return False
        try:
            for key, value in sample_host(process).items():
                run.track(value, name=f"__system__{key}", context={})
            if nvml is not None:
                for index, gpu in enumerate(sample_gpus(nvml)):
                    for key, value in gpu.items():
                        run.track(value, name=f"__system__{key}", context={"gpu": index})
        except Exception:
            return False  # run closed or disk gone: stop sampling quietly
        finally:
            del run
        return True

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)


def collect_system_params() -> dict:
    """What Aim logs as ``__system_params``: interpreter, arguments, host, installed packages."""
    from importlib import metadata

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            packages[name] = dist.version
    return {
        "executable": sys.executable,
        "arguments": list(sys.argv),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": dict(sorted(packages.items())),
    }
