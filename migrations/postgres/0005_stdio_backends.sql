-- Backends run as a command speaking MCP on stdio: what to run, as a JSON
-- object (command, args, cwd, env_names). The environment's values are
-- sealed with the other secrets in sealed_secrets.
ALTER TABLE backends ADD COLUMN stdio_json TEXT NOT NULL DEFAULT '';
