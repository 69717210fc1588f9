-- Which of the tables `quality scores --provider` reads exist (a fresh warehouse has none; reading
-- must not create them). No parameters.
SELECT to_regclass('catalog.resource') IS NOT NULL AS has_catalog,
       to_regclass('evaluation.quality_score') IS NOT NULL AND to_regclass('ops.load_run') IS NOT NULL
           AND to_regclass('ops.file_delivery') IS NOT NULL AS has_scores
