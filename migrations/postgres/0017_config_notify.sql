-- Every write bumps config_state.version; at commit, every control-plane
-- replica LISTENing on mcpgw_config hears the new version and reads what
-- changed (the poll that also does so becomes a slow safety net).
CREATE FUNCTION mcpgw_config_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('mcpgw_config', NEW.version::text);
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER config_state_notify
    AFTER UPDATE OF version ON config_state
    FOR EACH ROW EXECUTE FUNCTION mcpgw_config_notify();
