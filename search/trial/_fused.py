"""Several seeds of one configuration trained side by side (:func:`mtl.fused.train_fused`), logged as
one MLflow run per seed, exactly as :func:`search.trial.run_trial` logs each of them alone.

Each seed's run is started before training (the UI shows them running), and gets its per-epoch
metrics (replayed from its copy's history, cut where the copy stopped), its datasets, final
metrics, learning curves (where the context draws them) and Logged Model once the fused ``fit`` ends. A failure or an interruption
ends every run as ``run_trial`` would end one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import keras

from mtl.fused import train_fused
from search.signals import PreemptionGuard, signals_deferred
from search.space import Suggest, sample
from search.trial._run import TrialContext, TrialOutcome, close_run, end_runs_after, log_trained, start_run, train_config_for
from search.trial._warm import warm_start


def run_fused(ctx: TrialContext, numbers: Sequence[int], suggest: Suggest, kind: str,
              tags: Sequence[Mapping[str, object]], run_names: Sequence[str],
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> list[TrialOutcome]:
    """Train trial ``numbers`` (one configuration, seeds ``space seed + number``) side by side; one run each.

    ``callbacks`` run during the training (a progress bar, say). Check :func:`why_not_fused` first.
    Raises :class:`~mtl.errors.TrialFailed` if any copy diverges (every run then ends FAILED; the caller
    may train the seeds one by one).
    """
    tasks = ctx.splits.tasks
    sampled = sample(ctx.space, tasks, suggest)
    configs = [train_config_for(ctx, sampled, number) for number in numbers]
    run_ids: list[str] = []
    try:  # from here on an interruption or failure ends every run started
        for number, tag, name in zip(numbers, tags, run_names, strict=True):
            run_ids.append(start_run(ctx, number, sampled, kind, tag, name))
        for run_id in run_ids:
            ctx.write(partial(ctx.tracker.log_datasets, run_id, ctx.splits, ctx.space.data.source))
        with signals_deferred():  # a Ctrl-C or SIGTERM stops training between batches, never inside TensorFlow's C++
            results = train_fused(sampled.model, ctx.splits, configs[0], [c.seed for c in configs], ctx.space.objective,
                                  callbacks=[PreemptionGuard(), *callbacks],
                                  warm=warm_start(ctx.space, ctx.sources, sampled.freeze))
    except BaseException as exc:
        stop = end_runs_after(ctx, run_ids, exc)
        if stop is not exc:
            raise stop from exc
        raise
    outcomes = []
    for number, run_id, result in zip(numbers, run_ids, results, strict=True):
        log_trained(ctx, run_id, result)
        ctx.write(partial(close_run, ctx, run_id, result, "COMPLETE", ctx.draws_curves(number)))
        outcomes.append(TrialOutcome(result, sampled))
    return outcomes
