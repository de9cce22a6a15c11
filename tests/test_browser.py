"""End to end in a real browser: JupyterLab 4 + ipywidgets 8 + headless Chromium.

Starts JupyterLab on a free localhost port with a random token and throw-away config,
runtime, settings and workspace folders; for each explorer that only needs a forward pass
(notebook 01's feature-map explorer, notebook 03's Gram-matrix explorer) opens its notebook,
runs all cells from the Run menu, waits for the kernel to go idle, checks that the explorer
rendered, changes its layer, checks that the picture and the title changed and that no cell
shows an error. Screenshots are kept in ``test-output/browser/<notebook>/``. Skips when
Chromium or Playwright is missing.

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


@pytest.mark.parametrize("case", EXPLORERS, ids=lambda c: Path(c.notebook).stem)
def test_explorer_in_jupyterlab(lab, case):
    chromium = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not chromium:
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    base, token = lab
    artifacts = ARTIFACTS_ROOT / Path(case.notebook).stem
    artifacts.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    console: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(f"{base}/lab/tree/{case.notebook}?reset&token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            page.wait_for_function(KERNEL_IDLE, timeout=60_000)
            _run_all_cells(page)
            page.wait_for_function(ALL_CODE_CELLS_RAN, timeout=RUN_ALL_S * 1000, polling=500)
            ran_s = time.monotonic() - start
            page.screenshot(path=artifacts / "01_after_run_all.png")

            explorer = page.locator(case.explorer)
            explorer.wait_for(timeout=30_000)
            explorer.scroll_into_view_if_needed()
            image = explorer.locator(case.image)
            title = explorer.locator(case.title)
            image.wait_for(timeout=30_000)
            page.wait_for_function(
                "(el) => el.complete && el.naturalWidth > 0", arg=image.element_handle()
            )
            before_src = image.get_attribute("src")
            before = image.screenshot(path=artifacts / "02_picture_before.png")
            explorer.screenshot(path=artifacts / "02_explorer_before.png")
            assert case.first_layer in title.inner_text()

            explorer.locator(".nst-layer select").select_option(case.new_layer)
            page.wait_for_function(
                "([el, src]) => el.getAttribute('src') !== src && el.complete"
                " && el.naturalWidth > 0",
                arg=[image.element_handle(), before_src],
                timeout=30_000,
            )
            page.wait_for_function(
                "([el, name]) => el.innerText.includes(name)",
                arg=[title.element_handle(), case.new_layer],
                timeout=30_000,
            )
            after = image.screenshot(path=artifacts / "03_picture_after.png")
            explorer.screenshot(path=artifacts / "03_explorer_after.png")
            assert after != before, "the picture did not change with the layer"

            stderr = page.locator(
                '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
            ).all_inner_texts()
            errors = [t for t in stderr if "Traceback" in t or "Error" in t]
            widget_errors = page.locator(
                ".jp-OutputArea-output", has_text="Error displaying widget"
            ).count()
            page.screenshot(path=artifacts / "04_final.png", full_page=True)
        finally:
            (artifacts / "console.log").write_text("\n".join(console))
            browser.close()
    assert not errors, "cells show errors:\n" + "\n---\n".join(errors)
    assert widget_errors == 0, "a widget could not be displayed"
    total_s = time.monotonic() - start
    (artifacts / "timing.json").write_text(
        json.dumps({"run_all_s": round(ran_s, 1), "total_s": round(total_s, 1)})
    )
    assert total_s < 170, f"the browser test took {total_s:.0f} s"
