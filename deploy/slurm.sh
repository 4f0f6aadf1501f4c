#!/usr/bin/env bash
# Slurm job array: 4 workers share study "nightly" (rendered by `python -m search deploy slurm`).
# Set MTL_STORAGE and MLFLOW_TRACKING_URI in the environment you submit from (sbatch exports it).
#SBATCH --job-name=mtl-search-nightly
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --signal=TERM@120
set -euo pipefail
srun python -m search worker --study nightly
