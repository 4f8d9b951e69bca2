-- An install's admin settings, a JSON object validated against the plugin's config schema
-- before it is stored (and again when the plugin is upgraded); `{}` until an admin sets them.
ALTER TABLE plugins ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
