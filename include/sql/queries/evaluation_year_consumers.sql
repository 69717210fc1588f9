-- The yearly sharing report: the consumer systems (共享使用方) registered on the platform.
SELECT consumer_code, consumer_name, department_code, department_name, active, declared_at
FROM sharing.consumer
ORDER BY department_code, consumer_code
