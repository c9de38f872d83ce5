"""Stage train: fit an architecture on train, keep the best epoch on val, log to MLflow."""
