"""search: the mtl-search harness (space files, Optuna studies, MLflow tracking, CLI)."""
