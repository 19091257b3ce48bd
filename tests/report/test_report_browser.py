"""The report in a real headless browser (Chromium): it loads without errors, every image is
decoded and displayed, and a screenshot is taken.

The page's inline script sets ``<body data-ready="ok">`` on load when no error happened and
every ``<img>`` is complete with a natural width > 0 (:mod:`leakjax.report.page`). Chromium
comes from the Debian packages (``apt-get install chromium``; ``.ci/run`` installs it). Without
it the tests skip, except in CI (``CI=true``), where they fail.
"""

import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from leakjax.report.page import _JS

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--virtual-time-budget=5000",
]


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    msg = "Chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg + ": CI must run the browser test")
    pytest.skip(msg)


def _run(args, tmp_path, timeout=90):
    exe = _chromium()
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    proc = subprocess.run(
        [exe, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def _body_attrs(dom: str) -> dict:
    m = re.search(r"<body([^>]*)>", dom)
    assert m, dom[:500]
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', m.group(1)))


def test_report_loads_with_every_image_displayed(fake_report, tmp_path):
    with open(fake_report, encoding="utf-8") as f:
        n_img = f.read().count("<img ")
    dom = _run(["--dump-dom", "file://" + os.path.abspath(fake_report)], tmp_path)
    attrs = _body_attrs(dom)
    assert attrs.get("ready") == "ok", attrs
    assert attrs["images"] == str(n_img) and int(attrs["images"]) >= 6
    assert attrs["bad-images"] == "0" and attrs["errors"] == "0"


def test_marker_reports_a_broken_image(tmp_path):
    """The marker can fail: an undecodable image gives ready="error"."""
    page = tmp_path / "broken.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><script>{_JS}</script></head><body>"
        '<img src="data:image/png;base64,AAAA" alt="broken"></body></html>'
    )
    attrs = _body_attrs(_run(["--dump-dom", "file://" + str(page)], tmp_path))
    assert attrs.get("ready") == "error" and attrs["bad-images"] == "1", attrs


def test_report_screenshot(fake_report, tmp_path):
    from PIL import Image

    shot = tmp_path / "report.png"
    _run(
        [
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            "file://" + os.path.abspath(fake_report),
        ],
        tmp_path,
    )
    assert shot.exists() and shot.stat().st_size > 20_000
    img = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("L"), np.float32)
    assert img.shape == (2000, 1280)
    assert img.std() > 10  # not a blank page
    assert (img < 128).mean() > 0.01  # some dark text or figures on it
