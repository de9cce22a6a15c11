"""Part 6: several runs sharing the CPU, against their fair share.

A class rarely has a machine per kernel, so ``n`` style-transfer runs are started at once
(1, 2 and 4), each in its own fresh process, for each waiting policy of OpenMP's threads:

* ``default``: ``GOMP_SPINCOUNT=300000``, libgomp's built-in default (a waiting thread spins
  about 3 ms before it sleeps); the kit respects it as the user's choice, so this is the
  behaviour before the kit chose one;
* ``kit``: nothing set, so :mod:`nst_utils.engine.openmp` chooses
(:data:`~nst_utils.engine.openmp.SPIN_COUNT`);
* ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` (threads sleep at once), for reference.

In one process too (``in_process``): ``n`` threads each running its own optimisation, as the
playground's background thread and another cell of the same kernel do; each thread that runs
torch work gets its own team of OpenMP threads, so they can fight like processes.

Each worker loads the network and the images, waits at a barrier until all ``n`` are ready,
then runs ``steps`` iterations at ``size`` px; its median seconds per iteration are compared
with the fair share, ``n`` times the single run of the *default* policy (the machine's speed
alone, as a user has it today). Rounds are interleaved (policy by policy, ``n`` by ``n``) and
repeated, so a drift of the machine spreads over every variant; the single runs, whose ratio
decides what the kit costs alone, are repeated ``single_repeats`` times per round. As that
ratio is small and the machine drifts by more, it is also measured directly: one process per
policy, taking turns iteration by iteration (:func:`alternating_worker`), ``single_steps``
iterations each.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

POLICIES = {
    "default": {"GOMP_SPINCOUNT": "300000"},
    "kit": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
}
#: Environment variables that decide OpenMP's waiting; cleared before each policy's own.
WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
ROOT = Path(__file__).resolve().parent.parent
#: Pause between two processes' turns in :func:`alternating_worker` (> libgomp's 3 ms spin).
GAP_S = 0.02
CONTENT, STYLE = ROOT / "data" / "coffee.jpg", ROOT / "data" / "swirls.png"


def policy_environment(policy: str) -> dict[str, str]:
    """The variables of a named policy, or of ``spin:N`` (``GOMP_SPINCOUNT=N``)."""
    if policy.startswith("spin:"):
        return {"GOMP_SPINCOUNT": policy.removeprefix("spin:")}
    return POLICIES[policy]


def worker(size: int, steps: int, barrier: Path, index: int, count: int) -> dict:
    """One run: load, wait until all ``count`` workers are loaded, optimise, report."""
    import nst_utils  # noqa: F401  (first: it chooses OpenMP's waiting before torch starts)
    from nst_utils.assets.images import load_image
    from nst_utils.engine.openmp import wait_settings
    from nst_utils.paper.pipeline import Settings, stylize
    from nst_utils.paper.vgg import load_vgg

    net = load_vgg(pooling="max", device="cpu", verbose=False)
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    stylize(net, content, style, Settings(fast=True, steps=2), progress=False)  # warm-up
    (barrier / f"ready-{index}").touch()
    while len(list(barrier.glob("ready-*"))) < count:
        time.sleep(0.002)
    result = stylize(net, content, style, Settings(fast=True, steps=steps), progress=False)
    seconds = [h["seconds"] for h in result.history]
    per_iteration = [b - a for a, b in zip([0.0, *seconds], seconds, strict=False)]
    return {"median_s": statistics.median(per_iteration), "arch": net.arch,
            "wait": wait_settings()}


def alternating_worker(size: int, steps: int, turns: Path, index: int, count: int) -> dict:
    """One of ``count`` processes that take turns, one iteration each: the single run of
    every policy, interleaved iteration by iteration, so the machine's drift cancels out.

    Between turns a process sleeps :data:`GAP_S` before it hands over, so its threads have
    stopped spinning (libgomp's default is ~3 ms) before the next one starts: each iteration
    has the machine alone.
    """
    import nst_utils  # noqa: F401  (first: it chooses OpenMP's waiting before torch starts)
    from nst_utils.assets.files import atomic_write
    from nst_utils.assets.images import load_image
    from nst_utils.engine.openmp import wait_settings
    from nst_utils.paper.pipeline import Settings, stylize
    from nst_utils.paper.vgg import load_vgg

    net = load_vgg(pooling="max", device="cpu", verbose=False)
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    stylize(net, content, style, Settings(fast=True, steps=2), progress=False)  # warm-up
    turn = turns / "turn"
    times: list[float] = []
    started = [0.0]

    def wait_for_turn() -> None:
        while not (turn.exists() and turn.read_text() == str(index)):
            time.sleep(0.001)
        started[0] = time.perf_counter()

    def hand_over(*_args) -> None:
        times.append(time.perf_counter() - started[0])
        time.sleep(GAP_S)
        with atomic_write(turn) as tmp:  # the next process never reads half a number
            tmp.write_text(str((index + 1) % count))
        if len(times) < steps:
            wait_for_turn()

    (turns / f"ready-{index}").touch()
    wait_for_turn()
    stylize(net, content, style, Settings(fast=True, steps=steps), progress=False,
            callback=hand_over, callback_every=1)  # fmt: skip
    return {"median_s": statistics.median(times), "samples": len(times), "wait": wait_settings()}


def alternating(size: int, steps: int, policies, folder: Path) -> dict[str, float]:
    """Median seconds per iteration of each policy's single run, iterations interleaved."""
    turns = Path(tempfile.mkdtemp(dir=folder))
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.contention", "--alternate",
                               str(i), "--count", str(len(policies)), "--barrier", str(turns),
                               "--size", str(size), "--steps", str(steps)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_environment(policy), cwd=ROOT)
             for i, policy in enumerate(policies)]
    while len(list(turns.glob("ready-*"))) < len(policies):
        time.sleep(0.01)
    (turns / "turn").write_text("0")
    out = {}
    for policy, proc in zip(policies, procs, strict=True):
        stdout, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"contention worker failed: {err.strip().splitlines()[-1:]}")
        out[policy] = json.loads(stdout.strip().splitlines()[-1])["median_s"]
    return out


def threaded_worker(size: int, steps: int, count: int) -> dict:
    """``count`` optimisations at once in threads of one process (one network)."""
    import threading

    import nst_utils  # noqa: F401  (first: it chooses OpenMP's waiting before torch starts)
    from nst_utils.assets.images import load_image
    from nst_utils.engine.openmp import wait_settings
    from nst_utils.paper.pipeline import Settings, stylize
    from nst_utils.paper.vgg import load_vgg

    net = load_vgg(pooling="max", device="cpu", verbose=False)
    content, style = load_image(CONTENT, size), load_image(STYLE, size)
    stylize(net, content, style, Settings(fast=True, steps=2), progress=False)  # warm-up
    barrier, medians = threading.Barrier(count), [0.0] * count

    def run(i: int) -> None:
        barrier.wait()
        result = stylize(net, content, style, Settings(fast=True, steps=steps), progress=False)
        seconds = [h["seconds"] for h in result.history]
        medians[i] = statistics.median(b - a for a, b in zip([0.0, *seconds], seconds,
                                                             strict=False))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"medians_s": medians, "arch": net.arch, "wait": wait_settings()}


def _environment(policy: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in WAIT_VARIABLES}
    env.update(policy_environment(policy))
    return env


def _start_threads(n: int, policy: str, size: int, steps: int) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.contention", "--threads", str(n),
                           "--size", str(size), "--steps", str(steps)],
                          capture_output=True, text=True, env=_environment(policy), cwd=ROOT,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"contention worker failed: {proc.stderr.strip().splitlines()[-1:]}")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    return [{"median_s": m, "arch": row["arch"], "wait": row["wait"]} for m in row["medians_s"]]


def _start(n: int, policy: str, size: int, steps: int, folder: Path) -> list[dict]:
    env = _environment(policy)
    barrier = Path(tempfile.mkdtemp(dir=folder))
    procs = [subprocess.Popen([sys.executable, "-m", "benchmarks.contention", "--worker",
                               str(i), "--count", str(n), "--barrier", str(barrier),
                               "--size", str(size), "--steps", str(steps)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT)
             for i in range(n)]
    rows = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"contention worker failed: {err.strip().splitlines()[-1:]}")
        rows.append(json.loads(out.strip().splitlines()[-1]))
    return rows


def measure(size: int = 128, steps: int = 20, counts=(1, 2, 4), rounds: int = 2,
            policies=tuple(POLICIES), in_process=(2,), single_repeats: int = 3,
            single_steps: int = 60, log=print) -> dict:
    """``{policy: {n: {"median_s": [...per process...], ...}}}`` plus ratios to fair share."""
    samples: dict[str, dict[int, list[float]]] = {p: {n: [] for n in counts} for p in policies}
    threaded: dict[str, dict[int, list[float]]] = {p: {n: [] for n in in_process}
                                                  for p in policies}
    info: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            for n in counts:
                for policy in [p for _ in range(single_repeats if n == 1 else 1)
                               for p in policies]:
                    rows = _start(n, policy, size, steps, Path(tmp))
                    samples[policy][n] += [r["median_s"] for r in rows]
                    info[policy] = {"arch": rows[0]["arch"], "wait": rows[0]["wait"]}
                    log(f"  {policy:8} x{n}: "
                        + ", ".join(f"{r['median_s']:.3f}" for r in rows) + " s/iteration")
            for n in in_process:
                for policy in policies:
                    rows = _start_threads(n, policy, size, steps)
                    threaded[policy][n] += [r["median_s"] for r in rows]
                    log(f"  {policy:8} x{n} threads in one process: "
                        + ", ".join(f"{r['median_s']:.3f}" for r in rows) + " s/iteration")
        alone = alternating(size, single_steps, policies, Path(tmp)) if single_steps else {}
        for policy, median in alone.items():
            log(f"  {policy:8} alone, iterations interleaved with the others: {median:.4f} s")
    single = statistics.median(samples["default"][1]) if "default" in policies else None
    out: dict = {"size": size, "steps": steps, "rounds": rounds,
                 "single_repeats": single_repeats, "single_default_s": single,
                 "alone_interleaved_s": alone, "single_steps": single_steps,
                 "policies": {}}
    for policy in policies:
        rows = {}
        for n in counts:
            med = statistics.median(samples[policy][n])
            rows[str(n)] = {"samples_s": [round(s, 4) for s in samples[policy][n]],
                            "median_s": med, "worst_s": max(samples[policy][n]),
                            "vs_fair_share": med / (n * single) if single else None,
                            "worst_vs_fair_share": (max(samples[policy][n]) / (n * single)
                                                    if single else None)}
        out["policies"][policy] = {**info[policy], "runs": rows}
        out["policies"][policy]["threads"] = {
            str(n): {"samples_s": [round(v, 4) for v in threaded[policy][n]],
                     "median_s": statistics.median(threaded[policy][n]),
                     "vs_fair_share": (statistics.median(threaded[policy][n]) / (n * single)
                                       if single else None)}
            for n in in_process}
    return out


def alone(size: int, steps: int, rounds: int, policies, log=print) -> dict:
    """The single run's cost of each policy, measured only by :func:`alternating`, ``rounds``
    times (``--alone``): medians per round and the kit's ratio to libgomp's default."""
    per_round: dict[str, list[float]] = {p: [] for p in policies}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for policy, median in alternating(size, steps, policies, Path(tmp)).items():
                per_round[policy].append(median)
            log(f"  round {r + 1}: " + ", ".join(f"{p} {v[-1]:.4f} s"
                                               for p, v in per_round.items()))  # fmt: skip
    out = {"size": size, "steps": steps, "rounds": rounds, "median_s": per_round}
    if "default" in policies:
        out["vs_default"] = {
            p: [a / b for a, b in zip(v, per_round["default"], strict=True)]
            for p, v in per_round.items()
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, default=None)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--alternate", type=int, default=None)
    parser.add_argument("--barrier", type=Path, default=None)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--alone", action="store_true",
                        help="only the single runs, iterations interleaved (--steps, --rounds)")
    args = parser.parse_args(argv)
    if args.alone:
        print(json.dumps(alone(args.size, args.steps, args.rounds,
                               tuple(args.policies.split(","))), indent=1))
        return
    if args.alternate is not None:
        print(json.dumps(alternating_worker(args.size, args.steps, args.barrier, args.alternate,
                                            args.count)))
        return
    if args.threads is not None:
        print(json.dumps(threaded_worker(args.size, args.steps, args.threads)))
        return
    if args.worker is not None:
        print(json.dumps(worker(args.size, args.steps, args.barrier, args.worker, args.count)))
        return
    print(json.dumps(measure(args.size, args.steps, rounds=args.rounds,
                             policies=tuple(args.policies.split(","))), indent=1))


if __name__ == "__main__":
    main()
