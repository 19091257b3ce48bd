"""Issue 14.1: Ctrl-C keeps every finished run (no traceback, one line saying how many), and the
same command resumes without redoing them."""

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _cmd(out):
    return [sys.executable, "-m", "leakjax.cli", "attack", "--attack", "dlg", "--model", "mlp",
            "--width", "8", "--data", "digits", "--num-images", "8", "--seeds", "2", "--steps",
            "40", "--out", str(out)]  # fmt: skip


def _finished(store):
    with sqlite3.connect(store) as c:
        return dict(c.execute("SELECT run_id, created FROM runs"))


def test_sigint_keeps_finished_runs_and_the_rerun_resumes(tmp_path):
    out = tmp_path / "dlg"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(_cmd(out), cwd=ROOT, env=env, stderr=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)  # fmt: skip
    chunks = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: p.stderr.read(1), b"")))
    reader.start()
    done, deadline = 0, time.time() + 600
    while time.time() < deadline and p.poll() is None:
        done = max((int(n) for n in re.findall(rb"(\d+)/16", b"".join(chunks))), default=0)
        if done >= 1:
            break
        time.sleep(0.05)
    assert p.poll() is None and 1 <= done < 16, b"".join(chunks)[-2000:]
    p.send_signal(signal.SIGINT)
    p.wait(timeout=120)
    reader.join(timeout=10)
    err = b"".join(chunks).decode()
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    m = re.search(r"leakjax attack: interrupted: (\d+) of 16 runs kept in (\S+)", err)
    assert m, err[-2000:]
    kept = int(m.group(1))
    first = _finished(out / "store.sqlite")
    assert kept == len(first) >= done  # every run the bar had counted is in the store
    assert kept < 16
    # the same command resumes: the kept rows are not redone
    r = subprocess.run(_cmd(out), cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"resumed: {kept} of 16 runs were already in" in r.stderr
    final = _finished(out / "store.sqlite")
    assert len(final) == 16 and all(final[k] == v for k, v in first.items())
    assert len(json.loads((out / "results.json").read_text())) == 16
