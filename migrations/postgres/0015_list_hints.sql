-- The caching hints (MCP 2026-07-28 ttlMs, cacheScope) a backend's lists
-- gave at its last discovery, as JSON by list (empty for none: every
-- backend of an earlier era). The lists the gateway merges honour them.
ALTER TABLE backends ADD COLUMN list_hints TEXT NOT NULL DEFAULT '';
