-- What the health checks last found about a backend (JSON), written without
-- a config version: data planes need none of it.
ALTER TABLE backends ADD COLUMN health_json TEXT NOT NULL DEFAULT '{}';
