-- The registry. Every write runs in one transaction that bumps
-- config_state.version and stamps the rows it touches with that version, so a
-- data plane at version V needs exactly the rows and tombstones newer than V.

CREATE TABLE config_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    -- Random per database: a node holding another epoch gets a full snapshot.
    epoch TEXT NOT NULL,
    tool_name_separator TEXT NOT NULL,
    settings_version BIGINT NOT NULL
);

CREATE TABLE backends (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    transport TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    protocol_version TEXT NOT NULL,
    server_name TEXT NOT NULL,
    server_version TEXT NOT NULL,
    -- Sealed (AEAD) credentials for reaching the backend; NULL when none.
    auth_sealed BYTEA,
    created_at_ms BIGINT NOT NULL,
    config_version BIGINT NOT NULL
);

CREATE TABLE tools (
    id TEXT PRIMARY KEY,
    backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    -- Order in which the backend listed the tool.
    position BIGINT NOT NULL,
    description TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    config_version BIGINT NOT NULL,
    UNIQUE (backend_id, name)
);

CREATE INDEX tools_config_version ON tools (config_version);
CREATE INDEX backends_config_version ON backends (config_version);

-- What was removed, and at which version, so reconnecting nodes learn of it.
CREATE TABLE tombstones (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    config_version BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
