-- Shared schemas. Every statement is idempotent: the engine applies this file on each run.
CREATE SCHEMA IF NOT EXISTS catalog;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS evaluation;
