-- The one user who may see an audit entry, when it names a private deployment (its own, its
-- services' or its variables'): that deployment's owner. NULL for entries every reader sees.
ALTER TABLE audit_log ADD COLUMN private_to TEXT;
