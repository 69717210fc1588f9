"""Quality for quality officers: GB/T 36344-2018 dimension scores per run and per provider, the
trend page per resource, and returns of rejected rows to their providers (数据回退).
Configuration: include/quality/scoring.yaml."""
