-- Tools become one kind of catalog item, beside prompts, resources and
-- resource templates: one table, one sync, one kind of config delta.
CREATE TABLE catalog (
    id TEXT PRIMARY KEY,
    backend_id TEXT NOT NULL REFERENCES backends (id) ON DELETE CASCADE,
    -- tool | prompt | resource | resource_template
    kind TEXT NOT NULL,
    -- A tool's or prompt's name, a resource's uri, a template's uriTemplate.
    name TEXT NOT NULL,
    -- Order in which the backend listed the item.
    position BIGINT NOT NULL,
    description TEXT NOT NULL,
    definition_json TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    config_version BIGINT NOT NULL,
    UNIQUE (backend_id, kind, name)
);

INSERT INTO catalog (id, backend_id, kind, name, position, description, definition_json, enabled, config_version)
SELECT id, backend_id, 'tool', name, position, description, definition_json, enabled, config_version FROM tools;

DROP TABLE tools;

CREATE INDEX catalog_config_version ON catalog (config_version);

UPDATE tombstones SET kind = 'item' WHERE kind = 'tool';
