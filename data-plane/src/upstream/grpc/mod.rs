//! gRPC services as tools: every unary and server-streaming method of the
//! services in a backend's descriptor set (read through server reflection
//! at registration, or uploaded) is a tool whose input schema is its request
//! message ([`schema`]). A call is transcoded JSON → protobuf with
//! `prost-reflect`, sent on one HTTP/2 channel per backend (reused, TLS
//! where the URL says `https`), and its answer transcoded back; a gRPC
//! status is a tool error. A server-streaming method's messages each go to
//! the client as a progress notification as they arrive, and the result
//! holds them all. Client-streaming and bidirectional methods are not
//! tools: one call cannot carry a stream of requests.

mod codec;
pub mod schema;

use std::{collections::HashMap, time::Duration};

use futures::{StreamExt, stream::BoxStream};
use http::uri::PathAndQuery;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor, ServiceDescriptor};
use serde_json::value::RawValue;
use tonic::{
    client::Grpc,
    metadata::MetadataMap,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};

use super::{LinkError, McpHttpClient, TlsSettings, secrets::Secrets};
use codec::DynamicCodec;

/// Services that are the gRPC server's own plumbing, never tools.
const PLUMBING: [&str; 3] = [
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.health.v1.Health",
];

/// A tool made of a method, as registration lists it.
#[derive(Debug, Clone)]
pub struct GrpcTool {
    pub name: String,
    pub description: String,
    pub definition_json: String,
}

/// The tool name of `method` of `service`: `<Service>_<Method>`, in the
/// characters every MCP revision allows.
pub fn tool_name(service: &ServiceDescriptor, method: &MethodDescriptor) -> String {
    format!("{}_{}", service.name(), method.name())
}

/// Whether `service` is the gRPC server's own plumbing (reflection,
/// health), which is never made tools of.
pub fn is_plumbing(service: &str) -> bool {
    PLUMBING.contains(&service)
}

/// The services of `pool` whose methods become tools when none are named.
pub fn offered_services(pool: &DescriptorPool) -> Vec<String> {
    services(pool, &[])
        .filter(|s| s.methods().any(|m| is_tool(&m)))
        .map(|s| s.full_name().to_owned())
        .collect()
}

/// The services of `pool` that offer tools: those named in `only` (all but
/// the server's plumbing when empty).
fn services<'p>(pool: &'p DescriptorPool, only: &'p [String]) -> impl Iterator<Item = ServiceDescriptor> + 'p {
    pool.services().filter(move |s| {
        if only.is_empty() {
            !PLUMBING.contains(&s.full_name())
        } else {
            only.iter().any(|o| o == s.full_name())
        }
    })
}

fn is_tool(m: &MethodDescriptor) -> bool {
    !m.is_client_streaming()
}

/// Reads a serialized `FileDescriptorSet`. One that imports well-known
/// types (`google/protobuf/*.proto`) without holding them is read on top of
/// the gateway's own copies of those.
pub fn pool(descriptor_set: &[u8]) -> Result<DescriptorPool, LinkError> {
    DescriptorPool::decode(descriptor_set).or_else(|first| {
        let mut with_wkt = DescriptorPool::global();
        with_wkt
            .decode_file_descriptor_set(descriptor_set)
            .map(|()| with_wkt)
            .map_err(|_| LinkError(format!("the gRPC descriptor set cannot be used: {first}")))
    })
}

/// The tools of the services `only` names (all when empty) in `pool`, in
/// descriptor order. An error names a service asked for that is not there,
/// or two methods that would share a tool name.
pub fn tools(pool: &DescriptorPool, only: &[String]) -> Result<Vec<GrpcTool>, LinkError> {
    for o in only {
        if pool.get_service_by_name(o).is_none() {
            let known: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
            return Err(LinkError(format!(
                "service {o:?} is not in the descriptors (they have {})",
                known.join(", ")
            )));
        }
    }
    let mut out: Vec<GrpcTool> = Vec::new();
    for service in services(pool, only) {
        for method in service.methods().filter(is_tool) {
            let name = tool_name(&service, &method);
            if out.iter().any(|t| t.name == name) {
                return Err(LinkError(format!(
                    "two methods would both be tool {name:?}; name the services to use, leaving one of them out"
                )));
            }
            let streaming = if method.is_server_streaming() {
                " Streams its replies: each arrives as a progress notification, and the result holds them all."
            } else {
                ""
            };
            let description = format!(
                "gRPC {}/{} ({} → {}).{streaming}",
                service.full_name(),
                method.name(),
                method.input().full_name(),
                method.output().full_name()
            );
            let definition = serde_json::json!({
                "name": name,
                "description": description,
                "inputSchema": schema::of_message(&method.input()),
            });
            out.push(GrpcTool {
                name,
                description,
                definition_json: definition.to_string(),
            });
        }
    }
    if out.is_empty() {
        return Err(LinkError(
            "the gRPC server offers no unary or server-streaming method to make a tool of".into(),
        ));
    }
    Ok(out)
}

/// One method as calls reach it.
#[derive(Debug)]
struct Method {
    path: PathAndQuery,
    input: MessageDescriptor,
    output: MessageDescriptor,
    server_streaming: bool,
}

/// A gRPC backend as data planes call it.
#[derive(Debug)]
pub struct GrpcBackend {
    channel: Channel,
    methods: HashMap<String, Method>,
    timeout: Duration,
}

/// Why a call did not get as far as a gRPC status.
#[derive(Debug, thiserror::Error)]
pub enum GrpcCallError {
    #[error("{0}")]
    Arguments(String),
    #[error("unknown tool {0:?}")]
    UnknownTool(String),
    #[error(transparent)]
    Upstream(#[from] super::UpstreamError),
}

impl GrpcBackend {
    /// The backend at `url` offering the methods of `descriptor_set`'s
    /// services `only` (all when empty), reached with `tls` and the client
    /// key in `secrets`. The channel connects on first use.
    pub fn compile(
        url: &str,
        descriptor_set: &[u8],
        only: &[String],
        tls: &TlsSettings,
        secrets: &Secrets,
        timeout: Duration,
    ) -> Result<Self, LinkError> {
        let pool = pool(descriptor_set)?;
        let mut methods = HashMap::new();
        for service in services(&pool, only) {
            for method in service.methods().filter(is_tool) {
                let path = format!("/{}/{}", service.full_name(), method.name());
                let path = PathAndQuery::try_from(path).map_err(|e| LinkError(format!("bad method path: {e}")))?;
                methods.insert(
                    tool_name(&service, &method),
                    Method {
                        path,
                        input: method.input(),
                        output: method.output(),
                        server_streaming: method.is_server_streaming(),
                    },
                );
            }
        }
        Ok(Self {
            channel: channel(url, tls, secrets)?,
            methods,
            timeout,
        })
    }

    /// The server's health as the standard health service
    /// (`grpc.health.v1.Health/Check` of the whole server, with the
    /// backend's credentials) reports it: `SERVING` is up, anything else is
    /// down. A server that does not offer the health service is up when it
    /// answers at all (`UNIMPLEMENTED` or `NOT_FOUND` still came from it);
    /// a transport failure is down.
    pub async fn reachable(&self, client: &McpHttpClient) -> Result<(), String> {
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
        let headers = client
            .credential_headers("grpc:health")
            .await
            .map_err(|e| format!("cannot get the backend's credentials: {e}"))?;
        let mut request = tonic::Request::new(HealthCheckRequest { service: String::new() });
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        request.set_timeout(self.timeout);
        let answer = tokio::time::timeout(self.timeout, HealthClient::new(self.channel.clone()).check(request))
            .await
            .map_err(|_| {
                format!(
                    "the gRPC server did not answer a health check within {:?}",
                    self.timeout
                )
            })?;
        match answer {
            Ok(r) => match r.into_inner().status() {
                ServingStatus::Serving => Ok(()),
                other => Err(format!("the gRPC server reports {}", other.as_str_name())),
            },
            Err(s) if matches!(s.code(), tonic::Code::Unimplemented | tonic::Code::NotFound) => Ok(()),
            Err(s) => Err(format!(
                "the gRPC server's health check failed: {:?}: {}",
                s.code(),
                s.message()
            )),
        }
    }

    /// Whether tool `name` streams its replies.
    pub fn streams(&self, name: &str) -> bool {
        self.methods.get(name).is_some_and(|m| m.server_streaming)
    }

    /// Calls tool `name` with `arguments` (a JSON object); each reply as
    /// JSON, in order (one for a unary method), or the status that ended
    /// the call as a tool error. `client` adds the backend's credentials.
    ///
    /// Every wait is bounded by the backend's timeout on this side too, not
    /// only by the `grpc-timeout` the server is asked to honour (a server
    /// that ignores it must not hold a call forever): a unary call as a
    /// whole; a streaming one until its first reply, then as an idle limit
    /// between replies, as relayed MCP streams are. Either ends the call
    /// with `DEADLINE_EXCEEDED`.
    pub async fn call(
        &self,
        client: &McpHttpClient,
        name: &str,
        arguments: Option<&RawValue>,
    ) -> Result<BoxStream<'static, Result<String, tonic::Status>>, GrpcCallError> {
        let method = self
            .methods
            .get(name)
            .ok_or_else(|| GrpcCallError::UnknownTool(name.into()))?;
        let args = arguments.map_or("{}", RawValue::get);
        let mut de = serde_json::Deserializer::from_str(args);
        let message = DynamicMessage::deserialize(method.input.clone(), &mut de)
            .map_err(|e| GrpcCallError::Arguments(format!("arguments are not a {}: {e}", method.input.full_name())))?;
        let mut headers = client.credential_headers(&format!("grpc:{name}")).await?;
        crate::telemetry::context::add_current(&mut headers);
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = MetadataMap::from_headers(headers);
        let timeout = self.timeout;
        if !method.server_streaming {
            request.set_timeout(timeout);
        }
        let expired = || expired(timeout);
        let failed = |s: tonic::Status| futures::stream::once(async move { Err(s) }).boxed();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut grpc = Grpc::new(self.channel.clone());
        match tokio::time::timeout_at(deadline, grpc.ready()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Ok(failed(tonic::Status::unavailable(format!(
                    "cannot reach the gRPC server: {e}"
                ))));
            }
            Err(_) => return Ok(failed(expired())),
        }
        let codec = DynamicCodec::new(method.output.clone());
        let path = method.path.clone();
        Ok(if method.server_streaming {
            match tokio::time::timeout_at(deadline, grpc.server_streaming(request, path, codec)).await {
                Ok(Ok(res)) => idle_limited(res.into_inner(), timeout),
                Ok(Err(s)) => failed(s),
                Err(_) => failed(expired()),
            }
        } else {
            match tokio::time::timeout_at(deadline, grpc.unary(request, path, codec)).await {
                Ok(Ok(res)) => {
                    let json = to_json(res.into_inner());
                    futures::stream::once(async move { Ok(json) }).boxed()
                }
                Ok(Err(s)) => failed(s),
                Err(_) => failed(expired()),
            }
        })
    }
}

/// A reply as JSON text (proto3's JSON mapping).
fn to_json(m: DynamicMessage) -> String {
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

/// Why a call was ended on this side after `timeout` with no answer.
fn expired(timeout: Duration) -> tonic::Status {
    tonic::Status::deadline_exceeded(format!("the gRPC server did not answer within {timeout:?}"))
}

/// `replies` as JSON, ended by `DEADLINE_EXCEEDED` when `idle` passes with
/// no reply (dropping the stream cancels the call on the server).
fn idle_limited(
    replies: tonic::Streaming<DynamicMessage>,
    idle: Duration,
) -> BoxStream<'static, Result<String, tonic::Status>> {
    futures::stream::unfold(Some(replies), move |replies| async move {
        let mut replies = replies?;
        match tokio::time::timeout(idle, replies.next()).await {
            Ok(Some(reply)) => Some((reply.map(to_json), Some(replies))),
            Ok(None) => None,
            Err(_) => Some((Err(expired(idle)), None)),
        }
    })
    .boxed()
}

/// The channel to a gRPC server at `url`: plain HTTP/2 for `http://`,
/// TLS for `https://` with the platform's roots or the backend's CA, and
/// its client certificate if it has one.
pub fn channel(url: &str, tls: &TlsSettings, secrets: &Secrets) -> Result<Channel, LinkError> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| LinkError(format!("{url:?} is not a gRPC URL: {e}")))?
        .connect_timeout(Duration::from_secs(10));
    if url.starts_with("https://") {
        if tls.insecure_skip_verify {
            return Err(LinkError(
                "insecure_skip_verify is not offered for gRPC backends; give the backend's CA instead".into(),
            ));
        }
        let mut config = ClientTlsConfig::new().with_native_roots();
        if !tls.ca_pem.is_empty() {
            config = config.ca_certificate(Certificate::from_pem(&tls.ca_pem));
        }
        if !tls.client_cert_pem.is_empty() {
            config = config.identity(Identity::from_pem(&tls.client_cert_pem, &secrets.client_key_pem));
        }
        endpoint = endpoint
            .tls_config(config)
            .map_err(|e| LinkError(format!("the backend's TLS settings cannot be used: {e}")))?;
    }
    Ok(endpoint.connect_lazy())
}

/// The result of a call whose replies were `replies` (JSON messages): a
/// unary method's one reply, as text and as structured content; a
/// streaming method's, all of them.
pub fn result(replies: &[String], streaming: bool) -> String {
    let structured = if streaming {
        format!("{{\"messages\":[{}]}}", replies.join(","))
    } else {
        replies.first().cloned().unwrap_or_else(|| "{}".into())
    };
    let text = if streaming {
        format!("[{}]", replies.join(","))
    } else {
        structured.clone()
    };
    format!(
        r#"{{"content":[{{"type":"text","text":{}}}],"structuredContent":{structured}}}"#,
        serde_json::Value::String(text)
    )
}

/// A gRPC status as a tool error.
pub fn status_result(status: &tonic::Status) -> String {
    let text = format!("gRPC status {:?}: {}", status.code(), status.message());
    format!(
        r#"{{"content":[{{"type":"text","text":{}}}],"isError":true}}"#,
        serde_json::Value::String(text)
    )
}
