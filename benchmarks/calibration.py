"""Calibration of the verdict: its false-positive rate on A/A comparisons, and its power on a planted effect.

Run by hand: ``python benchmarks/calibration.py [--reps 30] [--seeds K]`` (K: the default space's
``[compare] seeds``). It calibrates the test the verdict makes (:mod:`mtl.stats`: paired t-test per
task and on the mean objective, Holm across them, alpha 0.05) on real training noise of the default space's data (``spaces/default.toml``):

- **A/A**: both arms train the same configuration (a ``hard`` network of medium size); each
  repetition gives the arm and the reference K fresh seeds of their own, paired by index. Any
  verdict other than "no detectable difference" on any target is a false positive.
  (In a real comparison arms share their seeds; giving them different ones makes the noise real,
  so this is the harder case for the test.)
- **Planted effects**: the A/A arm's scores made worse by a known amount, ``(1 + d)`` times each
  task's score for ``d`` = 5%, 10% and 20%, so the effect is exactly known and the noise is the
  real training noise; detection is the verdict naming the arm ``worse`` on the mean objective.
  The goal (80% power) is read at 20%, an effect of about two seed-to-seed standard deviations of
  one network's test objective on this data; the README also says which K reaches it at 10%.
- **Sharing** (a real, moderate effect of unknown size): ``independent`` networks of the same
  sizes against the shared reference; detection is the verdict naming them ``worse`` on the mean
  objective. This is the power a user has on the default data's own effect.

Trainings use :func:`mtl.fused.train_fused` directly (no tracking): the seeds of a pool or an arm train stacked,
10 at a time, each copy its lone training to float rounding (the configurations use no dropout). Prints both rates with 95%
Clopper-Pearson intervals and writes ``benchmarks/results/calibration.json``. Goal: false
positives at most 5%, power at least 80%.

``--pool N`` estimates the same rates for several numbers of seeds at once, by resampling: it
trains N seeds of the reference configuration and N of the separate networks once, then draws
``--resamples`` comparisons for each K of ``--sizes`` (default 3, 6, 10, 15, 20; 2K <= N): the
reference and the A/A twin are two disjoint random K-subsets of the reference pool (an A/A split),
the separate arm a random K-subset of its pool, paired by draw order. The rates are those of the
verdict's test under the training noise the pool shows (a bootstrap power analysis; the intervals
are of the resampling only, not of the pool's own sampling); the README reads the K needed for 80%
power off them. Writes ``benchmarks/results/calibration-pool.json`` and ``.png``.

``--protocol`` calibrates the pipeline as it ships instead: every repetition is a whole comparison
as a user runs it (tuning every arm with TPE, stacked fused confirmation, racing, the verdict), on
the default space's data, training and search ranges, with ``--trials`` per arm and ``--seeds``
confirmation seeds, a study seed of its own per repetition (so its own split, tuning and seeds),
in throwaway stores. Cases: **null**, three arms of one design (``hard``) that differ only in their
random streams (``[compare.arms.<name>] stream``, the calibration aid): any drop or any verdict is a
false positive about the designs, though the two tunings end with different configurations; **fixed**, two arms that
both hold one configuration (every searched setting fixed, ``FIXED``) and differ in their streams: tuning picks the
same configuration in both, so any drop or verdict is a false positive about the configurations too (the null of a
claim at R = 1); **sharing**, ``independent`` (the reference) against ``hard``: a real effect, whose
size the repetitions estimate, and the power to find it on the mean objective; **planted**, two arms of
``hard`` that differ in their streams, arm ``b``'s test scores read ``--planted`` (default 20%) worse
(``[compare.arms.<name>] planted``, the second calibration aid), so its true effect is known exactly:
the power is the share of comparisons that name ``b`` worse on the mean objective or drop it. ``--fuse`` and
``--racing`` switch those settings, ``--replicates`` sets ``[compare] replicates`` (from 2 the claims are
about designs), ``--arms`` the null case's number of arms, and ``--first`` the first repetition's index
(so two processes can run disjoint repetitions). Writes ``benchmarks/results/calibration-protocol-<case>[-<settings>].json``
after every repetition.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from mtl.data import make_synthetic, split  # noqa: E402
from mtl.fused import train_fused  # noqa: E402
from mtl.models import ModelConfig  # noqa: E402
from mtl.objective import Objective  # noqa: E402
from mtl.stats import NO_DIFFERENCE, WORSE, holm, paired, verdict  # noqa: E402
from mtl.training import TrainConfig  # noqa: E402
from search.compare import any_claim, conclude  # noqa: E402
from search.engines import open_sweep, tune_sweep  # noqa: E402
from search.space import Space  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ALPHA = 0.05
REFERENCE = ModelConfig("hard", shared_depth=2, shared_width=32, tower_depth=1, tower_width=16)
PLANTED = (0.05, 0.10, 0.20)  # relative effects added to the A/A arm's scores
GOAL_EFFECT = 0.20
STACK = 10  # seeds trained side by side at a time
# the fixed case's one configuration (REFERENCE's sizes, the default space's middle settings), held by both arms
FIXED = {"strategy": "hard", "shared_depth": 2, "shared_width": 32, "tower_depth": 1, "tower_width": 16, "loss_weight": 1.0,
         "learning_rate": 0.003, "batch_size": 32, "dropout": 0.1}
NULLS = ("null", "fixed")  # the cases where any claim is a false positive
SEPARATE = ModelConfig("independent", shared_depth=2, shared_width=32, tower_depth=1, tower_width=16)


def scores(config: ModelConfig, splits, seeds: range, epochs: int, patience: int) -> list[dict[str, float]]:
    """Test score per task (normalized loss) and their mean, for one training per seed: the seeds train stacked,
    10 at a time (:func:`mtl.fused.train_fused`; every copy is its lone training, to float rounding)."""
    objective = Objective()
    settings = TrainConfig(learning_rate=3e-3, batch_size=32, epochs=epochs, patience=patience)
    out = []
    for start in range(0, len(seeds), STACK):
        for result in train_fused(config, splits, settings, list(seeds[start:start + STACK]), objective):
            per_task = objective.task_scores(result.test, splits.tasks)
            out.append(per_task | {"objective": sum(per_task.values()) / len(per_task)})
    return out


def words(arm: list[dict[str, float]], reference: list[dict[str, float]]) -> dict[str, str]:
    """The verdict word per target for one comparison (Holm across the targets)."""
    targets = list(reference[0])
    differences = [paired([a[t] for a in arm], [r[t] for r in reference]) for t in targets]
    adjusted = holm([d.p for d in differences])
    return {t: verdict(d, p, ALPHA, minimize=True) for t, d, p in zip(targets, differences, adjusted, strict=True)}


def shifted(arm: list[dict[str, float]], effect: float) -> list[dict[str, float]]:
    """The arm's scores made worse by ``effect`` (relative): every task's score and hence their mean times (1 + effect)."""
    return [{t: v * (1.0 + effect) for t, v in s.items()} for s in arm]


def rate(hits: int, n: int) -> dict[str, float]:
    """A proportion with its 95% Clopper-Pearson interval."""
    interval = stats.binomtest(hits, n).proportion_ci(0.95)
    return {"hits": hits, "n": n, "rate": hits / n, "low": interval.low, "high": interval.high}


def pooled(splits, epochs: int, patience: int, pool: int, resamples: int, sizes: list[int]) -> None:
    """Train the two pools once, then resample comparisons of every size; print and save the rates."""
    started = time.perf_counter()
    reference = scores(REFERENCE, splits, range(200_000, 200_000 + pool), epochs, patience)
    separate = scores(SEPARATE, splits, range(300_000, 300_000 + pool), epochs, patience)
    trained = time.perf_counter() - started
    print(f"pools of {pool} trained in {trained:.0f} s; resampling", flush=True)
    rng = np.random.default_rng(0)
    result: dict[str, object] = {"pool": pool, "resamples": resamples, "alpha": ALPHA, "train_seconds": trained,
                                 "reference": REFERENCE.__dict__, "separate": SEPARATE.__dict__, "sizes": {}}
    rows = []
    for k in sizes:
        fp = sharing = 0
        found = dict.fromkeys(PLANTED, 0)
        for _ in range(resamples):
            order = rng.permutation(pool)
            ref, twin = [reference[i] for i in order[:k]], [reference[i] for i in order[k:2 * k]]
            other = [separate[i] for i in rng.permutation(pool)[:k]]
            fp += any(w != NO_DIFFERENCE for w in words(twin, ref).values())
            for d in PLANTED:
                found[d] += words(shifted(twin, d), ref)["objective"] == WORSE
            sharing += words(other, ref)["objective"] == WORSE
        entry = {"false_positive": rate(fp, resamples), "power": {f"{d:.2f}": rate(h, resamples) for d, h in found.items()},
                 "power_sharing": rate(sharing, resamples)}
        result["sizes"][str(k)] = entry  # type: ignore[index]
        rows.append((k, fp / resamples, *(found[d] / resamples for d in PLANTED), sharing / resamples))
        print(f"K = {k:>2}: A/A false positives {fp / resamples:.1%}; power at "
              + ", ".join(f"{d:.0%}: {found[d] / resamples:.0%}" for d in PLANTED)
              + f"; separate networks {sharing / resamples:.0%}", flush=True)
    spread = np.std([r["objective"] for r in reference], ddof=1) / np.mean([r["objective"] for r in reference])
    result["objective_cv"] = float(spread)
    print(f"seed-to-seed spread of the reference's test objective: {spread:.1%} of its mean", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "calibration-pool.json").write_text(json.dumps(result, indent=1))
    figure, ax = plt.subplots(figsize=(7, 4.5))
    ks = [r[0] for r in rows]
    ax.plot(ks, [r[1] for r in rows], "k--o", label="A/A false positives")
    for j, d in enumerate(PLANTED):
        ax.plot(ks, [r[2 + j] for r in rows], "-o", label=f"power, planted {d:.0%} worse")
    ax.plot(ks, [r[-1] for r in rows], "-s", label="power, separate networks")
    ax.axhline(0.8, color="grey", lw=0.8)
    ax.axhline(ALPHA, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("confirmation seeds per arm (K)")
    ax.set_ylabel("rate over resampled comparisons")
    ax.set_ylim(0, 1)
    ax.set_title(f"Verdict calibration by resampling ({pool} seeds per pool, {resamples} draws per K)")
    ax.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(RESULTS / "calibration-pool.png", dpi=120)


@dataclass(frozen=True)
class Protocol:
    """The comparison settings every repetition of a protocol calibration uses."""

    trials: int = 2
    seeds: int = 10
    fuse: bool = True
    racing: bool = True
    replicates: int = 1
    arms: int = 3  # null case: how many arms of one design
    planted: float = 0.2  # planted case: how much worse arm b's scores are read (relative)

    def name(self, case: str) -> str:
        """The results file's stem: the case, then every setting that differs from the pilot's."""
        changed = [f"{key}{value:d}" for key, value in (("fuse", self.fuse), ("racing", self.racing)) if not value]
        changed += [f"r{self.replicates}"] if self.replicates > 1 else []
        changed += [f"arms{self.arms}"] if case == "null" and self.arms != 3 else []
        changed += [f"{self.planted:.0%}".replace("%", "pct")] if case == "planted" else []
        return "-".join([f"calibration-protocol-{case}", *changed])


def protocol_space(case: str, rep: int, settings: Protocol) -> Space:
    """Repetition ``rep`` of a ``case`` (null / sharing): the default space's data, training and search, its own study seed."""
    doc = tomllib.loads((ROOT / "spaces" / "default.toml").read_text())
    doc["study"] |= {"name": f"calibration-{case}-{rep}", "trials": settings.trials, "seed": 5000 + rep}
    if case == "null":
        arms = {chr(ord("a") + i): {"strategy": "hard"} | ({"stream": i} if i else {}) for i in range(settings.arms)}
    elif case == "fixed":
        arms = {"a": FIXED, "b": FIXED | {"stream": 1}}
    elif case == "planted":
        arms = {"a": {"strategy": "hard"}, "b": {"strategy": "hard", "stream": 1, "planted": settings.planted}}
    else:
        arms = {"independent": {"strategy": "independent"}, "hard": {"strategy": "hard"}}
    doc["compare"] = {"reference": next(iter(arms)), "seeds": settings.seeds, "fuse": settings.fuse,
                      "racing": settings.racing, "replicates": settings.replicates, "arms": arms}
    return Space.from_dict(doc, f"calibration-{case}")


def protocol(case: str, reps: int, settings: Protocol, first: int = 0) -> None:
    """Run ``reps`` whole comparisons of ``case`` from repetition ``first`` on (another process can run other
    repetitions beside it: each writes its own file); print each verdict's outcome and the running rates."""
    name = settings.name(case) + (f"-from{first}" if first else "")
    started, outcomes = time.perf_counter(), []
    for rep in range(first, first + reps):
        space = protocol_space(case, rep, settings)
        with tempfile.TemporaryDirectory() as folder:
            stores = {"storage": f"sqlite:///{folder}/optuna.db", "tracking_uri": f"sqlite:///{folder}/mlflow.db"}
            sweep = open_sweep(space, **stores, printer=lambda line: None)
            tune_sweep(sweep, printer=lambda line: None)
            verdict = conclude(sweep, printer=lambda line: None)
        objective = next(c for c in verdict.comparisons if c.target == "objective" and c.reference == verdict.reference)
        outcome = {"claim": any_claim(verdict), "dropped": [d.arm for d in verdict.dropped],
                   "words": {f"{c.arm}/{c.target}": c.word for c in verdict.comparisons},
                   "difference": objective.difference.mean, "relative": objective.difference.relative(objective.difference.mean),
                   "found": (objective.word == ("worse" if case == "planted" else "better")
                             or objective.arm in {d.arm for d in verdict.dropped}),
                   "components": asdict(objective.components) if objective.components else None}
        outcomes.append(outcome)
        hits = sum(o["claim"] for o in outcomes) if case in NULLS else sum(o["found"] for o in outcomes)
        what = {"null": "false positives", "fixed": "false positives", "sharing": "hard found better on the objective",
                "planted": "b found worse on the objective (or dropped)"}[case]
        print(f"rep {rep + 1}/{first + reps}: {'claim' if outcome['claim'] else 'none'} {outcome['dropped'] or ''} | {what} "
              f"{hits}/{len(outcomes)} | {time.perf_counter() - started:.0f} s", flush=True)
        summary = {"case": case, **asdict(settings), "batch": space.study.batch, "alpha": ALPHA,
                   "seconds": time.perf_counter() - started, "rate": rate(hits, len(outcomes)), "outcomes": outcomes}
        if case not in NULLS:
            summary["mean_relative_effect_pct"] = float(np.mean([o["relative"] for o in outcomes]))
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=1))
    r = summary["rate"]
    print(f"{case}: {r['hits']}/{r['n']} = {r['rate']:.1%} (95% CI {r['low']:.1%} to {r['high']:.1%})"
          + (f"; mean effect {summary['mean_relative_effect_pct']:.1f}% of the reference's objective" if case not in NULLS else ""))


def main() -> None:
    """Run the A/A and planted-effect repetitions (or the pooled resampling, or the whole protocol); print and save the rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="A/A repetitions (planted: the same number)")
    parser.add_argument("--seeds", type=int, help="seeds per arm in one comparison (default: the space's [compare] seeds)")
    parser.add_argument("--pool", type=int, help="resample from pools of this many seeds instead (see the docstring)")
    parser.add_argument("--resamples", type=int, default=2000, help="comparisons drawn per size with --pool")
    parser.add_argument("--sizes", default="3,6,10,15,20", help="seeds per arm to resample with --pool (2K <= pool)")
    parser.add_argument("--protocol", choices=("null", "fixed", "sharing", "planted"),
                        help="run whole comparisons of this case (see the docstring)")
    parser.add_argument("--trials", type=int, default=2, help="tuning trials per arm with --protocol")
    parser.add_argument("--fuse", type=int, choices=(0, 1), default=1, help="[compare] fuse with --protocol")
    parser.add_argument("--racing", type=int, choices=(0, 1), default=1, help="[compare] racing with --protocol")
    parser.add_argument("--replicates", type=int, default=1, help="[compare] replicates with --protocol")
    parser.add_argument("--arms", type=int, default=3, help="arms of one design in the null case with --protocol")
    parser.add_argument("--first", type=int, default=0, help="the first repetition's index with --protocol")
    parser.add_argument("--planted", type=float, default=0.2, help="the planted case's relative effect with --protocol")
    args = parser.parse_args()
    if args.protocol:
        protocol(args.protocol, args.reps, Protocol(args.trials, args.seeds or 10, bool(args.fuse), bool(args.racing),
                                                    args.replicates, args.arms, args.planted), args.first)
        return
    doc = tomllib.loads((ROOT / "spaces" / "default.toml").read_text())
    args.seeds = args.seeds or doc["compare"]["seeds"]
    seed = doc["study"].get("seed", 0)
    splits = split(make_synthetic(**doc["data"]["options"], seed=seed), doc["data"]["val_fraction"], doc["data"]["test_fraction"],
                   seed=seed)
    epochs, patience = doc["training"]["epochs"], doc["training"]["patience"]
    if args.pool:
        sizes = [int(k) for k in args.sizes.split(",")]
        if 2 * max(sizes) > args.pool:
            parser.error(f"--sizes up to {max(sizes)} need --pool >= {2 * max(sizes)}")
        pooled(splits, epochs, patience, args.pool, args.resamples, sizes)
        return
    started = time.perf_counter()
    false_positives = sharing = 0
    detections = dict.fromkeys(PLANTED, 0)
    for rep in range(args.reps):
        base = 100_000 + rep * 3 * args.seeds
        reference = scores(REFERENCE, splits, range(base, base + args.seeds), epochs, patience)
        twin = scores(REFERENCE, splits, range(base + args.seeds, base + 2 * args.seeds), epochs, patience)
        separate = scores(SEPARATE, splits, range(base + 2 * args.seeds, base + 3 * args.seeds), epochs, patience)
        aa, shared = words(twin, reference), words(separate, reference)
        false_positives += any(w != NO_DIFFERENCE for w in aa.values())
        found = {d: words(shifted(twin, d), reference)["objective"] == WORSE for d in PLANTED}
        for d, hit in found.items():
            detections[d] += hit
        sharing += shared["objective"] == WORSE
        print(f"rep {rep + 1}/{args.reps}: A/A {'FALSE POSITIVE ' + str(aa) if any(w != NO_DIFFERENCE for w in aa.values()) else 'ok'}; "
              f"planted found at {[f'{d:.0%}' for d, hit in found.items() if hit]}; separate networks {shared['objective']} | "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    result = {"reps": args.reps, "seeds": args.seeds, "alpha": ALPHA, "seconds": time.perf_counter() - started,
              "false_positive": rate(false_positives, args.reps),
              "power": {f"{d:.2f}": rate(hits, args.reps) for d, hits in detections.items()}, "goal_effect": GOAL_EFFECT,
              "power_sharing": rate(sharing, args.reps), "reference": REFERENCE.__dict__, "separate": SEPARATE.__dict__}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "calibration.json").write_text(json.dumps(result, indent=1))
    fp, real = result["false_positive"], result["power_sharing"]
    curve = "; ".join(f"{float(d):.0%}: {r['hits']}/{r['n']} = {r['rate']:.0%} (95% CI {r['low']:.0%} to {r['high']:.0%})"
                      for d, r in result["power"].items())
    print(f"A/A false positives {fp['hits']}/{fp['n']} = {fp['rate']:.1%} (95% CI {fp['low']:.1%} to {fp['high']:.1%}); "
          f"power on planted effects {curve}; on sharing's own effect {real['hits']}/{real['n']} = "
          f"{real['rate']:.1%} (95% CI {real['low']:.1%} to {real['high']:.1%}); {result['seconds']:.0f} s")


if __name__ == "__main__":
    main()
