//! `mcpgw backend add`'s connection flags: TLS files and credentials. Files
//! are read here and their contents sent, so the control plane needs no
//! access to the operator's disk; secrets can come from the environment
//! instead of the command line, where other users could see them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use mcpgw_proto::v1::{self as pb, backend_credentials::Auth};

#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnectionArgs {
    /// PEM file of the CA certificates the backend's certificate must chain
    /// to, instead of the platform's roots.
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for backends that require mTLS.
    #[arg(long, value_name = "FILE", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// PEM private key of --client-cert.
    #[arg(long, value_name = "FILE", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Accept any certificate from the backend. For development only.
    #[arg(long)]
    insecure_skip_verify: bool,
    /// A header sent with every request to the backend (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
    /// A bearer token sent as `Authorization: Bearer …`.
    #[arg(long, env = "MCPGW_BACKEND_BEARER_TOKEN", hide_env_values = true, conflicts_with_all = ["basic_auth", "oauth_token_url"])]
    bearer_token: Option<String>,
    /// HTTP basic auth as USER:PASSWORD.
    #[arg(
        long,
        value_name = "USER:PASSWORD",
        env = "MCPGW_BACKEND_BASIC_AUTH",
        hide_env_values = true,
        conflicts_with = "oauth_token_url"
    )]
    basic_auth: Option<String>,
    /// OAuth 2.0 client credentials: the token endpoint.
    #[arg(long, value_name = "URL", requires = "oauth_client_id")]
    oauth_token_url: Option<String>,
    #[arg(long, requires = "oauth_token_url")]
    oauth_client_id: Option<String>,
    #[arg(long, env = "MCPGW_BACKEND_OAUTH_CLIENT_SECRET", hide_env_values = true)]
    oauth_client_secret: Option<String>,
    /// Space-separated scopes to ask for.
    #[arg(long)]
    oauth_scope: Option<String>,
}

fn read(what: &str, path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

impl ConnectionArgs {
    pub fn tls(&self) -> anyhow::Result<Option<pb::BackendTls>> {
        if self.ca_file.is_none() && self.client_cert.is_none() && !self.insecure_skip_verify {
            return Ok(None);
        }
        Ok(Some(pb::BackendTls {
            ca_pem: self
                .ca_file
                .as_deref()
                .map(|p| read("CA file", p))
                .transpose()?
                .unwrap_or_default(),
            client_cert_pem: self
                .client_cert
                .as_deref()
                .map(|p| read("client certificate", p))
                .transpose()?
                .unwrap_or_default(),
            insecure_skip_verify: self.insecure_skip_verify,
        }))
    }

    pub fn credentials(&self) -> anyhow::Result<Option<pb::BackendCredentials>> {
        let mut c = pb::BackendCredentials::default();
        for h in &self.headers {
            let (name, value) = h
                .split_once('=')
                .with_context(|| format!("--header {h:?} is not NAME=VALUE"))?;
            if c.headers.insert(name.trim().to_owned(), value.to_owned()).is_some() {
                anyhow::bail!("--header {name:?} is given twice");
            }
        }
        if let Some(key) = &self.client_key {
            c.client_key_pem = read("client key", key)?;
        }
        c.auth = if let Some(token) = &self.bearer_token {
            Some(Auth::Bearer(pb::BearerAuth { token: token.clone() }))
        } else if let Some(pair) = &self.basic_auth {
            let (username, password) = pair.split_once(':').context("--basic-auth is not USER:PASSWORD")?;
            Some(Auth::Basic(pb::BasicAuth {
                username: username.into(),
                password: password.into(),
            }))
        } else {
            self.oauth_token_url.as_ref().map(|url| {
                Auth::OauthClientCredentials(pb::OAuthClientCredentials {
                    token_url: url.clone(),
                    client_id: self.oauth_client_id.clone().unwrap_or_default(),
                    client_secret: self.oauth_client_secret.clone().unwrap_or_default(),
                    scope: self.oauth_scope.clone().unwrap_or_default(),
                })
            })
        };
        Ok((c != pb::BackendCredentials::default()).then_some(c))
    }
}
