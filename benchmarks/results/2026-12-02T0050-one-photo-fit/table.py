"""The markdown table of BENCHMARKS.md from the ``fit-*.json`` beside this file.

The bars (the optimisation's total after 50 L-BFGS iterations, same objective and size) are
those of ``../2026-12-01T2326-fast-quality/report.json``. Usage: ``python table.py``.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
REPORT = HERE.parent / "2026-12-01T2326-fast-quality" / "report.json"
SHOWN = (0, 50, 100, 200, 400)


def main() -> None:
    bars = {(r["style"], r["photo"]): r["optimisation_after_50"]
            for r in json.loads(REPORT.read_text())["rows"]}  # fmt: skip
    print("| model | photo | start | " + " | ".join(f"step {s}" for s in SHOWN[1:])
          + " | bar (50 it.) | first step at or below the bar |")  # fmt: skip
    print("|---" * (len(SHOWN) + 4) + "|")
    for path in sorted(HERE.glob("fit-*.json")):
        _, model, photo = path.stem.split("-", 2)
        rows = json.loads(path.read_text())["rows"]
        for arm in dict.fromkeys(r["arm"] for r in rows):
            totals = {r["step"]: r["total"] for r in rows if r["arm"] == arm}
            bar = bars[(model, photo)]
            first = next((s for s, t in sorted(totals.items()) if t <= bar), None)
            cells = " | ".join(f"{totals[s]:.3g}" for s in SHOWN if s in totals)
            print(
                f"| `{model}` ({arm}) | {photo} | {cells} | {bar:.3g} | "
                f"{first if first is not None else 'not in 400'} |"
            )


if __name__ == "__main__":
    main()
