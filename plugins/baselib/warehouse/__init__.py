"""The PostgreSQL warehouse: connections, SQL files, DDL, embedded server for laptops."""
