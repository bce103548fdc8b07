//! Tools of backends that are not MCP servers (REST APIs, gRPC servers):
//! the gateway makes each call itself, within the backend's share of
//! in-flight calls, and answers with an MCP tool result. A gRPC method that
//! streams its replies, called with a progress token, answers as an event
//! stream: each reply a progress notification as it arrives, then the
//! result holding them all.

use std::sync::Arc;

use futures::{StreamExt, stream::BoxStream};
use serde_json::value::RawValue;
use tracing::Instrument;

use super::{Reply, forward::backend_error, routed::Target};
use crate::{
    Gateway,
    cache::Fill,
    error::{ErrorKind, McpError},
    jsonrpc,
    routing::Route,
    upstream::{
        InFlight,
        grpc::{self, GrpcBackend, GrpcCallError},
        link::Api,
    },
};

/// One call of a tool of an [`Api`] backend.
pub struct Call<'a> {
    pub id: &'a RawValue,
    pub route: &'a Route,
    pub arguments: Option<&'a RawValue>,
    pub progress_token: Option<&'a RawValue>,
    pub target: &'a Target<'a>,
}

impl Call<'_> {
    pub async fn run(&self, gw: &Arc<Gateway>, api: &Api, fill: Option<Fill>) -> Result<Reply, McpError> {
        let span = crate::telemetry::spans::upstream(&self.route.backend.name, "tools/call");
        self.run_in(gw, api, fill).instrument(span).await
    }

    async fn run_in(&self, gw: &Arc<Gateway>, api: &Api, fill: Option<Fill>) -> Result<Reply, McpError> {
        let backend = &self.route.backend;
        let failed = |e| backend_error(&backend.name, self.target, e);
        let in_flight = gw.upstream.claim(&backend.id, backend.link()).map_err(failed)?;
        let result = match api {
            Api::Rest(rest) => rest
                .call(&backend.link().client, &self.route.name, self.arguments)
                .await
                .map_err(failed)?,
            Api::Grpc(grpc) => {
                let cap = gw.limits.max_body_bytes;
                match self.grpc(grpc, in_flight, cap).await? {
                    Answer::Whole(result) => result,
                    Answer::Streamed(streamed) => return Ok(streamed.into_reply()),
                }
            }
        };
        if let Some(fill) = fill {
            fill.result(&result);
        }
        Ok(Reply::Message(jsonrpc::result_response(self.id, &result)))
    }

    /// Calls a gRPC method: its whole result, or (streaming, with a
    /// progress token) the stream of its replies. Replies past `cap` bytes
    /// in all end the call with a tool error.
    async fn grpc(&self, grpc: &GrpcBackend, in_flight: InFlight, cap: usize) -> Result<Answer, McpError> {
        let name = &self.route.name;
        let mut replies = grpc
            .call(&self.route.backend.link().client, name, self.arguments)
            .await
            .map_err(|e| match e {
                GrpcCallError::Arguments(why) => McpError::new(
                    ErrorKind::InvalidParams,
                    format!("Invalid arguments for {}: {why}", self.target),
                ),
                GrpcCallError::UnknownTool(_) => {
                    McpError::new(ErrorKind::InvalidParams, format!("Unknown tool: {}", self.target))
                }
                GrpcCallError::Upstream(e) => backend_error(&self.route.backend.name, self.target, e),
            })?;
        let streaming = grpc.streams(name);
        let Some(token) = self.progress_token.filter(|_| streaming) else {
            let mut all = Replies::new(cap);
            while let Some(reply) = replies.next().await {
                match reply.map_err(|s| grpc::status_result(&s)).and_then(|m| all.push(m)) {
                    Ok(()) => {}
                    Err(tool_error) => return Ok(Answer::Whole(tool_error)),
                }
            }
            drop(in_flight);
            return Ok(Answer::Whole(grpc::result(&all.list, streaming)));
        };
        Ok(Answer::Streamed(Streamed {
            replies,
            token: token.to_owned(),
            id: self.id.to_owned(),
            in_flight,
            cap,
        }))
    }
}

/// What a gRPC call answers.
enum Answer {
    /// The result, whole.
    Whole(String),
    Streamed(Streamed),
}

/// Replies still coming, each to go out as a progress notification; the
/// call's claim on the backend is held until the last.
struct Streamed {
    replies: BoxStream<'static, Result<String, tonic::Status>>,
    token: Box<RawValue>,
    id: Box<RawValue>,
    in_flight: InFlight,
    cap: usize,
}

impl Streamed {
    fn into_reply(self) -> Reply {
        let Streamed {
            replies,
            token,
            id,
            in_flight,
            cap,
        } = self;
        let state = (replies, Replies::new(cap), false, in_flight);
        let events = futures::stream::unfold(state, move |(mut replies, mut all, done, in_flight)| {
            let (token, id) = (token.clone(), id.clone());
            async move {
                if done {
                    return None;
                }
                let (message, done) = match replies.next().await {
                    Some(Ok(reply)) => match all.push(reply.clone()) {
                        Ok(()) => (progress(&token, all.list.len(), &reply), false),
                        Err(tool_error) => (jsonrpc::result_response(&id, &tool_error), true),
                    },
                    Some(Err(status)) => (jsonrpc::result_response(&id, &grpc::status_result(&status)), true),
                    None => (jsonrpc::result_response(&id, &grpc::result(&all.list, true)), true),
                };
                Some((message, (replies, all, done, in_flight)))
            }
        });
        Reply::Stream(events.boxed())
    }
}

/// A gRPC reply as `notifications/progress`: the count so far, and the
/// reply (JSON) as the message.
fn progress(token: &RawValue, n: usize, reply: &str) -> Vec<u8> {
    let params = format!(
        r#"{{"progressToken":{},"progress":{n},"message":{}}}"#,
        token.get(),
        serde_json::Value::String(reply.to_owned())
    );
    jsonrpc::notification("notifications/progress", Some(&params))
}

/// The replies collected for the result, bounded in bytes.
struct Replies {
    list: Vec<String>,
    bytes: usize,
    cap: usize,
}

impl Replies {
    fn new(cap: usize) -> Self {
        Self {
            list: Vec::new(),
            bytes: 0,
            cap,
        }
    }

    /// Keeps `reply`, or the tool error of a call whose replies outgrew the
    /// bound.
    fn push(&mut self, reply: String) -> Result<(), String> {
        self.bytes += reply.len();
        if self.bytes > self.cap {
            let status = tonic::Status::resource_exhausted(format!(
                "the replies came to more than {} bytes, more than one tool result may hold",
                self.cap
            ));
            return Err(grpc::status_result(&status));
        }
        self.list.push(reply);
        Ok(())
    }
}
