"""write_report: the page is self-contained and shows the store's numbers; figures; errors."""

import base64
import csv
import os
import re
import shutil
import sqlite3
from html.parser import HTMLParser

import pytest

from leakjax.report import ReportError, write_report
from leakjax.sweep import Store, StoreError


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.imgs = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        a = dict(attrs)
        for k in ("src", "href", "srcset", "poster", "data", "action", "background"):
            if k in a:
                self.refs.append((tag, k, a[k]))
        if tag == "img":
            self.imgs.append(a)


@pytest.fixture(scope="module")
def page(fake_report):
    with open(fake_report, encoding="utf-8") as f:
        return f.read()


def test_page_has_no_external_reference(page):
    p = _Refs()
    p.feed(page)
    assert "link" not in p.tags and "iframe" not in p.tags
    for tag, attr, value in p.refs:
        assert value.startswith(("data:", "#")), (tag, attr, value[:80])
    low = page.lower()
    assert "http://" not in low and "https://" not in low and "//cdn" not in low
    assert "url(" not in low and "@import" not in low
    assert re.search(r"<script[^>]*\bsrc", low) is None


def test_every_image_is_an_embedded_png(page):
    p = _Refs()
    p.feed(page)
    assert len(p.imgs) >= 3 + 3  # three trade-off plots and the image cells' grids
    for img in p.imgs:
        src = img["src"]
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
        assert img.get("alt")


def test_page_shows_the_numbers_and_definitions(page):
    assert "20.00" in page  # dlg|none lower median PSNR (25.00 would be the midpoint)
    assert "25.00" not in page
    assert "3/5" in page  # success of dlg|none
    assert "at least 20 dB" in page  # the success definition is printed
    assert "lower median" in page
    assert "not computed" in page  # LPIPS of dlg|none, never 0
    assert "62.5%" in page  # label accuracy
    assert "90.0%" in page and "80.0%" in page  # FedAvg accuracy matched to the cells
    assert "ValueError: boom" in page and "utility broke" in page  # failures listed
    assert "hello w0rld" in page and "hello world" in page  # text side by side
    assert "token_accuracy" in page
    assert "SWEEP = Sweep(&#x27;fake&#x27;, runs=[])" in page  # the source, escaped
    assert "0.0-test" in page  # the environment
    assert 'id="cell-1"' in page


def test_figures_png_and_pdf(fake_report):
    figs = os.path.join(os.path.dirname(fake_report), "figures")
    names = set(os.listdir(figs))
    for axis in ("bits", "accuracy", "epsilon"):
        assert {f"tradeoff_{axis}.png", f"tradeoff_{axis}.pdf"} <= names
    grids = sorted(n for n in names if n.startswith("cell_") and n.endswith(".png"))
    assert len(grids) == 3  # the three image cells; the text cell has no blobs
    for n in names:
        with open(os.path.join(figs, n), "rb") as f:
            head = f.read(8)
        assert head.startswith(b"%PDF") if n.endswith(".pdf") else head == b"\x89PNG\r\n\x1a\n"


def test_cells_csv(fake_report):
    with open(os.path.join(os.path.dirname(fake_report), "cells.csv")) as f:
        rows = list(csv.DictReader(f))
    r = next(r for r in rows if r["attack"] == "dlg" and r["defense"] == "none")
    assert float(r["psnr_median"]) == 20.0 and r["lpips_median"] == ""
    assert (r["diverged"], r["failed"], r["success_k"], r["success_n"]) == ("1", "1", "3", "5")


def test_sweep_filter_and_empty_store(fake_store, tmp_path):
    with pytest.raises(StoreError, match="no sweep named 'other'"):
        write_report(fake_store, tmp_path / "a", sweep="other")
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    index = write_report(empty, tmp_path / "b")
    with open(index, encoding="utf-8") as f:
        html = f.read()
    assert "No attack runs." in html and "no utility runs" in html


def test_errors_for_bad_stores_and_outputs(fake_store, tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        write_report(tmp_path / "missing.sqlite", tmp_path / "o1")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not an SQLite file at all" * 100)
    with pytest.raises(StoreError, match="not a leakjax"):
        write_report(junk, tmp_path / "o2")
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="without leakjax's schema"):
        write_report(other, tmp_path / "o3")
    newer = tmp_path / "newer.sqlite"
    shutil.copy(fake_store, newer)
    with sqlite3.connect(newer) as c:
        c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        write_report(newer, tmp_path / "o5")
    with pytest.raises(StoreError, match="is a folder"):
        write_report(tmp_path, tmp_path / "o4")
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ReportError, match="out_dir=.*is a file"):
        write_report(fake_store, afile)
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 6))  # nothing written


def test_rewrite_removes_stale_figures(fake_store, tmp_path):
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "cell_099_old.png").write_bytes(b"old")
    (figs / "mine.txt").write_text("kept")
    write_report(fake_store, tmp_path, grids=False, pdf=False)
    names = set(os.listdir(figs))
    assert "cell_099_old.png" not in names and "mine.txt" in names
    assert names == {"mine.txt", *(f"tradeoff_{a}.png" for a in ("bits", "accuracy", "epsilon"))}
