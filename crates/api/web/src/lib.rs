//! The web dashboard, served by the server itself: its page and scripts (embedded in the
//! binary, see [`assets`]) and its session routes (`/api/v1/session`): an API key exchanged for
//! an HttpOnly cookie, the CSRF token the page sends back, sign-out. Everything else the page
//! does goes through the native API's routes, authenticated by the same `Caller`
//! extractor (cookie or key).

mod assets;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use fedml_proto::{Envelope, SessionInfo, SignIn};

use fedml_api_common::session::{self, check_csrf, check_same_origin, session_token};
use fedml_api_common::{ApiError, ApiJson, ApiPath, AppState};
use fedml_platform::Error;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(handle_page))
        .route("/ui/{file}", get(handle_asset))
        .route("/api/v1/session", get(handle_current).post(handle_sign_in).delete(handle_sign_out))
}

/// Headers every dashboard answer carries: nothing of it may be framed, sniffed or cached, and
/// no address is passed on.
fn harden(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The page's Content-Security-Policy: its own scripts and styles only (no inline script), never
/// framed, and requests to this server and to the stores whose signed URLs it hands out.
async fn content_security_policy(p: &AppState) -> String {
    let mut connect = vec!["'self'".to_string()];
    for service in p.service_names() {
        let Ok(store) = p.store(&service) else { continue };
        // The origin of the store's signed URLs, read off one (nothing is fetched).
        if let Ok(url) = store.get_url(&service, "dashboard/origin", fedml_platform::time::now_secs() + 60).await
            && let Ok(url) = url::Url::parse(&url)
        {
            let origin = url.origin().ascii_serialization();
            if origin != "null" && !connect.contains(&origin) {
                connect.push(origin);
            }
        }
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src {}; \
         form-action 'none'; base-uri 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

async fn handle_page(State(p): State<AppState>) -> Response {
    let mut response = assets::response("index.html").unwrap_or_else(|| StatusCode::NOT_FOUND.into_response());
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&p).await) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    harden(&mut response);
    response
}

async fn handle_asset(ApiPath(file): ApiPath<String>) -> Result<Response, ApiError> {
    let mut response =
        assets::response(&file).ok_or_else(|| Error::NotFound(format!("the dashboard has no file {file:?}")))?;
    harden(&mut response);
    Ok(response)
}

fn session_reply(message: &str, info: SessionInfo, cookie: Option<HeaderValue>) -> Response {
    let mut response = (StatusCode::OK, axum::Json(Envelope::success(message, info))).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    harden(&mut response);
    response
}

fn secure(p: &AppState) -> bool {
    p.public_url().starts_with("https://")
}

/// `POST /api/v1/session`: signs in with an API key (from this origin only).
async fn handle_sign_in(
    State(p): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<Response, ApiError> {
    check_same_origin(&headers)?;
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(ConnectInfo(addr))| addr.ip());
    let (token, info) = p.sign_in(body.api_key.trim(), peer).await?;
    let cookie = session::cookie(&token, p.lifetimes().session_secs, secure(&p));
    Ok(session_reply(&format!("signed in as {}", info.user), info, Some(cookie)))
}

fn no_session() -> Error {
    Error::Unauthorized("not signed in to the dashboard; sign in with an API key".into())
}

/// `GET /api/v1/session`: the signed-in session (with its CSRF token, which only this origin's
/// scripts can read).
async fn handle_current(State(p): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_token(&headers).ok_or_else(no_session)?;
    let (_, info) = p.session_caller(token).await?;
    Ok(session_reply(&format!("signed in as {}", info.user), info, None))
}

/// `DELETE /api/v1/session`: signs out; the session stops working on every instance at once.
async fn handle_sign_out(State(p): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_token(&headers).ok_or_else(no_session)?;
    let (_, info) = p.session_caller(token).await?;
    check_same_origin(&headers)?;
    check_csrf(&headers, &info.csrf_token)?;
    p.sign_out(token).await?;
    let cleared = session::cookie("", 0, secure(&p));
    Ok(session_reply("signed out", info, Some(cleared)))
}
