-- Runs once, when the postgres volume is first created (/docker-entrypoint-initdb.d/).
-- One database per service: no service reads another's tables.
-- The services create their own tables with Alembic migrations at start.
CREATE DATABASE roadmap;
CREATE DATABASE commitments;
