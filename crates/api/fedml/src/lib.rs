//! HTTP for existing FedML SDK 0.9.6 code in its "local" (on-premise) mode: the routes and
//! answers that SDK expects (always HTTP 200 with `{code, message, data}`, integer `fileSize`,
//! `data: true` on heartBeat). Each handler authenticates — by the body's `apiKey` on
//! heartBeat/getUser, by the Bearer key elsewhere — and calls one `Platform` operation.
//!
//! The SDK deletes and reads user metadata through boto3 with credentials it fetches, unsigned,
//! from `configs/fetch`. This server never hands out storage credentials: `configs/fetch` answers
//! a public, powerless key for a no-op endpoint (`/fedml-s3-noop`) whose DELETE does nothing (the
//! SDK's authenticated dataset DELETE that follows removes record and blob) and whose HEAD is
//! refused (so the SDK's user-metadata call fails cleanly instead of leaking anyone's data;
//! `fedml storage get-user-metadata` and the native API answer it truthfully).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use fedml_proto::ObjectMeta;
use serde::Deserialize;
use serde_json::{Value, json};

use fedml_api_common::AppState;
use fedml_api_common::bodies::KEY_BODY_LIMIT;
use fedml_platform::operations::ListRequest;
use fedml_platform::{Caller, Error};

mod bodies;

use bodies::{CompleteBody, DatasetBody, KeyBody};

pub const NOOP_S3_PATH: &str = "/fedml-s3-noop";
/// Not a secret: it grants nothing.
pub const NOOP_S3_KEY: &str = "fedml-public-noop";

pub fn router() -> Router<AppState> {
    Router::new()
        // These two read their key from the body, before anyone is authenticated: small bodies.
        .route(
            "/fedmlOpsServer/api/v1/cli/heartBeat",
            post(handle_heartbeat).layer(DefaultBodyLimit::max(KEY_BODY_LIMIT)),
        )
        .route("/fedmlOpsServer/api/v1/cli/getUser", post(handle_get_user).layer(DefaultBodyLimit::max(KEY_BODY_LIMIT)))
        .route("/system/api/v1/cli/oss/multipart/presigned-url", get(handle_presign))
        .route("/system/api/v1/cli/oss/multipart/upload/complete", post(handle_complete))
        .route("/fedmlOpsServer/api/v1/cli/dataset", post(handle_create_dataset).delete(handle_delete_dataset))
        .route("/fedmlOpsServer/api/v1/cli/dataset/list", get(handle_list_datasets))
        .route("/fedmlOpsServer/api/v1/cli/dataset/meta", get(handle_dataset_meta))
        .route("/fedmlOpsServer/configs/fetch", post(handle_configs_fetch))
        .route("/fedml-s3-noop/{*rest}", any(handle_noop_s3))
}

/// The SDK treats any code but FAILURE as success, so every refusal and every breakage is a
/// FAILURE here, with HTTP 200 as the SDK requires.
fn reply(result: Result<Value, Error>) -> Response {
    let body = match result {
        Ok(data) => json!({"code": "SUCCESS", "message": "", "data": data}),
        Err(e) => json!({"code": "FAILURE", "message": failure_message(&e), "data": null}),
    };
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// What a FAILURE says: the refusal, or for a breakage only that it happened and the request's
/// id (the cause goes to the log).
fn failure_message(e: &Error) -> String {
    match e {
        Error::Internal(cause) => {
            tracing::error!(%cause, "FedML-compatible request failed");
            fedml_api_common::requests::internal_error_message()
        }
        other => other.to_string(),
    }
}

fn body(json: Result<axum::Json<Value>, JsonRejection>) -> Result<Value, Error> {
    json.map(|axum::Json(v)| v).map_err(|e| Error::Invalid(format!("the request body is not JSON: {}", e.body_text())))
}

/// The caller of the routes that take the Bearer key, authenticated from the headers before the
/// body is read; refused as the SDK expects (HTTP 200, FAILURE).
struct BearerCaller(Caller);

impl FromRequestParts<AppState> for BearerCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, p: &AppState) -> Result<Self, Response> {
        let key = fedml_api_common::bearer_key(&parts.headers).map_err(|e| reply(Err(e)))?;
        p.authenticate(key).await.map(BearerCaller).map_err(|e| reply(Err(e)))
    }
}

/// A dataset as the SDK reads it (`StorageMetadata`).
fn dataset(meta: ObjectMeta) -> Value {
    json!({
        "datasetName": meta.data_name,
        "description": meta.description,
        "createTime": meta.created_at,
        "updateTime": meta.updated_at,
        "fileSize": meta.size,
        "tags": meta.tags,
        "fileUrl": meta.download_url,
        "kind": meta.kind.as_str(),
        "checksum": meta.checksum,
    })
}

async fn handle_heartbeat(State(p): State<AppState>, json: Result<axum::Json<Value>, JsonRejection>) -> Response {
    let result = async {
        let key = KeyBody::parse(&body(json)?)?;
        p.authenticate(key.api_key.as_deref()).await?;
        Ok::<_, Error>(Value::Bool(true))
    }
    .await;
    match result {
        Ok(v) => reply(Ok(v)),
        // The SDK reads `data: false` as "key refused".
        Err(e) => {
            (StatusCode::OK, axum::Json(json!({"code": "FAILURE", "message": failure_message(&e), "data": false})))
                .into_response()
        }
    }
}

async fn handle_get_user(State(p): State<AppState>, json: Result<axum::Json<Value>, JsonRejection>) -> Response {
    reply(
        async {
            // The body's key only: the SDK sends a stale Authorization header here.
            let key = KeyBody::parse(&body(json)?)?;
            let caller = p.authenticate(key.api_key.as_deref()).await?;
            Ok(json!({"id": caller.user_id, "userName": caller.user_name}))
        }
        .await,
    )
}

#[derive(Deserialize)]
struct PresignQuery {
    #[serde(rename = "fileKey")]
    file_key: String,
    #[serde(rename = "partNumber")]
    part_number: u32,
}

async fn handle_presign(
    State(p): State<AppState>,
    BearerCaller(caller): BearerCaller,
    query: Result<Query<PresignQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    reply(
        async {
            let Query(q) = query.map_err(|e| Error::Invalid(e.body_text()))?;
            let presigned = p.compat_presign(&caller, &q.file_key, q.part_number).await?;
            Ok(json!({"uploadId": presigned.upload_id, "urls": presigned.urls}))
        }
        .await,
    )
}

async fn handle_complete(
    State(p): State<AppState>,
    BearerCaller(caller): BearerCaller,
    json: Result<axum::Json<Value>, JsonRejection>,
) -> Response {
    reply(
        async {
            let b = CompleteBody::parse(&body(json)?)?;
            let url = p.compat_complete(&caller, &b.file_key, &b.upload_id, b.parts).await?;
            Ok(Value::String(url))
        }
        .await,
    )
}

async fn handle_create_dataset(
    State(p): State<AppState>,
    BearerCaller(caller): BearerCaller,
    json: Result<axum::Json<Value>, JsonRejection>,
) -> Response {
    reply(
        async {
            let b = DatasetBody::parse(&body(json)?)?;
            let meta = p.compat_create_dataset(&caller, &b.dataset_name, b.description, b.tags, &b.file_url).await?;
            Ok(dataset(meta))
        }
        .await,
    )
}

async fn handle_list_datasets(State(p): State<AppState>, BearerCaller(caller): BearerCaller) -> Response {
    reply(
        async {
            let mut all = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page = p
                    .list(
                        &caller,
                        None,
                        &ListRequest { after: after.as_deref(), limit: Some(10_000), ..Default::default() },
                    )
                    .await?;
                all.extend(page.objects.into_iter().map(dataset));
                match page.next {
                    Some(next) => after = Some(next),
                    None => return Ok(Value::Array(all)),
                }
            }
        }
        .await,
    )
}

async fn handle_dataset_meta(
    State(p): State<AppState>,
    BearerCaller(caller): BearerCaller,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    reply(
        async {
            let name = q.get("datasetName").ok_or_else(|| Error::Invalid("datasetName is missing".into()))?;
            Ok(dataset(p.object(&caller, None, name, None).await?))
        }
        .await,
    )
}

async fn handle_delete_dataset(
    State(p): State<AppState>,
    BearerCaller(caller): BearerCaller,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    reply(
        async {
            let name = q.get("datasetName").ok_or_else(|| Error::Invalid("datasetName is missing".into()))?;
            Ok(Value::Bool(p.delete(&caller, None, name, None).await?))
        }
        .await,
    )
}

/// Unauthenticated, as the SDK calls it: it gets only the public no-op key.
async fn handle_configs_fetch(State(p): State<AppState>) -> Response {
    let endpoint = format!("{}{NOOP_S3_PATH}", p.public_url().trim_end_matches('/'));
    let config = json!({
        "BUCKET_NAME": "fedml",
        "CN_S3_AKI": NOOP_S3_KEY,
        "CN_S3_SAK": NOOP_S3_KEY,
        "CN_S3_ENDPOINT": endpoint,
        "CN_REGION_NAME": "us-east-1",
    });
    reply(Ok(json!({"r2_config": config, "s3_config": config})))
}

/// DELETE: nothing to do here (the authenticated dataset DELETE removes record and blob).
/// Anything else: refused, since the caller cannot be known.
async fn handle_noop_s3(method: axum::http::Method) -> Response {
    if method == axum::http::Method::DELETE {
        return StatusCode::NO_CONTENT.into_response();
    }
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code>\
               <Message>This endpoint holds no data; use the FedML storage API with your API key.</Message></Error>";
    (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}
