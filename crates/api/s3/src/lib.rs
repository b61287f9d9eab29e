//! The S3 API: buckets are the namespaces a caller may use, keys are object names (and, inside a
//! directory object `ds`, `ds/<path>` for each of its files, read-only). Served on a listener of
//! its own (`fedml server --s3-listen`), path-style always and virtual-host style under
//! [`S3Options::domain`].
//!
//! The protocol is s3s's: SigV4 (headers, presigned URLs, `aws-chunked` bodies with or without
//! trailers), routing, the XML of every request and answer, typed inputs and outputs. This crate
//! gives s3s the secrets of S3 access keys (each derived from an API key: `auth`) and implements
//! the operations (`service`: `buckets`, `objects`, `writes`, `multipart`, `listing`), each one
//! platform call as every front end makes them; every error the platform answers becomes an S3
//! error in one place (`errors`). Request bodies reach the platform's intake as streams checked
//! against their S3 checksums (`body`); object bytes leave as streams read from the store.
//!
//! Architecture invariant: as every front end, it imports no other front end, and decides
//! nothing the platform decides (who may do what is [`Platform::namespace`] and each operation's
//! own check).

mod auth;
mod body;
mod buckets;
mod errors;
mod listing;
mod multipart;
mod objects;
mod service;
mod writes;

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use fedml_api_common::requests::RouteLabel;
use fedml_platform::Platform;
use futures_util::future::BoxFuture;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::host::SingleDomain;
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::validation::NameValidation;

use crate::auth::{Access, Keys, REQUEST, SharedSlot};

/// How the S3 API is served.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// The domain under which `BUCKET.DOMAIN` names a bucket (virtual-host style requests);
    /// `None`: path-style only.
    pub domain: Option<String>,
}

/// The operations, over the platform.
pub(crate) struct Fedml {
    pub(crate) platform: Arc<Platform>,
}

/// Bucket names are namespace names: a user's (1 to 64 characters without spaces) or an
/// organisation's. Which exist is the platform's to say; this only keeps out what no namespace
/// can be called.
struct Namespaces;

impl NameValidation for Namespaces {
    fn validate_bucket_name(&self, name: &str) -> bool {
        !name.is_empty() && name.len() <= 255 && !name.chars().any(|c| c.is_control() || c.is_whitespace())
    }
}

/// The most bytes of XML a request body may hold (a completion of 10,000 parts, a
/// DeleteObjects of 1,000 long keys).
const XML_MAX_BODY: usize = 8 << 20;

/// The S3 API over `platform`, as a router of its own (its listener's): every path is S3's.
pub fn router(platform: Arc<Platform>, options: &S3Options) -> Result<Router, String> {
    let mut builder = S3ServiceBuilder::new(Fedml { platform: platform.clone() });
    builder.set_auth(Keys { platform: platform.clone() });
    builder.set_access(Access { platform });
    builder.set_validation(Namespaces);
    let mut config = S3Config::default();
    config.xml_max_body_size = XML_MAX_BODY;
    // Browser form uploads (POST Object) are not served: none of their file is read.
    config.post_object_max_file_size = 0;
    config.form_max_field_size = 64 << 10;
    config.form_max_fields_size = 256 << 10;
    config.form_max_parts = 64;
    builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
    if let Some(domain) = &options.domain {
        let host = SingleDomain::new(domain).map_err(|e| format!("--s3-domain {domain:?}: {e}"))?;
        builder.set_host(host);
    }
    Ok(Router::new().fallback_service(Endpoint { inner: builder.build() }))
}

/// The most of a refused XML body read before the refusal is answered.
const DRAINED: usize = 64 << 20;

/// The refusal of a POST whose XML body is larger than [`XML_MAX_BODY`] (a DeleteObjects, a
/// completion): s3s reads such bodies whole, and answers one that is too large with a 500.
fn too_much_xml(request: &Request) -> Option<Response> {
    let form = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("multipart/form-data"));
    let length = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())?;
    if request.method() != axum::http::Method::POST || form || length <= XML_MAX_BODY {
        return None;
    }
    let error = s3s::S3Error::with_message(
        s3s::S3ErrorCode::MaxMessageLengthExceeded,
        format!("the request's XML body has {length} bytes; this server reads at most {XML_MAX_BODY}"),
    );
    error.to_http_response().ok().map(|r| r.map(Body::new))
}

/// An answer that is partial content (a HEAD of a range or a part), which s3s answers 200.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartialContent;

/// s3s's service as the router takes it: each request runs with its [`auth::Slot`], and its
/// answer carries the S3 operation it was (the label of its metrics and log line).
#[derive(Clone)]
struct Endpoint {
    inner: S3Service,
}

impl tower::Service<Request> for Endpoint {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let mut inner = self.inner.clone();
        if let Some(refusal) = too_much_xml(&request) {
            return Box::pin(async move {
                // Read (and drop) what the client sends, up to a bound, so that it reads the
                // refusal rather than a connection reset while it is still sending.
                let mut body = request.into_body().into_data_stream();
                let mut read = 0usize;
                while read <= DRAINED {
                    match futures_util::StreamExt::next(&mut body).await {
                        Some(Ok(piece)) => read += piece.len(),
                        _ => break,
                    }
                }
                Ok(refusal)
            });
        }
        Box::pin(async move {
            let slot = SharedSlot::default();
            let answered = REQUEST.scope(slot.clone(), tower::Service::call(&mut inner, request)).await;
            let mut response = match answered {
                Ok(response) => response.map(Body::new),
                Err(e) => {
                    tracing::error!(error = ?e, "the S3 service failed a request");
                    let error = errors::s3(fedml_platform::Error::Internal(format!("{e:?}")), errors::On::Bucket);
                    match error.to_http_response() {
                        Ok(response) => response.map(Body::new),
                        Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                    }
                }
            };
            if response.status().is_client_error() || response.status().is_server_error() {
                response = errors::with_message(response).await;
            }
            if response.extensions().get::<PartialContent>().is_some() {
                *response.status_mut() = axum::http::StatusCode::PARTIAL_CONTENT;
            }
            let operation = slot.lock().unwrap_or_else(PoisonError::into_inner).operation.take();
            response.extensions_mut().insert(RouteLabel(format!("S3 {}", operation.as_deref().unwrap_or("(unknown)"))));
            Ok(response)
        })
    }
}
