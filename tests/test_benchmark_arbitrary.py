"""benchmarks.arbitrary at tiny sizes: every part runs and reports (timings are not checked)."""

import json

from benchmarks import arbitrary


def test_every_part_reports(tmp_path, shared_images, monkeypatch):
    monkeypatch.setattr(arbitrary, "PAINTINGS", ("starry_night",))
    assert arbitrary.main(["--quick", "--out", str(tmp_path)]) == 0
    (result,) = tmp_path.glob("*.json")
    res = json.loads(result.read_text())
    assert set(res["reconstruction"]) == set(res["decoders"])
    row = res["statistics"]["rows"][0]
    assert {"unpainted", "adain", "wct", "optimisation"} <= set(row)
    assert all(row[k]["mean"] >= 0 and row[k]["paper_loss"]["style"] > 0 for k in
               ("unpainted", "adain", "wct", "optimisation"))  # fmt: skip
    assert set(res["speed"]["rows"]["64"]["median_s"]) >= {"adain", "wct", "optimisation"}
    assert "| 64 |" in result.with_suffix(".md").read_text()
