"""The sequential design's error rates and power, by simulation of the shipped race and verdict.

Run by hand: ``python benchmarks/racing.py [--reps 10000]``. Each repetition scores A arms on K = 10
seeds (:func:`search.compare.simulated_arms`: a seed effect every arm shares, per-arm
noise of the same size, 2 tasks) and runs :func:`search.compare.decide` exactly as a comparison
does, arm0 the reference, fused racing's one look after 5 seeds (or no race). Under the global null
(every arm equal) it counts any drop or any verdict other than "no detectable difference" (the
family-wise error the design claims to keep at alpha = 0.05); with planted effects it counts the
power: one arm worse by ``d`` seed-noise standard deviations dropped by the race, and one arm
better by ``d`` found better on the mean objective. Prints the table with 95% Clopper-Pearson
intervals and writes ``benchmarks/results/racing.json``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from common import RESULTS
from scipy import stats

from search.compare import any_claim, decide, race_looks, simulated_arms

SEEDS = tuple(range(10))
TASKS = ("task1", "task2")


def rate(hits: int, reps: int) -> str:
    """``4.1% (3.7-4.5)``: the rate with its 95% Clopper-Pearson interval."""
    ci = stats.binomtest(hits, reps).proportion_ci(0.95)
    return f"{100 * hits / reps:.1f}% ({100 * ci.low:.1f}-{100 * ci.high:.1f})"


def main() -> None:
    """The null rates for 2, 3, 4 and 6 arms, with and without racing, then the power at planted effects."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, float]] = {}
    print(f"global null, {args.reps} repetitions each: P(any drop or any verdict)")
    for racing in (True, False):
        looks = race_looks(len(SEEDS), fuse=True) if racing else ()
        for count in (2, 3, 4, 6):
            hits = sum(any_claim(decide(simulated_arms(rng, count, SEEDS, TASKS), SEEDS, "arm0", TASKS, 0.05, True, looks))
                       for _ in range(args.reps))
            results[f"null/{count} arms/racing {racing}"] = {"hits": hits, "reps": args.reps}
            print(f"  {count} arms, racing {'on ' if racing else 'off'}: {rate(hits, args.reps)}", flush=True)
    print(f"planted effects (4 arms, {args.reps // 4} repetitions each): arm2 worse by d, arm3 better by d")
    for d in (1.0, 1.5, 2.0, 3.0):
        for racing in (True, False):
            looks = race_looks(len(SEEDS), fuse=True) if racing else ()
            dropped = better = 0
            reps = args.reps // 4
            for _ in range(reps):
                verdict = decide(simulated_arms(rng, 4, SEEDS, TASKS, {2: d, 3: -d}), SEEDS, "arm0", TASKS, 0.05, True, looks)
                dropped += any(x.arm == "arm2" for x in verdict.dropped)
                better += any(c.arm == "arm3" and c.target == "objective" and c.word == "better" for c in verdict.comparisons)
            results[f"planted/d {d}/racing {racing}"] = {"dropped": dropped, "better": better, "reps": reps}
            print(f"  d = {d}, racing {'on ' if racing else 'off'}: worse arm dropped {rate(dropped, reps)}, "
                  f"better arm found {rate(better, reps)}", flush=True)
    (RESULTS / "racing.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
