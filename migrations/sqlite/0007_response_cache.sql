-- The response cache's TTLs, in seconds. NULL means the default: the data
-- plane's RESOURCE_CACHE_TTL for a backend's resource reads, the backend's
-- TTL for a resource, not cached for a tool. 0 caches nothing.
ALTER TABLE backends ADD COLUMN cache_ttl_secs BIGINT;
ALTER TABLE catalog ADD COLUMN cache_ttl_secs BIGINT;
