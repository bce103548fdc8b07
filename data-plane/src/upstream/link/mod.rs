//! How the gateway reaches one backend: the TLS settings of its connections
//! and the credentials every request to it carries. A [`Link`] is built once
//! per backend config (data planes when they apply it, the control plane
//! for discovery) and kept while that config holds, so its connections and
//! its OAuth token are reused call after call.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use http::{HeaderMap, HeaderName, HeaderValue, header};

mod oauth;
mod tls;

use oauth::OAuth;
use tls::rustls_config;

use super::{
    McpHttpClient, UpstreamError,
    channel::{ChannelBackend, Opener, StdioCommand},
    client::{SESSION_HEADER, VERSION_HEADER},
    error_chain,
    grpc::GrpcBackend,
    rest::RestBackend,
    secrets::{Auth, SecretBox, Secrets},
};

/// The public half of a backend's TLS settings (the client key is a secret).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM CA certificates the backend's certificate must chain to, instead
    /// of the platform's roots; empty for the platform's.
    pub ca_pem: String,
    /// PEM client certificate (chain) presented to the backend.
    pub client_cert_pem: String,
    /// Accept any certificate: for development only, warned about.
    pub insecure_skip_verify: bool,
}

impl TlsSettings {
    fn is_default(&self) -> bool {
        *self == TlsSettings::default()
    }
}

/// A backend's connection settings that cannot be used, worded for the
/// person who registered it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

/// Where one backend is and how to reach it: the client configured for it,
/// or the child process it runs as.
#[derive(Debug)]
pub struct Link {
    pub url: Arc<str>,
    pub client: McpHttpClient,
    /// Set for a backend reached over a standing channel (a stdio child, a
    /// WebSocket), which every call then goes through.
    pub channel: Option<Arc<ChannelBackend>>,
    /// Set for a backend that is not MCP (a REST API, a gRPC server): the
    /// gateway makes each call itself.
    pub api: Option<Api>,
}

/// A backend whose tools the gateway calls itself, speaking its protocol.
#[derive(Debug, Clone)]
pub enum Api {
    /// Its tools' endpoints, called with the link's client.
    Rest(Arc<RestBackend>),
    /// Its methods, called on its channel.
    Grpc(Arc<GrpcBackend>),
}

/// The URL of the registry's own backend's link (it has none to reach).
const REGISTRY_URL: &str = "registry:";

/// Builds [`Link`]s: the process's base client, and the box that opens
/// backends' sealed secrets.
pub struct Connector {
    base: McpHttpClient,
    secrets: SecretBox,
    allow_stdio: bool,
    breaker: super::BreakerPolicy,
    /// Where the ids of channel backends that said their lists changed go
    /// (data planes pass them on to the control plane).
    changes: Option<tokio::sync::mpsc::Sender<Arc<str>>>,
    /// Where resource updates from channel backends go (the pool's, which
    /// every other backend session's updates go to too).
    updates: Option<tokio::sync::broadcast::Sender<Arc<super::ResourceUpdated>>>,
}

impl Connector {
    /// `secret` is the fleet's `AUTH_ENCRYPTION_SECRET`; `allow_stdio`
    /// whether stdio backends' commands may run in this process.
    pub fn new(base: McpHttpClient, secret: &str, allow_stdio: bool) -> Self {
        Self {
            base,
            secrets: SecretBox::new(secret),
            allow_stdio,
            breaker: super::BreakerPolicy::default(),
            changes: None,
            updates: None,
        }
    }

    /// Sends what channel backends say of changed resources to `updates`.
    pub fn with_updates(mut self, updates: tokio::sync::broadcast::Sender<Arc<super::ResourceUpdated>>) -> Self {
        self.updates = Some(updates);
        self
    }

    /// Sends the id of every channel backend (stdio, WebSocket) that says
    /// its tools, prompts or resources changed to `changes` (dropped when
    /// that is full: a backend cannot grow the node's memory by saying it).
    pub fn with_changes(mut self, changes: tokio::sync::mpsc::Sender<Arc<str>>) -> Self {
        self.changes = Some(changes);
        self
    }

    /// `link` (a channel backend's) telling [`Connector::with_changes`]'s
    /// channel when backend `backend_id`'s lists change, and
    /// [`Connector::with_updates`]'s when one of its resources does.
    fn heard(&self, link: Arc<Link>, backend_id: &str) -> Arc<Link> {
        use super::channel::pipe::{NoteHook, SessionNote};
        let Some(channel) = &link.channel else { return link };
        let (changes, updates, id): (_, _, Arc<str>) = (self.changes.clone(), self.updates.clone(), backend_id.into());
        let hook = move |note: SessionNote<'_>| match note {
            SessionNote::ListChanged => {
                if let Some(c) = &changes {
                    let _ = c.try_send(id.clone());
                }
            }
            SessionNote::ResourceUpdated(uri) => {
                if let Some(u) = &updates {
                    let _ = u.send(Arc::new(super::ResourceUpdated {
                        backend_id: id.clone(),
                        uri: uri.to_owned(),
                    }));
                }
            }
        };
        channel.on_session_note(NoteHook(Arc::new(hook)));
        link
    }

    /// Opens the circuit breakers of backends' endpoints by `policy`.
    pub fn with_breaker(mut self, policy: super::BreakerPolicy) -> Self {
        self.breaker = policy;
        self
    }

    /// A backend whose first endpoint is `primary` and whose other
    /// endpoints (replicas) are at `more`, reached with the same client.
    pub fn endpoints(&self, primary: Arc<Link>, more: &[String], dialect: super::Dialect) -> super::Endpoints {
        let mut links = vec![primary.clone()];
        links.extend(more.iter().map(|url| {
            Arc::new(Link {
                url: url.as_str().into(),
                client: primary.client.clone(),
                channel: None,
                api: None,
            })
        }));
        super::Endpoints::new(links, dialect, self.breaker)
    }

    pub fn allows_stdio(&self) -> bool {
        self.allow_stdio
    }

    fn open(&self, backend_id: &str, sealed: &str) -> Result<Secrets, LinkError> {
        self.secrets
            .open(backend_id, sealed)
            .map_err(|e| LinkError(e.to_string()))
    }

    /// The link to stdio backend `backend_id`, opening its sealed secrets
    /// (the child's environment). Its child starts on first use.
    pub fn stdio_link(
        &self,
        backend_id: &str,
        name: &str,
        command: StdioCommand,
        sealed: &str,
    ) -> Result<Arc<Link>, LinkError> {
        let link = self.stdio_link_with(name, command, self.open(backend_id, sealed)?.env);
        Ok(self.heard(link, backend_id))
    }

    /// The link to a stdio backend with its environment in the clear.
    pub fn stdio_link_with(&self, name: &str, command: StdioCommand, env: Vec<(String, String)>) -> Arc<Link> {
        let url: Arc<str> = format!("stdio:{}", command.command).into();
        let opener = Opener::Stdio {
            command,
            env,
            allowed: self.allow_stdio,
        };
        self.channel_link(name, url, opener, self.base.clone())
    }

    /// The link to WebSocket backend `backend_id` at `url` (`ws://` or
    /// `wss://`), opening its sealed secrets. It connects on first use.
    pub fn websocket_link(
        &self,
        backend_id: &str,
        name: &str,
        url: &str,
        tls: &TlsSettings,
        sealed: &str,
    ) -> Result<Arc<Link>, LinkError> {
        let link = self.websocket_link_with(name, url, tls, &self.open(backend_id, sealed)?)?;
        Ok(self.heard(link, backend_id))
    }

    /// [`Connector::websocket_link`] with the secrets in the clear.
    pub fn websocket_link_with(
        &self,
        name: &str,
        url: &str,
        tls: &TlsSettings,
        secrets: &Secrets,
    ) -> Result<Arc<Link>, LinkError> {
        let client = self.base.connect(tls, secrets)?;
        let tls = url
            .starts_with("wss:")
            .then(|| rustls_config(tls, &secrets.client_key_pem, self.base.http2))
            .transpose()?;
        let opener = Opener::WebSocket { url: url.into(), tls };
        Ok(self.channel_link(name, url.into(), opener, client))
    }

    fn channel_link(&self, name: &str, url: Arc<str>, opener: Opener, client: McpHttpClient) -> Arc<Link> {
        let channel = ChannelBackend::new(name, url.clone(), opener, client.clone());
        Arc::new(Link {
            url,
            client,
            channel: Some(Arc::new(channel)),
            api: None,
        })
    }

    /// The link of the registry's own backend: nothing to connect to (its
    /// items answer for themselves); its client fetches what they name (a
    /// resource's URL, a REST tool's endpoint) with no credentials.
    pub fn registry_link(&self) -> Arc<Link> {
        Arc::new(Link {
            url: REGISTRY_URL.into(),
            client: self.base.clone(),
            channel: None,
            api: None,
        })
    }

    /// The client of backends without settings of their own.
    pub fn base(&self) -> &McpHttpClient {
        &self.base
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// A client that only carries a backend's credentials (its headers,
    /// an OAuth token and its fetch) for a backend reached by other means
    /// (a gRPC channel presents the client certificate itself): the
    /// platform's TLS settings, no client key.
    pub fn credentials_client(&self, secrets: &Secrets) -> Result<McpHttpClient, LinkError> {
        let mut credentials = secrets.clone();
        credentials.client_key_pem.clear();
        self.base.connect(&TlsSettings::default(), &credentials)
    }

    /// The link to backend `backend_id` at `url`, opening its sealed
    /// secrets.
    pub fn link(&self, backend_id: &str, url: &str, tls: &TlsSettings, sealed: &str) -> Result<Arc<Link>, LinkError> {
        let secrets = self
            .secrets
            .open(backend_id, sealed)
            .map_err(|e| LinkError(e.to_string()))?;
        self.link_with(url, tls, &secrets)
    }

    /// The link to a backend at `url` with secrets in the clear (the
    /// control plane, before it seals them).
    pub fn link_with(&self, url: &str, tls: &TlsSettings, secrets: &Secrets) -> Result<Arc<Link>, LinkError> {
        Ok(Arc::new(Link {
            url: url.into(),
            client: self.base.connect(tls, secrets)?,
            channel: None,
            api: None,
        }))
    }

    /// The link to REST backend `backend_id` whose API is at `url`, its
    /// tools' endpoints compiled.
    pub fn rest_link(
        &self,
        backend_id: &str,
        url: &str,
        tls: &TlsSettings,
        sealed: &str,
        tools: &[mcpgw_proto::v1::RestTool],
    ) -> Result<Arc<Link>, LinkError> {
        self.rest_link_with(url, tls, &self.open(backend_id, sealed)?, tools)
    }

    /// [`Connector::rest_link`] with the secrets in the clear.
    pub fn rest_link_with(
        &self,
        url: &str,
        tls: &TlsSettings,
        secrets: &Secrets,
        tools: &[mcpgw_proto::v1::RestTool],
    ) -> Result<Arc<Link>, LinkError> {
        Ok(Arc::new(Link {
            url: url.into(),
            client: self.base.connect(tls, secrets)?,
            channel: None,
            api: Some(Api::Rest(Arc::new(RestBackend::compile(url, tools)?))),
        }))
    }

    /// The link to gRPC backend `backend_id` at `url`, offering `grpc`'s
    /// services.
    pub fn grpc_link(
        &self,
        backend_id: &str,
        url: &str,
        tls: &TlsSettings,
        sealed: &str,
        grpc: &mcpgw_proto::v1::GrpcServices,
    ) -> Result<Arc<Link>, LinkError> {
        self.grpc_link_with(url, tls, &self.open(backend_id, sealed)?, grpc)
    }

    /// [`Connector::grpc_link`] with the secrets in the clear.
    pub fn grpc_link_with(
        &self,
        url: &str,
        tls: &TlsSettings,
        secrets: &Secrets,
        grpc: &mcpgw_proto::v1::GrpcServices,
    ) -> Result<Arc<Link>, LinkError> {
        // The control plane names what it offers (older ones: the filter).
        let only = if grpc.offered.is_empty() {
            &grpc.services
        } else {
            &grpc.offered
        };
        let backend = GrpcBackend::compile(url, &grpc.descriptor_set, only, tls, secrets, self.base.timeout)?;
        Ok(Arc::new(Link {
            url: url.into(),
            client: self.credentials_client(secrets)?,
            channel: None,
            api: Some(Api::Grpc(Arc::new(backend))),
        }))
    }
}

/// Headers the gateway sets itself; a backend's static headers may not.
const RESERVED: [&str; 8] = [
    "host",
    "content-type",
    "content-length",
    "accept",
    "transfer-encoding",
    "last-event-id",
    SESSION_HEADER,
    VERSION_HEADER,
];

impl McpHttpClient {
    /// This client configured for one backend's TLS settings and secrets.
    /// A backend without TLS settings of its own shares this client's
    /// connection pool.
    pub fn connect(&self, tls: &TlsSettings, secrets: &Secrets) -> Result<McpHttpClient, LinkError> {
        let http = if tls.is_default() && secrets.client_key_pem.is_empty() {
            self.http.clone()
        } else {
            self.tls_client(tls, &secrets.client_key_pem)?
        };
        let auth = Authorizer::new(secrets, &self.http, self.timeout)?;
        Ok(McpHttpClient {
            http,
            timeout: self.timeout,
            http2: self.http2,
            auth: auth.map(Arc::new),
            via: self.via.clone(),
        })
    }

    fn tls_client(&self, tls: &TlsSettings, key_pem: &str) -> Result<reqwest::Client, LinkError> {
        let bad = |what: &str, e: reqwest::Error| LinkError(format!("{what}: {}", error_chain(&e)));
        let mut builder = super::client::builder(self.timeout, self.http2);
        if !tls.ca_pem.trim().is_empty() {
            let certs = reqwest::Certificate::from_pem_bundle(tls.ca_pem.as_bytes())
                .map_err(|e| bad("the CA bundle is not PEM certificates", e))?;
            if certs.is_empty() {
                return Err(LinkError("the CA bundle holds no PEM certificate".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        match (tls.client_cert_pem.trim().is_empty(), key_pem.trim().is_empty()) {
            (true, true) => {}
            (false, false) => {
                let pem = format!("{}\n{}", tls.client_cert_pem.trim(), key_pem.trim());
                let identity = reqwest::Identity::from_pem(pem.as_bytes())
                    .map_err(|e| bad("the client certificate and key are not PEM", e))?;
                builder = builder.identity(identity);
            }
            (false, true) => return Err(LinkError("a client certificate needs its private key".into())),
            (true, false) => return Err(LinkError("a client key needs its certificate".into())),
        }
        if tls.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder.build().map_err(|e| bad("the TLS settings are not usable", e))
    }

    /// Adds the backend's credentials to a request.
    pub(super) async fn authorize(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, UpstreamError> {
        match &self.auth {
            None => Ok(req),
            Some(auth) => Ok(req.headers(auth.headers(url).await?)),
        }
    }

    /// The headers the backend's credentials add to a request (a
    /// WebSocket upgrade).
    pub async fn credential_headers(&self, url: &str) -> Result<HeaderMap, UpstreamError> {
        match &self.auth {
            None => Ok(HeaderMap::new()),
            Some(auth) => auth.headers(url).await,
        }
    }

    /// The backend refused the credentials (401): a token is fetched anew
    /// for the next request.
    pub(super) fn rejected(&self) {
        if let Some(oauth) = self.auth.as_ref().and_then(|a| a.oauth.as_ref()) {
            oauth.forget();
        }
    }
}

/// The credentials of one backend, ready to add to requests.
pub(super) struct Authorizer {
    /// Static headers, and `Authorization` for bearer and basic.
    headers: HeaderMap,
    oauth: Option<OAuth>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("oauth", &self.oauth.is_some())
            .finish()
    }
}

impl Authorizer {
    fn new(secrets: &Secrets, http: &reqwest::Client, timeout: Duration) -> Result<Option<Self>, LinkError> {
        if secrets.headers.is_empty() && secrets.auth.is_none() {
            return Ok(None);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &secrets.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|_| LinkError(format!("{name:?} is not a valid header name")))?;
            if RESERVED.contains(&name.as_str()) {
                return Err(LinkError(format!(
                    "the gateway sets the {name} header itself; it cannot be a backend header"
                )));
            }
            if name == header::AUTHORIZATION && secrets.auth.is_some() {
                return Err(LinkError(
                    "an Authorization header and an auth scheme cannot both be set".into(),
                ));
            }
            headers.append(name.clone(), sensitive(value, &format!("the value of header {name}"))?);
        }
        let mut oauth = None;
        match &secrets.auth {
            None => {}
            Some(Auth::Bearer { token }) => {
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Bearer {token}"), "the bearer token")?,
                );
            }
            Some(Auth::Basic { username, password }) => {
                if username.contains(':') {
                    return Err(LinkError("a basic-auth username cannot contain ':'".into()));
                }
                let encoded = STANDARD.encode(format!("{username}:{password}"));
                headers.insert(
                    header::AUTHORIZATION,
                    sensitive(&format!("Basic {encoded}"), "basic auth")?,
                );
            }
            Some(Auth::OauthClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            }) => {
                let url = reqwest::Url::parse(token_url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| LinkError(format!("the OAuth token URL {token_url:?} is not an http(s) URL")))?;
                let mut form = vec![
                    ("grant_type", "client_credentials".to_owned()),
                    ("client_id", client_id.clone()),
                    ("client_secret", client_secret.clone()),
                ];
                if !scope.is_empty() {
                    form.push(("scope", scope.clone()));
                }
                oauth = Some(OAuth::new(url, form, http.clone(), timeout));
            }
        }
        Ok(Some(Self { headers, oauth }))
    }

    /// The headers the credentials add to a request to `url`: the static
    /// ones, and a current OAuth token.
    async fn headers(&self, url: &str) -> Result<HeaderMap, UpstreamError> {
        let mut headers = self.headers.clone();
        if let Some(oauth) = &self.oauth {
            let token = oauth.token().await.map_err(|reason| UpstreamError::Credentials {
                url: url.into(),
                reason,
            })?;
            headers.insert(header::AUTHORIZATION, token);
        }
        Ok(headers)
    }
}

fn sensitive(value: &str, what: &str) -> Result<HeaderValue, LinkError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| LinkError(format!("{what} is not a valid header value")))?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> McpHttpClient {
        McpHttpClient::new(Duration::from_secs(5), false)
    }

    #[test]
    fn unusable_settings_are_refused_with_what_is_wrong() {
        let c = client();
        let tls = |ca: &str, cert: &str| TlsSettings {
            ca_pem: ca.into(),
            client_cert_pem: cert.into(),
            insecure_skip_verify: false,
        };
        let none = Secrets::default();
        let said = |r: Result<McpHttpClient, LinkError>| r.expect_err("refused").0;
        assert!(said(c.connect(&tls("not a certificate", ""), &none)).contains("CA bundle"));
        assert!(said(c.connect(&tls("", "-----BEGIN CERTIFICATE-----"), &none)).contains("private key"));
        let header = |n: &str, v: &str| Secrets {
            headers: vec![(n.into(), v.into())],
            ..Secrets::default()
        };
        assert!(said(c.connect(&TlsSettings::default(), &header("bad name", "v"))).contains("header name"));
        assert!(said(c.connect(&TlsSettings::default(), &header("mcp-session-id", "v"))).contains("itself"));
        assert!(said(c.connect(&TlsSettings::default(), &header("x-k", "line\nbreak"))).contains("x-k"));
        let oauth = Secrets {
            auth: Some(Auth::OauthClientCredentials {
                token_url: "ftp://x".into(),
                client_id: "c".into(),
                client_secret: "s".into(),
                scope: String::new(),
            }),
            ..Secrets::default()
        };
        assert!(said(c.connect(&TlsSettings::default(), &oauth)).contains("token URL"));
        assert!(c.connect(&TlsSettings::default(), &header("x-api-key", "k")).is_ok());
    }
}
