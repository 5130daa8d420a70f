#!/usr/bin/env python3
"""Reads grpo's TensorBoard event files with TensorBoard's own reader (PyPI tensorboard, pinned in
scripts/requirements.txt) and lists every scalar tag with its number of points, step range and last value; exits 1
when a run directory has no event file or TensorBoard reads no scalars from it.

    ~/grpo-venv/bin/python scripts/check_tensorboard.py runs/countdown-tiny/grpo [RUN_DIR...]
"""
import glob
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(dirs):
    if not dirs:
        sys.exit(__doc__)
    bad = 0
    for d in dirs:
        files = sorted(glob.glob(os.path.join(d, "events.out.tfevents.*")))
        if not files:
            print(f"{d}: no event files", file=sys.stderr)
            bad += 1
            continue
        acc = EventAccumulator(d, size_guidance={"scalars": 0})  # 0: keep every point
        acc.Reload()
        tags = acc.Tags()["scalars"]
        print(f"{d}: {len(files)} event file(s), {len(tags)} scalar tags")
        for tag in sorted(tags):
            ev = acc.Scalars(tag)
            print(f"  {tag:40s} {len(ev):5d} points  steps {ev[0].step}-{ev[-1].step}  last {ev[-1].value:.6g}")
        if not tags:
            bad += 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
