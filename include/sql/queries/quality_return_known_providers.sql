-- Every provider of the published catalog: code and name.
SELECT provider_code, min(provider_name) AS provider_name
FROM catalog.resource
GROUP BY provider_code
ORDER BY provider_code;
