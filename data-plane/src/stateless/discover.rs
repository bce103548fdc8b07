//! `server/discover`: what the gateway, or one virtual server of it,
//! offers a client of the stateless era, in place of `initialize`.

use super::SERVER_INFO;
use crate::{
    Gateway,
    cache::hint::CacheHint,
    jsonrpc::json_str,
    protocol::{GATEWAY_CAPABILITY, ProtocolVersion},
};

/// The `server/discover` result (before [`super::results::complete`] adds
/// what every result carries). Every kind is offered whatever the view
/// holds now (its lists may fill with the next config), with the list
/// changes and resource updates a listen stream follows.
pub fn result(gw: &Gateway) -> String {
    let versions: Vec<String> = ProtocolVersion::ALL.iter().map(|v| json_str(v.as_str())).collect();
    format!(
        concat!(
            r#"{{"supportedVersions":[{}],"capabilities":{{"tools":{{"listChanged":true}},"prompts":{{"listChanged":true}},"#,
            r#""resources":{{"subscribe":true,"listChanged":true}},"#,
            r#""completions":{{}},"logging":{{}},"extensions":{{"{}":{{}}}},"experimental":{{"{}":{{"id":{}}}}}}},"#,
            r#""instructions":"mcpgw gateway: the tools, prompts and resources of every registered backend; tools and prompts are named <backend><separator><name>.","#,
            r#""_meta":{{"io.modelcontextprotocol/serverInfo":{}}}{}}}"#
        ),
        versions.join(","),
        crate::tasks::EXTENSION,
        GATEWAY_CAPABILITY,
        json_str(&gw.snapshot.load().epoch),
        SERVER_INFO,
        // The same for every caller, and changed only with the gateway.
        CacheHint::default().members(),
    )
}
