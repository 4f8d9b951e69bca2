-- What an operation ran, for history and rollback: the deployment's spec as the runtime got it
-- (JSON, never a secret value; after an apply each image is pinned to its digest or image id),
-- the target it ran on, whether a destroy removes named volumes, and the apply a rollback
-- brings back.
ALTER TABLE operations ADD COLUMN spec TEXT;
ALTER TABLE operations ADD COLUMN target_id TEXT REFERENCES targets (id) ON DELETE SET NULL;
ALTER TABLE operations ADD COLUMN remove_volumes BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE operations ADD COLUMN rollback_of TEXT REFERENCES operations (id) ON DELETE SET NULL;
