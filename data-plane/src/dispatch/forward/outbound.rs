//! How a forwarded request reaches its backend, by the backend's kind: in
//! a pooled Streamable HTTP session, statelessly, in an HTTP+SSE session
//! of its own, or over a standing channel (stdio, WebSocket).

use std::sync::Arc;

use crate::{
    Gateway,
    routing::BackendRoute,
    upstream::{
        Endpoint, EventStream, InFlight, Link, Outgoing, Owner, Sent, UpstreamError, UpstreamSession,
        channel::ChannelBackend,
    },
};

/// A request on its way to a backend.
pub(super) enum Outbound {
    /// In the backend's pooled Streamable HTTP session; the POST answers.
    Pooled(Sent),
    /// In a 2024-11-05 HTTP+SSE session of its own; the stream answers.
    Legacy {
        id: u64,
        in_flight: InFlight,
        session: Arc<UpstreamSession>,
        stream: EventStream,
    },
}

/// Sends the request to a stateless backend's endpoint: no session to
/// open or keep, only the backend's share of this node's capacity.
pub(super) async fn send_stateless(
    gw: &Arc<Gateway>,
    backend: &BackendRoute,
    endpoint: &Endpoint,
    build: impl Fn(&Arc<UpstreamSession>, u64) -> Outgoing,
) -> Result<Outbound, UpstreamError> {
    let in_flight = gw.upstream.claim(&backend.id, &endpoint.link)?;
    let session = endpoint.stateless_session()?;
    let id = session.next_id();
    let response = endpoint
        .link
        .client
        .post(&session.endpoint, Some(&session), build(&session, id))
        .await?;
    Ok(Outbound::Pooled(Sent {
        id,
        response,
        in_flight,
        session,
        side: None,
    }))
}

/// Opens a legacy session at one endpoint (`link`) for one call and sends
/// the request in it.
pub(super) async fn send_legacy(
    gw: &Arc<Gateway>,
    backend: &BackendRoute,
    link: &Arc<Link>,
    owner: Option<Owner>,
    build: impl Fn(&Arc<UpstreamSession>, u64) -> Outgoing,
) -> Result<Outbound, UpstreamError> {
    let in_flight = gw.upstream.claim(&backend.id, link)?;
    let client = &link.client;
    let (session, stream) = client.open_legacy(&link.url, owner.map(|o| o.caps)).await?;
    let session = Arc::new(session);
    let id = session.next_id();
    client
        .post(&session.endpoint, Some(&session), build(&session, id))
        .await?;
    Ok(Outbound::Legacy {
        id,
        in_flight,
        session,
        stream,
    })
}

/// Sends the request over a backend's standing channel (a stdio child, a
/// WebSocket), in the one session it carries; what comes back for the
/// request arrives as an event stream.
pub(super) async fn send_channel(
    gw: &Arc<Gateway>,
    backend: &BackendRoute,
    channel: &ChannelBackend,
    build: impl Fn(&Arc<UpstreamSession>, u64) -> Outgoing,
) -> Result<Outbound, UpstreamError> {
    let in_flight = gw.upstream.claim(&backend.id, backend.link())?;
    let session = channel.session().await?;
    let pipe = session.pipe.as_ref().expect("a channel's session has a pipe");
    let id = session.next_id();
    let stream = pipe.expect(id);
    pipe.send(build(&session, id).body).await?;
    Ok(Outbound::Legacy {
        id,
        in_flight,
        session,
        stream,
    })
}
