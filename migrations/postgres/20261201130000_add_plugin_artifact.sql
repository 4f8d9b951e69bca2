-- SHA-256 (hex) of the precompiled artifact the server wrote for the installed build: a cached
-- artifact is deserialized only when its bytes have this digest. NULL until one is written.
ALTER TABLE plugins ADD COLUMN artifact_sha256 TEXT;
