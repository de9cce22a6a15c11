"""The kit bounds how long torch's idle OpenMP threads spin, when it still can, and never
overrides the user's own setting (nst_utils.engine.openmp). Speed itself is BENCHMARKS.md part 6."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nst_utils.engine import openmp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fresh(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter without any OpenMP waiting variable (plus ``env``);
    it prints one JSON line."""
    clean = {k: v for k, v in os.environ.items() if k not in openmp.USER_VARIABLES}
    clean.update(env, PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=clean, check=True, timeout=120)  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


REPORT = "import json, os; print(json.dumps({**openmp.wait_settings(), 'advice': openmp.advice()}))"


def test_importing_the_kit_first_bounds_the_spin():
    out = fresh(f"from nst_utils.engine import openmp; import torch; torch.ones(1); {REPORT}")
    assert out["choice"] == "kit" and out["GOMP_SPINCOUNT"] == str(openmp.SPIN_COUNT)
    assert any(name.startswith("libgomp") for name in out["runtimes"])  # what torch loaded
    assert out["advice"] is None


def test_the_users_setting_wins():
    out = fresh(f"from nst_utils.engine import openmp; {REPORT}", OMP_WAIT_POLICY="PASSIVE")
    assert out["choice"] == "user" and out["GOMP_SPINCOUNT"] is None
    out = fresh(f"from nst_utils.engine import openmp; {REPORT}", GOMP_SPINCOUNT="7")
    assert out["choice"] == "user" and out["GOMP_SPINCOUNT"] == "7"


def test_too_late_after_torch_is_said_not_hidden():
    out = fresh(f"import torch; from nst_utils.engine import openmp; {REPORT}")
    assert out["choice"] == "too late" and out["GOMP_SPINCOUNT"] is None
    assert "import nst_utils first" in out["advice"]


TOO_LATE_RUNS = """
import json, warnings
import torch
from nst_utils.paper.objective import LossTerms
from nst_utils.paper.optimize import optimize
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    for _ in range(2):
        optimize(lambda x: LossTerms(*(4 * [x.sum()])), torch.rand(1, 3, 4, 4), steps=1,
                 progress=False)
print(json.dumps([str(w.message) for w in caught]))
"""


def test_a_cpu_run_warns_once_when_it_was_too_late():
    code = TOO_LATE_RUNS
    clean = {k: v for k, v in os.environ.items() if k not in openmp.USER_VARIABLES}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": REPO}, check=True, timeout=120)
    messages = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(messages) == 1 and "import nst_utils first" in messages[0]


def test_the_console_script_imports_the_kit_before_torch():
    out = fresh("import sys; import nst_utils.cli; import json; "
                "print(json.dumps({'torch': 'torch' in sys.modules, "
                "'spin': __import__('os').environ.get('GOMP_SPINCOUNT')}))")  # fmt: skip
    assert out["spin"] == str(openmp.SPIN_COUNT)


IDLE_CPU = """
import resource, time
{first}
import torch
torch.set_num_threads(2)
a = torch.rand(256, 256)
t0 = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(100):
    (a * 2).sum()  # a parallel region; then the helper thread waits while we sleep
    a.add_(1).mul_(0.5)
    time.sleep(0.003)
t1 = resource.getrusage(resource.RUSAGE_SELF)
print((t1.ru_utime + t1.ru_stime) - (t0.ru_utime + t0.ru_stime))
"""


def test_the_bound_reaches_libgomp():
    """Between parallel regions an idle thread spins: ~3 ms each with libgomp's default,
    microseconds with the kit's bound; so the process burns far less CPU while it sleeps."""

    def cpu_seconds(first: str, **env: str) -> float:
        clean = {k: v for k, v in os.environ.items() if k not in openmp.USER_VARIABLES}
        clean.update(env, PYTHONPATH=REPO)
        proc = subprocess.run([sys.executable, "-c", IDLE_CPU.format(first=first)],
                              capture_output=True, text=True, env=clean, check=True)
        return float(proc.stdout.strip().splitlines()[-1])

    kit = min(cpu_seconds("import nst_utils") for _ in range(2))
    default = min(cpu_seconds("", GOMP_SPINCOUNT="300000") for _ in range(2))
    assert kit < 0.5 * default, (kit, default)
