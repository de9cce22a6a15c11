"""A run's peak memory is estimated from the network's own layers and a run that does not fit
is refused with one line before any heavy allocation: in the CLI (before loading the network),
in the library (before the first iteration) and in the explorers (a message, not a dead
kernel). How close the estimate is to measured peaks is BENCHMARKS.md part 4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from nst_utils.engine import memory
from nst_utils.errors import NSTError
from nst_utils.paper.objective import build_objective
from nst_utils.paper.optimize import optimize

REPO = Path(__file__).resolve().parents[1]
#: ``ulimit -v`` exists on Linux and macOS only (Windows has no ``resource`` module).
unix_only = pytest.mark.skipif(sys.platform == "win32", reason="no address-space limit here")


def measured_maps(net: nn.Module, size: tuple[int, int], deepest: str) -> tuple[int, int]:
    """``(kept, largest)`` bytes by running the layers on the meta device."""
    x = torch.empty(1, 3, *size, device="meta")
    kept = largest = x.numel() * 4
    for name, module in net.layers.named_children():
        x = module(x)
        if isinstance(module, nn.Conv2d):
            kept += x.numel() * 4
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            kept += x.numel() * (4 + (8 if isinstance(module, nn.MaxPool2d) else 0))
        largest = max(largest, x.numel() * 4)
        if name == deepest:
            return kept, largest
    raise AssertionError(deepest)


@pytest.mark.parametrize("arch", ["vgg16", "vgg19"])
@pytest.mark.parametrize("size", [(64, 64), (97, 130), (40, 23)])
def test_feature_maps_follow_the_layers_shapes(arch, size):
    net = memory.skeleton(arch, "max")
    for deepest in ("relu1_1", "conv2_1", "relu4_2", "relu5_1"):
        kept, largest = memory.feature_maps(net, size, deepest)
        assert (sum(kept), largest) == measured_maps(net, size, deepest)


def test_any_layer_structure_works():
    """Not only VGG's: strides, padding and pooling sizes come from the modules."""
    net = nn.Module()
    net.layers = nn.Sequential()
    net.layers.add_module("a", nn.Conv2d(3, 8, 5, stride=2, padding=1))
    net.layers.add_module("b", nn.ReLU(inplace=False))
    net.layers.add_module("c", nn.AvgPool2d(3, 3))
    net.layers.add_module("d", nn.Conv2d(8, 4, 1))
    kept, largest = memory.feature_maps(net, (50, 41), "d")
    assert (sum(kept), largest) == measured_maps(net.to("meta"), (50, 41), "d")


def test_bf16_halves_the_maps_but_not_the_pooling_indices():
    net = memory.skeleton("vgg16")
    fp32 = sum(memory.feature_maps(net, (64, 64), "conv2_1", "fp32")[0])
    bf16 = sum(memory.feature_maps(net, (64, 64), "conv2_1", "bf16")[0])
    indices = 64 * 32 * 32 * 8
    assert bf16 - indices / 2 == pytest.approx((fp32 - indices) / 2 + indices / 2)


def test_lbfgs_history_fills_one_pair_per_iteration():
    net = memory.skeleton("vgg16")
    layers = ("relu4_2", "relu1_1")
    short = memory.estimate_peak(net, [(100, 200)], layers, steps=5)
    long = memory.estimate_peak(net, [(100, 200)], layers, steps=300)
    image = 3 * 100 * 200 * 4
    assert long.parts["optimiser"] == 2 * memory.LBFGS_HISTORY * image
    assert short.parts["optimiser"] == 2 * 5 * image
    adam = memory.estimate_peak(net, [(100, 200)], layers, steps=300, optimizer="adam")
    assert adam.parts["optimiser"] == 2 * image


def test_the_deepest_layer_decides_the_activations():
    net = memory.skeleton("vgg19")
    shallow = memory.estimate_peak(net, [(256, 256)], ["relu1_1"], steps=1)
    deep = memory.estimate_peak(net, [(256, 256)], ["relu1_1", "relu5_1"], steps=1)
    assert deep.parts["activations"] > 1.5 * shallow.parts["activations"]


def test_coarse_to_fine_peaks_at_the_last_scale():
    net = memory.skeleton("vgg16")
    one = memory.estimate_peak(net, [(512, 512)], ["relu5_1"], steps=1)
    three = memory.estimate_peak(net, [(128, 128), (256, 256), (512, 512)], ["relu5_1"], steps=1)
    assert three.parts["activations"] == one.parts["activations"]


def test_kept_memory_costs_its_factor_and_off_it_does_not(monkeypatch):
    net = memory.skeleton("vgg16")
    kept = memory.estimate_peak(net, [(256, 256)], ["relu5_1"], steps=1)
    monkeypatch.setenv("NST_KEEP_FREED_MEMORY", "0")
    plain = memory.estimate_peak(net, [(256, 256)], ["relu5_1"], steps=1)
    ratio = kept.parts["activations"] / plain.parts["activations"]
    assert ratio == pytest.approx(memory.CPU_ALLOCATOR_FACTOR)


def test_blocks_of_a_gibibyte_and_more_are_not_kept(monkeypatch):
    """glibc maps blocks above the kept threshold and returns them: no factor on them."""
    net = memory.skeleton("vgg16")
    kept = memory.estimate_peak(net, [(2048, 2048)], ["relu1_2"], steps=1)
    monkeypatch.setenv("NST_KEEP_FREED_MEMORY", "0")
    plain = memory.estimate_peak(net, [(2048, 2048)], ["relu1_2"], steps=1)
    small = 3 * 2048 * 2048 * 4  # only the input is under 1 GiB (each map is 1 GiB)
    extra = kept.parts["activations"] - plain.parts["activations"]
    assert extra == pytest.approx((memory.CPU_ALLOCATOR_FACTOR - 1) * small)


def test_check_fits_names_estimate_room_and_advice(monkeypatch):
    monkeypatch.setattr(memory, "available", lambda device: (1e9, "MemAvailable"))
    est = memory.Estimate({"activations": 3e9})
    with pytest.raises(NSTError) as err:
        memory.check_fits(est, "cpu", "do less")
    text = str(err.value)
    assert "\n" not in text and "2.79 GB" in text and "0.93 GB" in text
    assert "MemAvailable" in text and text.endswith("do less")
    memory.check_fits(memory.Estimate({"activations": 0.5e9}), "cpu")  # fits: no error


@unix_only
def test_available_takes_the_tightest_host_limit():
    code = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (2**33, 2**33));"
        "from nst_utils.engine import memory; room, what = memory.available('cpu');"
        "print(room, what)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    room, what = out.split(" ", 1)
    assert "ulimit -v" in what and 0 < float(room) < 2**33


def test_the_host_limit_comes_from_psutil_on_any_system(monkeypatch):
    import psutil

    monkeypatch.setattr(psutil, "virtual_memory", lambda: type("VM", (), {"available": 5e9}))
    monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    monkeypatch.setattr(memory, "_address_space_room", lambda: None)
    assert memory.available("cpu") == (5e9, "the system's available memory")


class FakeMPS:
    """torch.mps on an Apple GPU with 16 GB recommended and ``allocated`` in use."""

    def __init__(self, allocated: float) -> None:
        self.allocated = allocated

    def recommended_max_memory(self) -> int:
        return 16 * 2**30

    def driver_allocated_memory(self) -> int:
        return int(self.allocated)


def test_an_apple_gpu_is_limited_by_metals_working_set_and_the_host(monkeypatch):
    monkeypatch.setattr(memory, "_host_limits", lambda: [(64 * 2**30, "MemAvailable")])
    monkeypatch.setattr(torch, "mps", FakeMPS(allocated=10 * 2**30))
    room, what = memory.available("mps")
    assert room == 6 * 2**30 and "Apple GPU" in what
    with pytest.raises(NSTError, match="Apple GPU"):  # refused, where it used to run into it
        memory.check_fits(memory.Estimate({"activations": 7 * 2**30}), "mps")
    monkeypatch.setattr(memory, "_host_limits", lambda: [(2 * 2**30, "MemAvailable")])
    assert memory.available("mps") == (2 * 2**30, "MemAvailable")  # unified memory: the host's


def test_nothing_known_is_no_limit_not_a_crash(monkeypatch):
    monkeypatch.setattr(memory, "_host_limits", lambda: [(None, "MemAvailable")])
    monkeypatch.delattr(torch, "mps", raising=False)
    assert memory.available("mps") == (float("inf"), "no limit known")
    assert memory.available("meta") == (float("inf"), "no limit known")


def test_the_library_refuses_before_the_first_iteration(random_vgg16, monkeypatch):
    image = torch.rand(1, 3, 64, 64)
    inner = build_objective(random_vgg16, image, image)
    calls = []

    class Counting:
        net, layers = inner.net, inner.layers

        def __call__(self, x):
            calls.append(x)
            return inner(x)

    monkeypatch.setattr(memory, "available", lambda device: (1e6, "MemAvailable"))
    with pytest.raises(NSTError, match=r"needs about .* but 0.00 GB is available"):
        optimize(Counting(), image, steps=3, progress=False)
    assert calls == []


@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't "
                 "allocate memory: you tried to allocate 123 bytes. Error code 12"),
    MemoryError(),
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
])  # fmt: skip
def test_allocation_failures_become_one_actionable_line(error):
    def objective(x):
        raise error

    with pytest.raises(NSTError) as err:
        optimize(objective, torch.rand(1, 3, 8, 8), steps=2, progress=False)
    assert str(err.value).startswith("out of memory") and "\n" not in str(err.value)
    assert "smaller" in str(err.value)


def test_other_runtime_errors_pass_through():
    def objective(x):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        optimize(objective, torch.rand(1, 3, 8, 8), steps=2, progress=False)


def test_the_playground_shows_the_refusal(random_vgg16, monkeypatch):
    from nst_utils.display.widgets import Playground

    monkeypatch.setattr(memory, "available", lambda device: (1e6, "MemAvailable"))
    images = {"a": torch.rand(1, 3, 32, 32), "b": torch.rand(1, 3, 32, 32)}
    pg = Playground(random_vgg16, images, size=32, steps=2)
    pg.run(block=True)
    assert pg.result is None and "needs about" in pg.last_error
    assert "needs about" in pg.status.value and not pg.run_button.disabled


def _limited(gigabytes: float):
    def limit() -> None:
        import resource

        nbytes = int(gigabytes * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))

    return limit


@unix_only
def test_cli_refuses_an_oversized_run_under_ulimit_v(tmp_path):
    """The issue's case for real: a large run under an address-space limit ends with the one
    line and exit status 1, before the network is loaded; never killed, nothing written."""
    out = tmp_path / "big.png"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "nst_utils.cli", "stylize", str(REPO / "data" / "coffee.jpg"),
         str(REPO / "data" / "swirls.png"), "-o", str(out), "--size", "3000", "--arch", "vgg16",
         "--precision", "fp32"],
        capture_output=True, text=True, env=env, preexec_fn=_limited(6), timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nst: error: this run needs about"), lines
    assert "ulimit -v" in lines[0] and "--size" in lines[0] and "--precision bf16" in lines[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_dry_run_prints_the_plan_without_loading(tmp_path, capsys, monkeypatch):
    from nst_utils import cli
    from nst_utils.paper import vgg

    def no_loading(*args, **kwargs):
        raise AssertionError("the network was loaded")

    monkeypatch.setattr(vgg, "load_vgg", no_loading)
    out = tmp_path / "o.png"
    code = cli.main(["stylize", str(REPO / "data" / "coffee.jpg"), "swirls", "-o", str(out),
                     "--size", "128", "--arch", "vgg16", "--dry-run"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0 and not out.exists()
    assert "128 x 85 px" in text and "vgg16" in text and "fits" in text
    assert "needs about" in text and "optimiser" in text
    code = cli.main(["synthesize-texture", "swirls", "-o", str(out), "--size", "8192",
                     "--arch", "vgg16", "--dry-run"])  # fmt: skip
    assert code == 1 and "does NOT fit" in capsys.readouterr().out
