"""End to end in a real browser: JupyterLab 4 + ipywidgets 8 + headless Chromium.

Starts JupyterLab on a free localhost port with a random token and throw-away config,
runtime, settings and workspace folders. For every explorer of the course it opens the
notebook, runs all cells from the Run menu, waits until every cell ran, then drives the
explorer with mouse and keyboard:

* notebooks 01 and 03 (feature maps, Gram matrices): choose another layer; the picture and
  its title change;
* notebook 04 (β/α): move the slider to a value not computed yet; it is computed on demand,
  cached, and moving back shows the notebook's own result again at once;
* notebook 05 (playground): ask for many steps, press Run; the preview updates while it runs;
  press Stop; the run ends and the picture shown is the run's best image (its bytes compared
  with the kernel's ``playground.result``).

No cell may show an error. Screenshots are kept in ``test-output/browser/<notebook>/``. Skips
when Chromium or Playwright is missing.

Run with ``make test-browser`` (``NST_FAST=1 pytest -m browser tests/test_browser.py``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS_ROOT = REPO / "test-output" / "browser"
CHROMIUM = os.environ.get("NST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_S = 90
RUN_ALL_S = 150
NOTEBOOK_04 = "notebooks/04_loss_weighting.ipynb"
NOTEBOOK_05 = "notebooks/05_full_optimization.ipynb"
#: Notebooks 04 and 05 run optimisations before their explorers (NST_FAST=1 keeps them short).
RUN_ALL_S_OPTIMISING = 300
#: Steps the playground test asks for: enough that Stop comes long before the end.
PLAYGROUND_STEPS = 1000
#: What the kernel reports after the playground was stopped: status, best iteration, iterations
#: done, whether the best has the lowest loss, and the SHA-256 of the best image's PNG.
PLAYGROUND_RESULT = """
import hashlib
from nst_utils.display.widgets.render import png_bytes
_r = playground.result
_totals = [h["total"] for h in _r.history]
print(_r.status, _r.best_iteration, len(_r.history),
      _r.history[_r.best_iteration - 1]["total"] == min(_totals),
      hashlib.sha256(png_bytes(_r.image)).hexdigest())
"""


@dataclass(frozen=True)
class ExplorerCase:
    """Where an explorer lives and how to find its parts in the page."""

    notebook: str
    explorer: str  # CSS selector of the explorer's box
    image: str  # its main picture
    title: str  # the line that names the layer shown
    first_layer: str
    new_layer: str


EXPLORERS = [
    ExplorerCase(
        "notebooks/01_cnn_features.ipynb",
        ".nst-feature-explorer",
        "img.nst-feature-image",
        ".nst-feature-title",
        first_layer="relu2_1",
        new_layer="relu4_1",
    ),
    ExplorerCase(
        "notebooks/03_style_reconstruction.ipynb",
        ".nst-gram-explorer",
        "img.nst-gram-image",
        ".nst-gram-title",
        first_layer="relu1_1",
        new_layer="relu4_1",
    ),
]

#: JupyterLab settings for a deterministic test: every cell kept in the page, no autosave
#: (the run must not write outputs into the committed notebook), no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

ALL_CODE_CELLS_RAN = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.content || !panel.sessionContext) return false;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    if (!kernel || kernel.status !== 'idle') return false;
    const cells = panel.content.widgets.filter((c) => c.model.type === 'code');
    return cells.length > 0 && cells.every((c) => c.model.executionCount !== null);
}"""

KERNEL_IDLE = """() => {
    const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const ctx = panel && panel.sessionContext;
    const kernel = ctx && ctx.session && ctx.session.kernel;
    return Boolean(ctx && ctx.isReady && kernel && kernel.status === 'idle');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"JupyterLab exited early:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def lab(tmp_path):
    """A running JupyterLab: yields ``(base_url, token)``; stopped and cleaned up after."""
    jupyter = Path(sys.executable).parent / "jupyter"
    if not jupyter.exists():
        pytest.skip("jupyter is not installed in this environment")
    settings = tmp_path / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        target = settings / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "NST_FAST": "1",
        "PYTHONUNBUFFERED": "1",
    }
    shared = REPO.parent / "shared" / "images"
    if "NST_EXAMPLES_DIR" not in env and shared.exists():
        env["NST_EXAMPLES_DIR"] = str(shared)
    ARTIFACTS_ROOT.mkdir(parents=True, exist_ok=True)
    log = ARTIFACTS_ROOT / "jupyterlab.log"
    notebooks = {path: path.read_bytes() for path in (REPO / "notebooks").glob("*.ipynb")}
    with open(log, "w") as log_file:
        proc = subprocess.Popen(
            [
                str(jupyter), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}",
                "--expose-app-in-browser", "--ServerApp.port_retries=0",
                "--LabApp.extension_manager=readonly", "--ServerApp.terminals_enabled=False",
                *(["--allow-root"] if os.geteuid() == 0 else []),
            ],
            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        saved = [path for path, data in notebooks.items() if path.read_bytes() != data]
        for path in saved:  # never leave outputs behind
            path.write_bytes(notebooks[path])
        if saved:
            pytest.fail(f"JupyterLab saved {[p.name for p in saved]}; the files were restored")


def _run_all_cells(page) -> None:
    """Run → Run All Cells, as a student would; the command itself if the menu changed."""
    try:
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click(timeout=10_000)
    except Exception:  # e.g. a renamed menu entry: fall back to the same command
        page.keyboard.press("Escape")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")


#: The SHA-256 of the picture an ``<img>`` shows (its blob), to tell pictures apart by content.
IMAGE_HASH = """async (el) => {
    const data = await (await fetch(el.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', data);
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, '0')).join('');
}"""

#: Runs code in the notebook's kernel (outside any cell) and returns what it printed.
KERNEL_PRINT = """async (code) => {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const future = kernel.requestExecute({code, silent: false, store_history: false});
    let out = '';
    future.onIOPub = (msg) => {
        if (msg.header.msg_type === 'stream') out += msg.content.text;
        const c = msg.content;
        if (msg.header.msg_type === 'error') out += `ERROR ${c.ename}: ${c.evalue}`;
    };
    await future.done;
    return out;
}"""

#: Counts the changes of an element's ``src`` from now on (in ``window.__nstSrcChanges``).
COUNT_SRC_CHANGES = """(el) => {
    window.__nstSrcChanges = 0;
    new MutationObserver(() => { window.__nstSrcChanges += 1; })
        .observe(el, {attributes: true, attributeFilter: ['src']});
}"""


def _loaded(page, image, timeout_ms: int = 30_000) -> None:
    image.wait_for(timeout=timeout_ms)
    page.wait_for_function(
        "(el) => el.complete && el.naturalWidth > 0", arg=image.element_handle(),
        timeout=timeout_ms,
    )  # fmt: skip


def _image_hash(image) -> str:
    return image.evaluate(IMAGE_HASH)


def _wait_text(page, element, predicate_js: str, arg, timeout_ms: int = 60_000) -> None:
    """Wait until ``predicate_js`` (a JS expression over ``text`` and ``arg``) holds for the
    element's visible text."""
    page.wait_for_function(
        f"([el, arg]) => {{ const text = el.innerText; return {predicate_js}; }}",
        arg=[element.element_handle(), arg], timeout=timeout_ms, polling=100,
    )  # fmt: skip


def _errors_shown(page) -> tuple[list[str], int]:
    """Tracebacks in cell outputs, and how many widgets failed to display."""
    stderr = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).all_inner_texts()
    errors = [t for t in stderr if "Traceback" in t or "Error" in t]
    widget_errors = page.locator(".jp-OutputArea-output", has_text="Error displaying widget")
    return errors, widget_errors.count()


@contextmanager
def notebook_page(lab, notebook: str, run_all_s: int = RUN_ALL_S):
    """Open ``notebook`` in JupyterLab, Run All Cells as a student would and wait until every
    cell ran; yields ``(page, artifacts)``. Afterwards checks that no cell shows an error and
    keeps a full-page screenshot, the browser console and the timings in ``artifacts``."""
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not chromium:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    base, token = lab
    artifacts = ARTIFACTS_ROOT / Path(notebook).stem
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    start = time.monotonic()
    console: list[str] = []
    timing: dict[str, float] = {}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(f"{base}/lab/tree/{notebook}?reset&token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            _run_all_cells(page)
            page.wait_for_function(ALL_CODE_CELLS_RAN, timeout=run_all_s * 1000, polling=500)
            timing["run_all_s"] = round(time.monotonic() - start, 1)
            page.screenshot(path=artifacts / "01_after_run_all.png")
            yield page, artifacts
            errors, widget_errors = _errors_shown(page)
            page.screenshot(path=artifacts / "99_final.png", full_page=True)
        finally:
            (artifacts / "console.log").write_text("\n".join(console))
            browser.close()
    timing["total_s"] = round(time.monotonic() - start, 1)
    (artifacts / "timing.json").write_text(json.dumps(timing))
    assert not errors, "cells show errors:\n" + "\n---\n".join(errors)
    assert widget_errors == 0, "a widget could not be displayed"


def _explorer(page, selector: str):
    explorer = page.locator(selector)
    explorer.wait_for(timeout=30_000)
    explorer.scroll_into_view_if_needed()
    return explorer


@pytest.mark.parametrize("case", EXPLORERS, ids=lambda c: Path(c.notebook).stem)
def test_layer_explorer_in_jupyterlab(lab, case):
    """Notebooks 01 and 03: choosing another layer redraws the picture and its title."""
    with notebook_page(lab, case.notebook) as (page, artifacts):
        explorer = _explorer(page, case.explorer)
        image, title = explorer.locator(case.image), explorer.locator(case.title)
        _loaded(page, image)
        before = _image_hash(image)
        image.screenshot(path=artifacts / "02_picture_before.png")
        explorer.screenshot(path=artifacts / "02_explorer_before.png")
        assert case.first_layer in title.inner_text()

        explorer.locator(".nst-layer select").select_option(case.new_layer)
        _wait_text(page, title, "text.includes(arg)", case.new_layer, 30_000)
        page.wait_for_function(
            f"async ([el, old]) => el.complete && el.naturalWidth > 0 && ({IMAGE_HASH})(el)"
            ".then((h) => h !== old)",
            arg=[image.element_handle(), before], timeout=30_000,
        )  # fmt: skip
        image.screenshot(path=artifacts / "03_picture_after.png")
        explorer.screenshot(path=artifacts / "03_explorer_after.png")
        assert _image_hash(image) != before, "the picture did not change with the layer"


def test_ratio_explorer_in_jupyterlab(lab):
    """Notebook 04: a β/α not computed yet is computed on demand and cached; going back to
    a cached β/α shows its picture again at once."""
    with notebook_page(lab, NOTEBOOK_04, RUN_ALL_S_OPTIMISING) as (page, artifacts):
        explorer = _explorer(page, ".nst-ratio-explorer")
        image = explorer.locator("img.nst-ratio-image")
        title, status = explorer.locator(".nst-ratio-title"), explorer.locator(".nst-ratio-status")
        readout = explorer.locator(".nst-ratio .widget-readout")
        _loaded(page, image)
        first, cached = readout.inner_text(), _image_hash(image)
        assert f"β/α = {first} (" in title.inner_text(), "the notebook's sweep is not shown"
        explorer.screenshot(path=artifacts / "02_ratio_precomputed.png")

        explorer.locator(".nst-ratio .noUi-handle").press("ArrowRight")  # a new β/α
        _wait_text(page, readout, "text !== arg", first)
        new = readout.inner_text()
        _wait_text(page, title, "text.includes(`β/α = ${arg} (`)", new, 120_000)
        assert new in status.inner_text().split("cached:")[1]
        _loaded(page, image)
        assert _image_hash(image) != cached, "the new β/α shows the old picture"
        explorer.screenshot(path=artifacts / "03_ratio_computed.png")

        explorer.locator(".nst-ratio .noUi-handle").press("ArrowLeft")  # back: cached
        _wait_text(page, title, "text.includes(`β/α = ${arg} (`)", first, 10_000)
        page.wait_for_function(
            f"async ([el, want]) => ({IMAGE_HASH})(el).then((h) => h === want)",
            arg=[image.element_handle(), cached], timeout=10_000,
        )  # fmt: skip
        assert "computing" not in status.inner_text()
        explorer.screenshot(path=artifacts / "04_ratio_cached_again.png")


def test_playground_in_jupyterlab(lab):
    """Notebook 05: Run starts the optimisation, the preview updates while it runs, Stop
    ends it and the picture shown is the best image of the run."""
    with notebook_page(lab, NOTEBOOK_05, RUN_ALL_S_OPTIMISING) as (page, artifacts):
        explorer = _explorer(page, ".nst-playground")
        image, title = (
            explorer.locator("img.nst-playground-image"),
            explorer.locator(".nst-playground-title"),
        )
        _loaded(page, image)
        explorer.screenshot(path=artifacts / "02_playground_start.png")

        steps = explorer.locator(".nst-steps .widget-readout")  # long enough to stop it
        steps.click()
        page.keyboard.press("Control+A")
        page.keyboard.type(str(PLAYGROUND_STEPS))
        page.keyboard.press("Enter")
        _wait_text(page, steps, "text.trim() === arg", str(PLAYGROUND_STEPS), 10_000)

        image.evaluate(COUNT_SRC_CHANGES)
        explorer.locator("button.nst-run").click()
        page.wait_for_function("() => window.__nstSrcChanges >= 3", timeout=120_000)
        running = title.inner_text()
        assert f"/{PLAYGROUND_STEPS}: loss" in running, running
        _wait_text(page, title, "text !== arg && text.includes('iteration')", running, 60_000)
        explorer.screenshot(path=artifacts / "03_playground_running.png")
        assert explorer.locator("button.nst-run").is_disabled()

        explorer.locator("button.nst-stop").click()
        _wait_text(page, title, "text.includes('stopped at')", None, 60_000)
        page.wait_for_function(
            "(el) => !el.disabled", arg=explorer.locator("button.nst-run").element_handle()
        )
        _loaded(page, image)
        explorer.screenshot(path=artifacts / "04_playground_stopped.png")
        shown = _image_hash(image)
        report = page.evaluate(KERNEL_PRINT, PLAYGROUND_RESULT)
        status, best, done, best_is_min, best_hash = report.split()
        assert status == "stopped" and int(done) < PLAYGROUND_STEPS, report
        assert best_is_min == "True" and f"best image (iteration {best}," in title.inner_text()
        assert shown == best_hash, "the picture shown is not the run's best image"
