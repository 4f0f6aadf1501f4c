"""Task affinity in the harness: the TAG pass on a space's data, logged to MLflow (``python -m search
affinity``), and the ``groups = "auto"`` candidates it gives a sweep."""

from search.affinity._pass import (
    AFFINITY_KIND,
    CANDIDATES_ATTR,
    SCORES_ATTR,
    AffinityRun,
    StoredAffinity,
    latest_affinity,
    run_affinity,
)
from search.affinity._plot import affinity_figure
from search.affinity._resolve import enqueue_candidates, ranked_candidates, resolve_groups

__all__ = ["AFFINITY_KIND", "CANDIDATES_ATTR", "SCORES_ATTR", "AffinityRun", "StoredAffinity", "affinity_figure",
           "enqueue_candidates", "latest_affinity", "ranked_candidates", "resolve_groups", "run_affinity"]
