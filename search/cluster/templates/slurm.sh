#!/usr/bin/env bash
# Slurm job array: $workers workers share study "$study" (rendered by `python -m search deploy slurm`).
# Set MTL_STORAGE and MLFLOW_TRACKING_URI in the environment you submit from (sbatch exports it).
#SBATCH --job-name=mtl-search-$study
#SBATCH --array=0-$last_index
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --signal=TERM@120
set -euo pipefail
srun $command_shell
