"""Sharing control (共享管理): consumers and their login roles, sharing applications and decisions
measured in working days, grants derived from approved applications as per-consumer views, measured
use, and data objections (数据异议).

Modules: ``policy`` (time limits and the working-day calendar, include/sharing/policy.yaml),
``consumers`` (include/sharing/consumers.yaml -> LOGIN roles), ``applications``, ``grants``
(per-consumer views and the reconcile), ``usage`` (pg_stat_statements -> evaluation.sharing_usage),
``objections``, ``audit`` (sharing.grant_change) and ``cli``."""
