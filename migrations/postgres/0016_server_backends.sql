-- Backends all of whose items, now and later, are members of a virtual
-- server: what a backend adds when its catalog changes is served there too.
-- A row whose backend is gone is skipped by data planes until the server is
-- updated.
CREATE TABLE server_backends (
    server_id TEXT NOT NULL REFERENCES servers (id) ON DELETE CASCADE,
    backend_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    keep_original_names BOOLEAN NOT NULL,
    PRIMARY KEY (server_id, backend_id)
);
