"""Run a sweep file in a subprocess (used by the scale tests: SIGKILL, devices, processes).

Usage: python sweep_worker.py SWEEP_FILE STORE [--strategy S] [--max-chunk N]
       [--process-id P --num-processes N --coordinator HOST:PORT]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sweep")
    ap.add_argument("store")
    ap.add_argument("--strategy", default="auto")
    ap.add_argument("--max-chunk", type=int, default=256)
    ap.add_argument("--process-id", type=int, default=None)
    ap.add_argument("--num-processes", type=int, default=1)
    ap.add_argument("--coordinator", default=None)
    a = ap.parse_args()
    import jax

    if a.process_id is not None:
        jax.distributed.initialize(
            coordinator_address=a.coordinator,
            num_processes=a.num_processes,
            process_id=a.process_id,
        )
    from leakjax.sweep import load_sweep_file, run_sweep

    sweep, src = load_sweep_file(a.sweep)
    r = run_sweep(
        sweep, a.store, strategy=a.strategy, max_chunk=a.max_chunk, progress=False, source=src
    )
    print(f"written={r.written} total={r.total} done_before={r.already_done}", flush=True)


if __name__ == "__main__":
    main()
