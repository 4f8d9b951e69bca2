-- How a service runs beyond image, ports and volumes (command, entrypoint, working directory,
-- user, health check, restart policy, dependencies, limits, replicas, pull policy), as one JSON
-- object. Rows from before read '{}', which means every default.
ALTER TABLE services ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
