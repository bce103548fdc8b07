//! What a gRPC server offers, read through its server reflection
//! (`grpc.reflection.v1`, or `v1alpha` for servers that only have the
//! older one, as Python's grpcio-reflection long did): its services, the
//! files that define them, and every file those import, as one
//! `FileDescriptorSet` ordered so each file follows its imports.

use std::collections::{HashMap, HashSet};

use mcpgw_data_plane::upstream::{LinkError, McpHttpClient, TlsSettings, grpc, secrets::Secrets};
use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet};
use tonic::{Code, Status, metadata::MetadataMap, transport::Channel};

/// The longest reading a server's descriptors may take.
const REFLECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a gRPC server's services could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReflectError {
    /// The server answers, but offers no reflection.
    #[error(
        "the gRPC server at {0} does not offer server reflection (grpc.reflection.v1 or v1alpha); give its \
         descriptors instead (a FileDescriptorSet: protoc --include_imports --descriptor_set_out=FILE ...)"
    )]
    NoReflection(String),
    #[error("cannot reach the gRPC server at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("the gRPC server at {url} answered reflection with an error: {why}")]
    Failed { url: String, why: String },
    #[error("{0}")]
    Settings(#[from] LinkError),
}

/// The descriptors of every service the server at `url` reflects, as a
/// serialized `FileDescriptorSet`, and the services it lists (their files
/// may define more).
pub async fn reflect(
    url: &str,
    tls: &TlsSettings,
    secrets: &Secrets,
    client: &McpHttpClient,
) -> Result<(Vec<u8>, Vec<String>), ReflectError> {
    let channel = grpc::channel(url, tls, secrets)?;
    let headers = client
        .credential_headers(url)
        .await
        .map_err(|e| ReflectError::Unreachable {
            url: url.into(),
            why: e.to_string(),
        })?;
    let metadata = MetadataMap::from_headers(headers);
    let read = async {
        match v1(channel.clone(), &metadata).await {
            Err(s) if s.code() == Code::Unimplemented => v1alpha(channel, &metadata).await,
            other => other,
        }
    };
    let (mut files, mut listed) = tokio::time::timeout(REFLECTION_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| Err(Status::deadline_exceeded("reflection took too long")))
        .map_err(|s| match s.code() {
            Code::Unimplemented => ReflectError::NoReflection(url.into()),
            Code::Unavailable => ReflectError::Unreachable {
                url: url.into(),
                why: s.message().into(),
            },
            _ => ReflectError::Failed {
                url: url.into(),
                why: format!("{:?}: {}", s.code(), s.message()),
            },
        })?;
    // The same server read twice must give the same bytes (re-listing
    // compares them), whatever order its reflection answers in.
    files.sort_by(|a, b| a.name().cmp(b.name()));
    listed.sort_unstable();
    listed.dedup();
    Ok((FileDescriptorSet { file: ordered(files) }.encode_to_vec(), listed))
}

/// The files in an order where each follows the files it imports.
fn ordered(files: Vec<FileDescriptorProto>) -> Vec<FileDescriptorProto> {
    fn visit<'f>(
        name: &str,
        by_name: &HashMap<&str, &'f FileDescriptorProto>,
        done: &mut HashSet<String>,
        out: &mut Vec<&'f FileDescriptorProto>,
    ) {
        if !done.insert(name.to_owned()) {
            return;
        }
        let Some(file) = by_name.get(name) else { return };
        for dep in &file.dependency {
            visit(dep, by_name, done, out);
        }
        out.push(file);
    }
    let by_name: HashMap<&str, &FileDescriptorProto> = files.iter().map(|f| (f.name(), f)).collect();
    let mut done = HashSet::new();
    let mut out = Vec::new();
    for f in &files {
        visit(f.name(), &by_name, &mut done, &mut out);
    }
    out.into_iter().cloned().collect()
}

/// A gRPC backend's descriptors and filter, with the services it offers
/// named: those asked for, else those the server listed (`listed`, from
/// reflection), else every service in the descriptors. Checked: tools must
/// be made of them.
pub fn offer(
    descriptor_set: Vec<u8>,
    asked: Vec<String>,
    listed: Option<Vec<String>>,
) -> Result<mcpgw_proto::v1::GrpcServices, LinkError> {
    let pool = grpc::pool(&descriptor_set)?;
    let reflected = listed.is_some();
    let offered = match (asked.is_empty(), listed) {
        (false, _) => asked.clone(),
        (true, Some(listed)) => listed,
        (true, None) => grpc::offered_services(&pool),
    };
    grpc::tools(&pool, &offered)?;
    Ok(mcpgw_proto::v1::GrpcServices {
        descriptor_set,
        services: asked,
        reflected,
        offered,
    })
}

/// The tools of a registered gRPC backend, as catalog items.
pub fn items(grpc: &mcpgw_proto::v1::GrpcServices) -> Result<Vec<crate::registry::DiscoveredItem>, LinkError> {
    let pool = grpc::pool(&grpc.descriptor_set)?;
    let tools = grpc::tools(&pool, &grpc.offered)?;
    Ok(tools
        .into_iter()
        .map(|t| crate::registry::DiscoveredItem {
            kind: mcpgw_proto::v1::ItemKind::Tool,
            name: t.name,
            description: t.description,
            definition_json: t.definition_json,
        })
        .collect())
}

/// One reflection client per protocol version: the generated types differ,
/// the conversation is the same. It lists the services, asks for the file
/// of each, and for every import not yet seen.
macro_rules! reflection_client {
    ($name:ident, $pb:path) => {
        async fn $name(
            channel: Channel,
            metadata: &MetadataMap,
        ) -> Result<(Vec<FileDescriptorProto>, Vec<String>), Status> {
            use $pb::{
                ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
                server_reflection_request::MessageRequest as Ask,
                server_reflection_response::MessageResponse as Answer,
            };
            let ask = |m: Ask| ServerReflectionRequest {
                host: String::new(),
                message_request: Some(m),
            };
            let (tx, rx) = tokio::sync::mpsc::channel(4);
            let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
            *request.metadata_mut() = metadata.clone();
            let closed = || Status::unavailable("the reflection stream closed");
            tx.send(ask(Ask::ListServices(String::new())))
                .await
                .map_err(|_| closed())?;
            let mut answers = ServerReflectionClient::new(channel)
                .server_reflection_info(request)
                .await?
                .into_inner();
            let mut next = async || -> Result<Answer, Status> {
                let answer = answers.message().await?.ok_or_else(closed)?;
                match answer.message_response {
                    Some(Answer::ErrorResponse(e)) => Err(Status::new(Code::from(e.error_code), e.error_message)),
                    Some(a) => Ok(a),
                    None => Err(Status::internal("an empty reflection answer")),
                }
            };
            let listed: Vec<String> = match next().await? {
                Answer::ListServicesResponse(l) => l
                    .service
                    .into_iter()
                    .map(|s| s.name)
                    .filter(|s| !grpc::is_plumbing(s))
                    .collect(),
                _ => {
                    return Err(Status::internal(
                        "reflection answered list_services with something else",
                    ))
                }
            };
            let mut wanted: Vec<Ask> = listed.iter().cloned().map(Ask::FileContainingSymbol).collect();
            let mut asked: HashSet<String> = HashSet::new();
            let mut files: Vec<FileDescriptorProto> = Vec::new();
            while let Some(want) = wanted.pop() {
                let import = matches!(want, Ask::FileByFilename(_));
                tx.send(ask(want)).await.map_err(|_| closed())?;
                let found = match next().await {
                    // An import the server does not serve (a well-known
                    // type): the gateway has those of its own.
                    Err(s) if import && s.code() == Code::NotFound => continue,
                    found => found?,
                };
                let Answer::FileDescriptorResponse(found) = found else {
                    return Err(Status::internal(
                        "reflection answered a file request with something else",
                    ));
                };
                for bytes in found.file_descriptor_proto {
                    let file = FileDescriptorProto::decode(bytes.as_slice())
                        .map_err(|e| Status::internal(format!("reflection sent a file that does not parse: {e}")))?;
                    if files.iter().any(|f| f.name() == file.name()) {
                        continue;
                    }
                    asked.insert(file.name().to_owned());
                    for dep in &file.dependency {
                        if asked.insert(dep.clone()) {
                            wanted.push(Ask::FileByFilename(dep.clone()));
                        }
                    }
                    files.push(file);
                }
            }
            Ok((files, listed))
        }
    };
}

reflection_client!(v1, tonic_reflection::pb::v1);
reflection_client!(v1alpha, tonic_reflection::pb::v1alpha);
