//! Discovery: what a backend offers, learned by speaking MCP to it.

use mcpgw_data_plane::{
    jsonrpc::RawObject,
    upstream::{McpHttpClient, UpstreamError},
};
use serde::Deserialize;

use crate::registry::{DiscoveredTool, Discovery};

#[derive(Deserialize)]
struct ToolHead {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// Connects to the MCP server at `url`, runs `initialize`, and lists every
/// page of its tools.
pub async fn discover(client: &McpHttpClient, url: &str) -> Result<Discovery, UpstreamError> {
    let session = client.initialize(url).await?;
    let raw_tools = client.list_all_tools(&session).await;
    client.terminate(&session).await;
    let raw_tools = raw_tools?;
    let not_mcp = |reason: String| UpstreamError::NotMcp {
        url: url.into(),
        reason,
    };
    let mut tools: Vec<DiscoveredTool> = Vec::with_capacity(raw_tools.len());
    for (i, raw) in raw_tools.iter().enumerate() {
        let head: ToolHead = serde_json::from_str(raw.get())
            .map_err(|e| not_mcp(format!("tool #{i} in its tools/list is not a Tool: {e}")))?;
        // Stored compact but otherwise exactly as sent: member order and values untouched.
        let obj = RawObject::parse(raw.get()).map_err(|e| not_mcp(format!("tool #{i} is not an object: {e}")))?;
        if tools.iter().any(|t| t.name == head.name) {
            return Err(not_mcp(format!("it lists the tool {:?} twice", head.name)));
        }
        tools.push(DiscoveredTool {
            name: head.name,
            description: head.description.unwrap_or_default(),
            definition_json: obj.to_string_with(&[]),
        });
    }
    Ok(Discovery {
        protocol_version: session.server.protocol_version.clone(),
        server_name: session.server.name.clone(),
        server_version: session.server.version.clone(),
        tools,
    })
}
