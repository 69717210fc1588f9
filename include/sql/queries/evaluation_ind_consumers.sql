-- Consumer systems recorded in the warehouse with their departments (统一社会信用代码).
SELECT consumer_code, department_code, department_name FROM sharing.consumer ORDER BY consumer_code;
