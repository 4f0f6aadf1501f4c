"""Task affinity: which tasks help each other, measured in one joint training (TAG), and the task
partitions that follow from it."""

from mtl.affinity.lookahead import Affinity, AffinitySettings, task_affinity
from mtl.affinity.partitions import candidate_partitions, partition_score

__all__ = ["Affinity", "AffinitySettings", "candidate_partitions", "partition_score", "task_affinity"]
