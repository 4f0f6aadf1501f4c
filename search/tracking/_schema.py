"""The stored names: MLflow run kinds and tags, and the Optuna user attributes that point into MLflow.

One place for every name the harness writes and reads back, so a writer and its readers cannot drift.
Run kinds are the values of a run's ``kind`` tag. (The affinity kind and the affinity pass's study
attributes still live beside their writer, ``search.affinity``.)
"""

from __future__ import annotations

# run kinds: the ``kind`` tag of a run
BASELINE_KIND = "baseline"  # a single-task baseline (search.trial)
REPEAT_KIND = "repeat"  # a repeat of the best trial with another weight seed
CONFIRM_KIND = "confirmation"  # a comparison's confirmation seed (search.compare)

# MLflow tags
PARENT_TAG = "mlflow.parentRunId"  # nesting, by explicit id so it works across processes
EXPERIMENT_KIND_TAG, MODEL_DEVELOPMENT = "mlflow.experimentKind", "custom_model_development"  # MLflow's own experiment tag
OWNER_TAG, HEARTBEAT_TAG = "owner", "heartbeat"  # the process that owns a run, and its last sign of life
NOTE_TAG = "mlflow.note.content"  # a run's description in the MLflow UI (the verdict's sentences on a comparison's parent)

# Optuna user attributes: a study's
SPACE_ATTR, FINGERPRINT_ATTR, PARENT_ATTR = "space_toml", "space_fingerprint", "mlflow_parent_run_id"
BUDGET_ATTR = "trials"  # the study-wide budget given when it was created
ARMS_ATTR = "arms"  # the host study of a comparison: its arm names, in order
# ... and a trial's
RUN_ID_ATTR = "mlflow_run_id"
WORKER_ATTR = "worker"  # host:pid of the process that ran the trial
FAIL_ATTR = "fail_reason"
MEAN_ATTR = "objective"
STEP_MS_ATTR = "step_ms"  # the trial's typical training step time (mtl.training.typical_step_ms)
