"""Task affinity: which tasks help each other, measured in one joint training (TAG), and the task
partitions that follow from it."""

from mtl.affinity.lookahead import Affinity, AffinitySettings, task_affinity
from mtl.affinity.partitions import candidate_partitions, partition_score
from mtl.affinity.uncertainty import CANNOT_TELL, Proposal, matrix_spread, propose

__all__ = ["CANNOT_TELL", "Affinity", "AffinitySettings", "Proposal", "candidate_partitions", "matrix_spread", "partition_score",
           "propose", "task_affinity"]
