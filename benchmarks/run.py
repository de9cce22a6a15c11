"""``python -m benchmarks.run [--quick] [--notebooks] [--out benchmarks/results]``.

Runs the kit's benchmarks on this machine and writes ``<out>/<start>-<host>.json`` (every
number, the machine's description) and ``<out>/<start>-<host>.md`` (the summary, also printed;
``<start>`` is the date and time, and quick runs end in ``-quick``). Every comparison is
measured side by side in one run and reported as a ratio: variants are interleaved A, B, A,
B, ... and medians compared, so steady background load cancels out (absolute seconds still
depend on it).

Parts: 1-2 per-iteration overhead and GFLOP/s (with the speed-up candidates), compile cost;
3 time to the tutorial-style reference's loss, and the bf16 adoption check; 4 peak memory and
time per size (fresh processes) against the kit's estimate; 6 1, 2 and 4 runs at once against
their fair share (fresh processes); 5 notebooks at class settings (only with ``--notebooks``);
7 a style network's one pass against the optimisation, and training (:mod:`.fast_paint`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import nst_utils  # noqa: F401  (first: it sets OpenMP's waiting before torch starts)

# isort: split
from . import contention, fast_paint, iteration, memory, notebooks, time_to_quality
from .common import load_net, machine

FULL = {"sizes": (128, 256, 512), "ttq_size": 512, "ttq_steps": 50, "compile_size": 256,
        "precision_check": (256, 300),
        "memory": [{"size": s, "steps": n, "precision": p}
                   for s, n in ((256, 10), (512, 6), (1024, 4)) for p in ("fp32", "bf16")]
        + [{"size": 1024, "steps": 4, "precision": "fp32", "inplace_relu": False},
           {"size": 512, "steps": 6, "precision": "fp32", "kept_memory": False},
           {"size": 1024, "steps": 4, "precision": "fp32", "kept_memory": False},
           {"size": 1024, "steps": 4, "scales": [256, 512, 1024]}]}
# 2048 px where it fits; 120 steps at 256 px fill L-BFGS's history (100 pairs), which the
# few steps of the other rows leave almost empty, to check that part of the estimate too.
FULL["memory"] += [{"size": 2048, "steps": 3, "precision": "fp32"},
                   {"size": 256, "steps": 120, "precision": "bf16"}]
FULL["contention"] = {"size": 128, "steps": 20, "rounds": 2, "single_repeats": 2,
                      "single_steps": 60}
FULL["fast_paint"] = fast_paint.FULL
PARTS = ("iteration", "time_to_quality", "memory", "contention", "notebooks", "fast_paint")
QUICK = {"sizes": (128,), "reps": 11, "ttq_size": 128, "ttq_steps": 20, "compile_size": None,
         "precision_check": (128, 40),
         "memory": [{"size": 128, "steps": 3, "precision": p} for p in ("fp32", "bf16")]
         + [{"size": 128, "steps": 3, "precision": "fp32", "inplace_relu": False},
            {"size": 128, "steps": 3, "precision": "fp32", "kept_memory": False},
            {"size": 128, "steps": 2, "scales": [64, 128]}],
         "contention": {"size": 64, "steps": 5, "rounds": 1, "single_repeats": 1,
                        "single_steps": 5},
         "fast_paint": fast_paint.QUICK}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f}%"


def summary(res: dict) -> str:
    """The readable report of a run: its header, then every part it ran."""
    m = res["machine"]
    lines = [f"# Benchmarks {res['date']} on {m['host']}", "",
             f"{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; torch {m['torch']}, "
             f"{m['threads']} threads; avx512_bf16={m['avx512_bf16']}; load average at start "
             f"{m['loadavg_start']}, at end {res.get('loadavg_end')}. Mode: {res['mode']}.", ""]
    for part, section in (("iteration", _iteration_section), ("time_to_quality", _ttq_section),
                          ("precision_check", _precision_section), ("memory", _memory_section),
                          ("contention", _contention_section), ("notebooks", _notebook_section),
                          ("fast_paint", fast_paint.section)):
        if res.get(part):
            lines += section(res)
    return "\n".join(lines) + "\n"


def _iteration_section(res: dict) -> list[str]:
    """Parts 1-2 and torch.compile."""
    lines: list[str] = []
    it = res["iteration"]
    pkb = it["matmul_peak_bf16"]
    lines += ["## 1-2. One iteration: full objective vs bare forward+backward", "",
              f"fp32 matrix-multiply peak {it['peak_fp32_gflops']:.0f} GFLOP/s (best of torch.mm "
              f"2048² and a oneDNN 1x1 convolution, measured before and after); bf16 torch.mm "
              f"{pkb['gflops_best']:.0f} GFLOP/s.", "",
              "| size | full s | bare s | overhead | overhead (bf16) | GFLOP/s full | "
              "% of fp32 peak (full / bare) | channels_last | bf16 | speed module (vs written)"
              " | Gram as 1x1 conv | kept memory (in-process, lower bound) | .item() cost |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for size, r in it["sizes"].items():
        t = r["timings"]["overhead"]
        lines.append(
            f"| {size} | {t['full']['median_s']:.3f} | {t['bare']['median_s']:.3f} | "
            f"{_pct(r['overhead_full_vs_bare'])} | {_pct(r['overhead_full_vs_bare_bf16'])} | "
            f"{r['gflops_full']:.0f} | {100 * r['fraction_of_fp32_peak']:.0f}% / "
            f"{100 * r['fraction_of_fp32_peak_bare']:.0f}% | "
            f"x{r['speedup_channels_last']:.2f} | x{r['speedup_bf16']:.2f} | "
            f"x{r['speedup_speed_module']:.2f} | "
            f"x{r.get('speedup_convolution_gram', float('nan')):.2f} | "
            f"x{r['speedup_kept_memory']:.2f} | {_pct(r['sync_cost'])} |")
    floors = [(size, r) for size, r in it["sizes"].items()
              if "overhead_products_only_vs_bare" in r]
    if floors:
        per_size = ", ".join(f"{size} px {_pct(r['overhead_products_only_vs_bare'])} (full "
                             f"{_pct(r['overhead_full_vs_bare_floor_group'])})"
                             for size, r in floors)
        lines += ["", "Floor of the overhead: style nodes that do only the two products per layer "
                  "(no loss value), against bare, interleaved with the full objective: "
                  f"{per_size}."]
    comp = res.get("compile")
    if comp:
        lines += ["", "torch.compile: " + (
            f"error {comp['error'][:120]}" if "error" in comp else
            f"{comp['compile_s']:.1f} s to compile at {comp['size']} px, then "
            f"x{comp['speedup']:.2f} per iteration; " + (
                f"break-even after {round(comp['break_even_iterations'])} iterations."
                if comp["break_even_iterations"] else "it never pays off."))]
    return lines


def _ttq_section(res: dict) -> list[str]:
    """Part 3."""
    lines: list[str] = []
    q = res["time_to_quality"]
    lines += ["", f"## 3. Time to the tutorial-style reference's loss ({q['size']} px)", "",
              "| run | iterations at full size | s/iteration | time to target s | speed-up | "
              "fp32 loss after E |", "|---|---|---|---|---|---|",
              f"| reference (tutorial) | {q['reference']['evaluations']} | "
              f"{q['reference']['median_s_per_evaluation']:.2f} | {q['reference']['wall_s']:.1f} |"
              f" x1 | {q['target_total']:.5g} |"]
    for key, label in (("kit_fp32", "kit fp32"), ("kit_bf16", "kit bf16"),
                       ("kit_fp32_coarse_to_fine", "kit fp32, coarse-to-fine"),
                       ("kit_bf16_coarse_to_fine", "kit bf16, coarse-to-fine")):
        k = q[key]
        tt = k["time_to_target_s"]
        its = k["reached_at_iteration"]
        if "coarse_iterations" in k:
            its = f"{its} (after {' + '.join(map(str, k['coarse_iterations']))} at " \
                  f"{', '.join(map(str, k['scales'][:-1]))} px)"
        per = f"{k['median_s_per_iteration']:.2f}" if "median_s_per_iteration" in k else ""
        final = f"{k['final_total_fp32']:.5g}" if "final_total_fp32" in k else ""
        lines.append(f"| {label} | {its} | {per} | {'n/a' if tt is None else f'{tt:.1f}'} | "
                     f"x{k.get('speedup_vs_reference', float('nan')):.2f} | {final} |")
    lines += ["", f"bf16 vs fp32, fp32-scored loss after E iterations: "
              f"{_pct(q['bf16_vs_fp32_after_E'])}."]
    return lines


def _precision_section(res: dict) -> list[str]:
    """The bf16 adoption check."""
    lines: list[str] = []
    pc = res["precision_check"]
    if pc:
        lines += ["", f"bf16 adoption check ({pc['size']} px, {pc['steps']} "
                  "iterations, final loss scored in fp32): fp32 "
                  f"{pc['fp32']['final_total_fp32']:.5g}, bf16 "
                  f"{pc['bf16']['final_total_fp32']:.5g} ({_pct(pc['bf16_vs_fp32'])}); "
                  f"fp32 from a start perturbed by 1e-3: {_pct(pc['perturbed_vs_fp32'])}. "
                  f"bf16 {'is' if pc['bf16_adopted'] else 'is NOT'} within 1%. Per iteration: "
                  f"fp32 {pc['fp32']['median_s_per_iteration']:.3f} s, bf16 "
                  f"{pc['bf16']['median_s_per_iteration']:.3f} s."]
    return lines


def _memory_section(res: dict) -> list[str]:
    """Part 4."""
    lines: list[str] = []
    lines += ["", "## 4. Memory and time per size (fresh process each)", "",
              "| run | peak RSS MB | estimate MB (error) | RSS after load MB | s/iteration | "
              "run s (steps) | 300 steps ~min |", "|---|---|---|---|---|---|---|"]
    for r in res["memory"]:
        if "error" in r:
            lines.append(f"| {r} | error | | | | | |")
        elif r.get("scales"):
            lines.append(f"| coarse-to-fine {','.join(map(str, r['scales']))} {r['precision']}"
                         f" | {r['peak_rss_mb']:.0f} | {_estimate(r)} | "
                         f"{r['rss_after_load_mb']:.0f} | | "
                         f"{r['wall_s']:.1f} ({r['steps_per_scale']}/scale) | |")
        else:
            relu = "" if r.get("inplace_relu", True) else ", ReLU not in place"
            relu += "" if r.get("kept_memory", True) else ", glibc's default allocator"
            lines.append(f"| {r['size']} px {r['precision']}{relu} | {r['peak_rss_mb']:.0f} | "
                         f"{_estimate(r)} | {r['rss_after_load_mb']:.0f} | "
                         f"{r['median_s_per_iteration']:.2f} | "
                         f"{r['wall_s']:.1f} ({r['steps']}) | "
                         f"{r['projected_class_run_s'] / 60:.1f} |")
    return lines


def _estimate(row: dict) -> str:
    """The kit's estimate of a row's peak and its error against the measured one."""
    if "estimated_peak_mb" not in row:
        return ""
    est = row["estimated_peak_mb"]
    return f"{est:.0f} ({_pct(est / row['peak_rss_mb'] - 1)})"


def _contention_section(res: dict) -> list[str]:
    """Part 6."""
    c = res["contention"]
    lines = ["", f"## 6. Runs sharing the CPU ({c['size']} px, {c['steps']} iterations each, "
             f"{c['rounds']} rounds; fair share = n x the default's single run, "
             f"{c['single_default_s']:.3f} s)", "",
             "| policy | 1 run s/it (x fair) | 2 runs s/it (x fair, worst) | "
             "4 runs s/it (x fair, worst) |", "|---|---|---|---|"]
    for policy, p in c["policies"].items():
        cells = [f"{r['median_s']:.3f} (x{r['vs_fair_share']:.2f}, worst "
                 f"x{r['worst_vs_fair_share']:.2f})" for r in p["runs"].values()]
        lines.append(f"| {policy} ({_wait_label(p['wait'])}) | " + " | ".join(cells) + " |")
    alone = c.get("alone_interleaved_s") or {}
    if alone and "default" in alone:
        lines += ["", f"Alone, one process per policy taking turns iteration by iteration "
                  f"({c['single_steps']} each): " + ", ".join(
                      f"{p} {v:.4f} s/it ({_pct(v / alone['default'] - 1)} vs default)"
                      for p, v in alone.items()) + "."]
    threaded = [f"{policy} {r['median_s']:.3f} s/it (x{r['vs_fair_share']:.2f})"
                for policy, p in c["policies"].items() for r in p.get("threads", {}).values()]
    if threaded:
        lines += ["", "Two optimisations in threads of one process (the playground's background "
                  "thread and another cell): " + ", ".join(threaded) + "."]
    return lines


def _wait_label(wait: dict) -> str:
    if wait.get("OMP_WAIT_POLICY"):
        return f"OMP_WAIT_POLICY={wait['OMP_WAIT_POLICY']}"
    return f"GOMP_SPINCOUNT={wait.get('GOMP_SPINCOUNT')}, {wait.get('choice')}"


def _notebook_section(res: dict) -> list[str]:
    """Part 5."""
    lines: list[str] = []
    if res["notebooks"]:
        lines += ["", "## 5. Notebooks at class settings", "", "| notebook | min | ok |",
                  "|---|---|---|"]
        lines += [f"| {r['notebook']} | {r['wall_s'] / 60:.1f} | {r['ok']} |"
                  for r in res["notebooks"]]
        claims = [(r["notebook"], c) for r in res["notebooks"] for c in r.get("claims", [])]
        if claims:
            lines += ["", "What the notebooks' prose says each result shows, measured at class "
                      "settings:", "", "| notebook | cell | claim | measured | holds |",
                      "|---|---|---|---|---|"]
            lines += [f"| {n[:2]} | {c['cell']} | {c['claim']} | {c['measured']} | {c['holds']} |"
                      for n, c in claims]
    return lines


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Benchmarks of the style-transfer kit.")
    parser.add_argument("--quick", action="store_true", help="small sizes (about 3 minutes)")
    parser.add_argument("--notebooks", action="store_true",
                        help="also time every notebook at class settings (~20 min)")
    parser.add_argument("--only-notebooks", default="",
                        help="comma-separated name prefixes of the notebooks to time (default all)")
    parser.add_argument("--keep-notebooks", default=None, metavar="DIR",
                        help="also keep the executed notebooks, with their figures, in DIR")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--random-weights", action="store_true",
                        help="timing only, without the real VGG weights")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)} (default: all; "
                        "notebooks only with --notebooks)")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if parts - set(PARTS):
        parser.error(f"unknown parts {sorted(parts - set(PARTS))}: choose from {PARTS}")
    cfg = QUICK if args.quick else FULL
    real = not args.random_weights
    started = time.perf_counter()
    res = {"date": dt.datetime.now().isoformat(timespec="seconds"),
           "mode": "quick" if args.quick else "full", "real_weights": real,
           "machine": machine(), "config": cfg}
    print(f"Machine: {res['machine']}")
    net = load_net(real=real) if parts & {"iteration", "time_to_quality"} else None
    if "iteration" in parts:
        print("1-2. Per-iteration overhead and throughput (interleaved)")
        res["iteration"] = iteration.measure(net, sizes=cfg["sizes"], reps=cfg.get("reps"))
        if cfg["compile_size"] and not args.no_compile:
            print("    torch.compile")
            res["compile"] = iteration.measure_compile(net, size=cfg["compile_size"])
    if "time_to_quality" in parts:
        print("3. Time to quality")
        res["time_to_quality"] = time_to_quality.measure(net, cfg["ttq_size"], cfg["ttq_steps"])
        print("   bf16 adoption check")
        res["precision_check"] = time_to_quality.precision_check(net, *cfg["precision_check"])
    if "memory" in parts:
        print("4. Memory and time per size (subprocesses)")
        res["memory"] = memory.measure(cfg["memory"], real=real)
    if "contention" in parts:
        print("6. Runs sharing the CPU (subprocesses)")
        res["contention"] = contention.measure(**cfg["contention"])
    if "fast_paint" in parts:
        print("7. A style network's one pass against the optimisation; training")
        res["fast_paint"] = fast_paint.measure(cfg["fast_paint"], real=real)
    if args.notebooks and "notebooks" in parts:
        print("5. Notebooks at class settings")
        res["notebooks"] = notebooks.measure(
            only=[p for p in args.only_notebooks.split(",") if p] or None,
            keep_dir=Path(args.keep_notebooks) if args.keep_notebooks else None)
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started_at = dt.datetime.fromisoformat(res["date"]).strftime("%Y-%m-%dT%H%M")
    partial = "" if parts == set(PARTS) else "-" + "-".join(p for p in PARTS if p in parts)
    stem = f"{started_at}-{platform.node() or 'host'}{'-quick' if args.quick else ''}{partial}"
    text = summary(res)
    (out / f"{stem}.json").write_text(json.dumps(res, indent=1, default=str))
    (out / f"{stem}.md").write_text(text)
    print()
    print(text)
    print(f"Wrote {out / stem}.json and .md ({res['total_s'] / 60:.1f} min)")
    return res


if __name__ == "__main__":
    main()
