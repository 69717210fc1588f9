"""Run records (ops.load_run) and evaluation sync metrics (evaluation.sync_metrics)."""
