//! Who is calling: an S3 access key is an API key's ([`Platform::s3_caller`]), its secret derived
//! from it. s3s checks the signature (SigV4 in headers, presigned URLs, `aws-chunked` bodies)
//! with the secret [`Keys`] answers; [`Access`] then refuses what is not SigV4 and anonymous
//! requests, and hands the operation the [`Caller`] the key acts as (in the request's
//! extensions). The key is read once per request: the lookup made for the secret is kept for the
//! request in a task-local [`Slot`] set by the endpoint around each request.

use std::sync::{Arc, Mutex, PoisonError};

use fedml_platform::{Caller, Platform};
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use crate::errors::{On, s3};

/// What one request learnt before its operation ran: the caller its key acts as, the operation.
#[derive(Default)]
pub(crate) struct Slot {
    caller: Option<(String, Caller)>,
    pub(crate) operation: Option<String>,
}

pub(crate) type SharedSlot = Arc<Mutex<Slot>>;

tokio::task_local! {
    pub(crate) static REQUEST: SharedSlot;
}

fn with_slot<T>(f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
    REQUEST.try_with(|slot| f(&mut slot.lock().unwrap_or_else(PoisonError::into_inner))).ok()
}

/// The secrets of S3 access keys: each an API key's, read now (revoked keys answer none).
pub(crate) struct Keys {
    pub(crate) platform: Arc<Platform>,
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.platform.s3_caller(access_key).await {
            Ok((secret, caller)) => {
                with_slot(|slot| slot.caller = Some((access_key.to_string(), caller)));
                Ok(SecretKey::from(secret))
            }
            Err(fedml_platform::Error::NotFound(m)) => Err(S3Error::with_message(S3ErrorCode::InvalidAccessKeyId, m)),
            Err(e) => Err(s3(e, On::Bucket)),
        }
    }
}

/// Every request must be signed with SigV4 by a live key; the operation finds its caller in
/// the request's extensions.
pub(crate) struct Access {
    pub(crate) platform: Arc<Platform>,
}

/// Whether a request is signed with Signature Version 2 (a header `AWS id:sig`, or a presigned
/// URL's `Signature` without SigV4's `X-Amz-Signature`).
fn signed_v2(cx: &S3AccessContext<'_>) -> bool {
    let header = cx.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let query = cx.uri().query().unwrap_or_default();
    let has = |name: &str| query.split('&').any(|pair| pair.split('=').next() == Some(name));
    header.starts_with("AWS ") || (has("Signature") && !has("X-Amz-Signature"))
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let operation = cx.s3_op().name().to_string();
        with_slot(|slot| slot.operation = Some(operation));
        if signed_v2(cx) {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "this server takes AWS Signature Version 4 only; configure the client to sign with SigV4",
            ));
        }
        let Some(access_key) = cx.credentials().map(|c| c.access_key.clone()) else {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "anonymous requests are refused: sign requests with the credentials `fedml storage s3-credentials` \
                 prints",
            ));
        };
        let known = with_slot(|slot| slot.caller.take()).flatten().filter(|(key, _)| *key == access_key);
        let caller = match known {
            Some((_, caller)) => caller,
            None => match self.platform.s3_caller(&access_key).await {
                Ok((_, caller)) => caller,
                Err(fedml_platform::Error::NotFound(m)) => {
                    return Err(S3Error::with_message(S3ErrorCode::InvalidAccessKeyId, m));
                }
                Err(e) => return Err(s3(e, On::Bucket)),
            },
        };
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}

/// The caller of a request that passed [`Access`].
pub(crate) fn caller<T>(req: &S3Request<T>) -> S3Result<Caller> {
    req.extensions.get::<Caller>().cloned().ok_or_else(|| {
        S3Error::with_message(S3ErrorCode::AccessDenied, "the request's key was not checked; sign it with SigV4")
    })
}
