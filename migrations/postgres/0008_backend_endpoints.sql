-- More URLs of the same server (its replicas), besides url, as a JSON array
-- of strings; data planes balance calls over all of them.
ALTER TABLE backends ADD COLUMN endpoints_json TEXT NOT NULL DEFAULT '[]';
