-- The consumer and whether it is still declared (active).
SELECT consumer_code, active FROM sharing.consumer WHERE consumer_code = %(consumer_code)s
