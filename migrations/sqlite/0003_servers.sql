-- Virtual servers: named sets of catalog items, each member exposed under the
-- gateway's usual name, the backend's own name, or a rename.
CREATE TABLE servers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    config_version BIGINT NOT NULL
);

CREATE TABLE server_members (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    -- A member whose item is gone is skipped by data planes; the row stays
    -- until the server is updated, so rediscovery brings it back.
    item_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    keep_original_name BOOLEAN NOT NULL,
    -- NULL: no rename.
    rename TEXT,
    PRIMARY KEY (server_id, item_id)
);

CREATE INDEX servers_config_version ON servers (config_version);
