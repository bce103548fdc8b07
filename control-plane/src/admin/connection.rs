//! Backend connection settings through the admin API: taken from requests,
//! sealed before they are stored, and shown without their secrets.

use mcpgw_data_plane::upstream::{
    TlsSettings,
    channel::StdioCommand,
    secrets::{Auth, SecretBox, Secrets},
};
use mcpgw_proto::v1::{self as pb, backend_credentials::Auth as PbAuth};
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::registry::{StoredConnection, StoredStdio};

/// Largest PEM text (a CA bundle, a certificate chain, a key) accepted.
const MAX_PEM: usize = 256 * 1024;
/// Most static headers per backend, and the longest value.
const MAX_HEADERS: usize = 64;
const MAX_VALUE: usize = 8 * 1024;

/// A backend's connection settings in the clear, checked for size; whether
/// they work is learned by connecting with them.
#[derive(Debug, Default, Clone)]
pub struct Connection {
    pub tls: TlsSettings,
    pub secrets: Secrets,
    /// What a stdio backend runs (its environment is in `secrets.env`).
    pub stdio: Option<StdioCommand>,
    /// A REST backend's tools.
    pub rest_tools: Vec<pb::RestTool>,
}

/// A stdio backend's command and environment from a request.
pub fn stdio_from(pb: pb::StdioCommand) -> Result<(StdioCommand, Vec<(String, String)>), Status> {
    if pb.command.trim().is_empty() {
        return Err(Status::invalid_argument("a stdio backend needs stdio.command"));
    }
    if pb.args.len() > 256 || pb.env.len() > MAX_HEADERS {
        return Err(Status::invalid_argument(format!(
            "a stdio backend takes at most 256 args and {MAX_HEADERS} env variables"
        )));
    }
    let all = std::iter::once(&pb.command)
        .chain(&pb.args)
        .chain(std::iter::once(&pb.cwd));
    if all.clone().any(|a| a.len() > MAX_VALUE || a.contains('\0')) {
        return Err(Status::invalid_argument(format!(
            "stdio command, args and cwd must each be at most {MAX_VALUE} bytes, without NUL"
        )));
    }
    let mut env: Vec<(String, String)> = pb.env.into_iter().collect();
    env.sort();
    for (name, value) in &env {
        let bad = name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') || value.len() > MAX_VALUE;
        if bad {
            return Err(Status::invalid_argument(format!(
                "stdio env {name:?} needs a name without '=' or NUL and a value of at most {MAX_VALUE} bytes"
            )));
        }
    }
    let command = StdioCommand {
        command: pb.command,
        args: pb.args,
        cwd: pb.cwd,
    };
    Ok((command, env))
}

fn too_long(what: &str, max: usize) -> Status {
    Status::invalid_argument(format!("{what} is longer than {max} bytes"))
}

fn check_pem(what: &str, pem: &str) -> Result<(), Status> {
    if pem.len() > MAX_PEM {
        return Err(too_long(what, MAX_PEM));
    }
    Ok(())
}

pub fn tls_from(pb: pb::BackendTls) -> Result<TlsSettings, Status> {
    check_pem("tls.ca_pem", &pb.ca_pem)?;
    check_pem("tls.client_cert_pem", &pb.client_cert_pem)?;
    Ok(TlsSettings {
        ca_pem: pb.ca_pem,
        client_cert_pem: pb.client_cert_pem,
        insecure_skip_verify: pb.insecure_skip_verify,
    })
}

pub fn secrets_from(pb: pb::BackendCredentials) -> Result<Secrets, Status> {
    if pb.headers.len() > MAX_HEADERS {
        return Err(Status::invalid_argument(format!(
            "at most {MAX_HEADERS} credential headers per backend"
        )));
    }
    let mut headers: Vec<(String, String)> = pb.headers.into_iter().collect();
    headers.sort();
    for (name, value) in &headers {
        if name.is_empty() || name.len() > 256 || value.len() > MAX_VALUE {
            return Err(Status::invalid_argument(format!(
                "credential header {name:?} needs a name of 1-256 bytes and a value of at most {MAX_VALUE}"
            )));
        }
    }
    check_pem("credentials.client_key_pem", &pb.client_key_pem)?;
    let auth = match pb.auth {
        None => None,
        Some(PbAuth::Bearer(b)) => {
            if b.token.is_empty() || b.token.len() > MAX_VALUE {
                return Err(Status::invalid_argument(format!(
                    "the bearer token must be 1-{MAX_VALUE} bytes"
                )));
            }
            Some(Auth::Bearer { token: b.token })
        }
        Some(PbAuth::Basic(b)) => {
            if b.username.is_empty() || b.username.len() + b.password.len() > MAX_VALUE {
                return Err(Status::invalid_argument(
                    "basic auth needs a username (and the pair at most 8 KiB)",
                ));
            }
            Some(Auth::Basic {
                username: b.username,
                password: b.password,
            })
        }
        Some(PbAuth::OauthClientCredentials(o)) => {
            if o.token_url.is_empty() || o.client_id.is_empty() {
                return Err(Status::invalid_argument(
                    "OAuth client credentials need a token_url and a client_id",
                ));
            }
            if [&o.token_url, &o.client_id, &o.client_secret, &o.scope]
                .iter()
                .any(|f| f.len() > MAX_VALUE)
            {
                return Err(too_long("an OAuth field", MAX_VALUE));
            }
            Some(Auth::OauthClientCredentials {
                token_url: o.token_url,
                client_id: o.client_id,
                client_secret: o.client_secret,
                scope: o.scope,
            })
        }
    };
    Ok(Secrets {
        headers,
        auth,
        client_key_pem: pb.client_key_pem,
        env: Vec::new(),
    })
}

/// What reads show of a backend's credentials (stored as JSON beside the
/// sealed secrets, so a read never opens them).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Info {
    #[serde(default)]
    header_names: Vec<String>,
    #[serde(default)]
    auth_scheme: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    token_url: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    client_key_set: bool,
}

fn info_of(secrets: &Secrets) -> Info {
    let mut info = Info {
        header_names: secrets.headers.iter().map(|(n, _)| n.clone()).collect(),
        client_key_set: !secrets.client_key_pem.is_empty(),
        ..Info::default()
    };
    if let Some(auth) = &secrets.auth {
        info.auth_scheme = auth.scheme().into();
        match auth {
            Auth::Bearer { .. } => {}
            Auth::Basic { username, .. } => info.username = username.clone(),
            Auth::OauthClientCredentials {
                token_url,
                client_id,
                scope,
                ..
            } => {
                info.token_url = token_url.clone();
                info.client_id = client_id.clone();
                info.scope = scope.clone();
            }
        }
    }
    info
}

impl Connection {
    /// As stored: the secrets sealed for backend `id`.
    pub fn seal(&self, id: &str, sealer: &SecretBox) -> StoredConnection {
        let mut stored = StoredConnection {
            tls_ca_pem: self.tls.ca_pem.clone(),
            tls_client_cert_pem: self.tls.client_cert_pem.clone(),
            tls_insecure_skip_verify: self.tls.insecure_skip_verify,
            sealed_secrets: sealer.seal(id, &self.secrets),
            credentials_info: serde_json::to_string(&info_of(&self.secrets)).expect("info serializes"),
            stdio_json: self.stdio.as_ref().map_or_else(String::new, |c| {
                let stored = StoredStdio {
                    command: c.command.clone(),
                    args: c.args.clone(),
                    cwd: c.cwd.clone(),
                    env_names: self.secrets.env.iter().map(|(n, _)| n.clone()).collect(),
                };
                serde_json::to_string(&stored).expect("a command serializes")
            }),
            rest_tools: String::new(),
        };
        if !self.rest_tools.is_empty() {
            stored.set_rest_tools(self.rest_tools.clone());
        }
        stored
    }
}

pub fn stdio_pb(c: &StoredConnection) -> Option<pb::StdioCommand> {
    c.stdio().map(|s| pb::StdioCommand {
        command: s.command,
        args: s.args,
        cwd: s.cwd,
        env_names: s.env_names,
        env: Default::default(),
    })
}

pub fn tls_pb(c: &StoredConnection) -> pb::BackendTls {
    pb::BackendTls {
        ca_pem: c.tls_ca_pem.clone(),
        client_cert_pem: c.tls_client_cert_pem.clone(),
        insecure_skip_verify: c.tls_insecure_skip_verify,
    }
}

pub fn info_pb(c: &StoredConnection) -> pb::CredentialsInfo {
    let info: Info = serde_json::from_str(&c.credentials_info).unwrap_or_default();
    pb::CredentialsInfo {
        header_names: info.header_names,
        auth_scheme: info.auth_scheme,
        username: info.username,
        token_url: info.token_url,
        client_id: info.client_id,
        scope: info.scope,
        client_key_set: info.client_key_set,
    }
}
