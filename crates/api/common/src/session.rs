//! The dashboard session's cookie and the checks its state-changing requests pass: from the
//! dashboard's own origin, carrying the session's CSRF token.

use axum::http::{HeaderMap, HeaderValue, header};

use fedml_platform::Error;

/// The cookie that holds a dashboard session's token.
pub const COOKIE: &str = "fedml_session";
/// The header a session's state-changing requests carry its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session token of the request's cookie, when it has one of the right shape (64 hex digits).
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, token)| token.trim())
        .filter(|token| token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that hands the browser its session (HttpOnly: no script reads it;
/// SameSite=Strict: no other site's page sends it; Secure over HTTPS), or that clears it
/// (`max_age` 0).
pub fn cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let text = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}", max_age.max(0));
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("fedml_session=; Max-Age=0"))
}

/// Refuses a request a browser sent from another origin: its `Sec-Fetch-Site` must say
/// same-origin (or a typed address), and its `Origin`, when sent, must name the host it was sent
/// to.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), Error> {
    let refuse = || Error::Forbidden("this request came from another site; use the dashboard's own page".into());
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.to_str(), Ok("same-origin") | Ok("none"))
    {
        return Err(refuse());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().map_err(|_| refuse())?;
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or_else(refuse)?;
        let authority = origin.split_once("://").map(|(_, rest)| rest).ok_or_else(refuse)?;
        if !authority.eq_ignore_ascii_case(host) {
            return Err(refuse());
        }
    }
    Ok(())
}

/// Refuses a session's state-changing request without the session's CSRF token.
pub fn check_csrf(headers: &HeaderMap, expected: &str) -> Result<(), Error> {
    let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if presented.is_empty() || !fedml_platform::keys::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        return Err(Error::Forbidden(
            "this dashboard request lacks its session's CSRF token (X-CSRF-Token); reload the page".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        map
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_checked_for_shape() {
        let token = "a".repeat(64);
        let h = headers(&[("cookie", &format!("theme=dark; {COOKIE}={token}; x=1"))]);
        assert_eq!(session_token(&h), Some(token.as_str()));
        assert_eq!(session_token(&headers(&[("cookie", "fedml_session=abc")])), None);
        assert_eq!(session_token(&headers(&[("cookie", &format!("other_session={token}"))])), None);
    }

    #[test]
    fn cross_site_requests_are_refused() {
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:8780")])).is_ok());
        let same = [("host", "127.0.0.1:8780"), ("origin", "http://127.0.0.1:8780"), ("sec-fetch-site", "same-origin")];
        assert!(check_same_origin(&headers(&same)).is_ok());
        assert!(check_same_origin(&headers(&[("host", "127.0.0.1:8780"), ("origin", "http://evil.example")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "a"), ("sec-fetch-site", "cross-site")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "a"), ("sec-fetch-site", "same-site")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "a"), ("origin", "null")])).is_err());
    }

    #[test]
    fn the_csrf_token_must_match() {
        assert!(check_csrf(&headers(&[(CSRF_HEADER, "abc")]), "abc").is_ok());
        assert!(check_csrf(&headers(&[(CSRF_HEADER, "abd")]), "abc").is_err());
        assert!(check_csrf(&HeaderMap::new(), "abc").is_err());
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = cookie(&"b".repeat(64), 60, true);
        let text = c.to_str().expect("ascii");
        for part in ["HttpOnly", "SameSite=Strict", "Max-Age=60", "Secure", "Path=/"] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!cookie("x", 0, false).to_str().expect("ascii").contains("Secure"));
    }
}
