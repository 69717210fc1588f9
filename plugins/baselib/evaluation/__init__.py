"""Evaluation (共享评价): indicators per department and period, their publication to the evaluation
system, and the yearly sharing report. Configuration: include/evaluation/indicators.yaml."""
