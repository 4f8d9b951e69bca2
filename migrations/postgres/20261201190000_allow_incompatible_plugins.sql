-- A plugin may be `incompatible`: built for an interface version this Komander does not run
-- (a runtime of komander:runtime@0.1), found so at start; it runs again once upgraded.
ALTER TABLE plugins DROP CONSTRAINT plugins_status_check;
ALTER TABLE plugins ADD CONSTRAINT plugins_status_check
    CHECK (status IN ('pending-grant', 'enabled', 'disabled', 'incompatible'));
