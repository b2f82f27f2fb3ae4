"""Cross-cutting pieces every stage shares: params, atomic writes, exit codes, MLflow tracking."""
