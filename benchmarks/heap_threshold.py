"""What glibc's mmap threshold costs a full-size training step on the CPU.

Each setting runs in its own process (the threshold is per process): the full-size MoE
model (R(2+1)D-18, 16×112², random weights), ``--steps`` AdamW steps of 2 micro-batches of
2 clips after one warm-up step; wall, user and system seconds and the peak resident memory.
A low threshold returns every freed block at once but makes each large block a fresh
mapping the kernel zero-fills page by page (system time); :mod:`helpers.heap` picks a high
one and trims between phases instead.

Last line, one object: ``{"benchmark": "heap_threshold", "results": {threshold: {...}},
"default_vs_helpers": wall ratio}``.
Run: ``python benchmarks/heap_threshold.py [--steps 3] [--thresholds none,1048576,...]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

_STEP = """
import json, resource, sys, time
threshold = sys.argv[1]
if threshold != "none":
    from helpers.heap import return_freed_memory
    return_freed_memory(int(threshold))
import torch
from helpers.models import ActionMoEConfig, ActionMoEDynamicModel
torch.manual_seed(0)
model = ActionMoEDynamicModel(ActionMoEConfig.full(51, pretrained=False))
opt = torch.optim.AdamW(model.parameters(), 1e-4)
video, labels = torch.randn(2, 3, 16, 112, 112), torch.tensor([1, 2])
def step():
    for _ in range(2):
        out = model(video)
        (torch.nn.functional.cross_entropy(out.logits, labels) + out.aux_loss).backward()
    opt.step()
    opt.zero_grad()
step()
before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range(int(sys.argv[2])):
    step()
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall_s": round(time.perf_counter() - start, 2), "user_s": round(after.ru_utime - before.ru_utime, 2),
                  "system_s": round(after.ru_stime - before.ru_stime, 2), "peak_gb": round(after.ru_maxrss / 2**20, 2)}))
"""


def main() -> int:
    from helpers.heap import DEFAULT_THRESHOLD

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--thresholds", default=f"none,{1 << 20},{32 << 20},{DEFAULT_THRESHOLD}",
                   help="comma-separated bytes; 'none' = glibc's dynamic default")
    args = p.parse_args()
    results = {}
    for t in args.thresholds.split(","):
        out = subprocess.run([sys.executable, "-c", _STEP, t, str(args.steps)], capture_output=True, text=True,
                             check=True)
        results[t] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"threshold {t:>10}: {results[t]}", flush=True)
    ratio = None
    if "none" in results and str(DEFAULT_THRESHOLD) in results:
        ratio = round(results["none"]["wall_s"] / results[str(DEFAULT_THRESHOLD)]["wall_s"], 3)
    print(json.dumps({"benchmark": "heap_threshold", "steps": args.steps, "results": results,
                      "default_vs_helpers": ratio}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
