//! The matrix of the route isolation test: what every route of every front end must answer each
//! kind of caller but the owner, and the check that it names every route the front ends and the
//! server declare (read from their source), so that no route can be added without a row.

use super::*;

/// What a cell's answer must be.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Expect {
    /// Open to anyone; the same answer whoever asks; nothing of alice's in it.
    Public,
    /// Succeeds on the caller's own account; nothing of alice's in it.
    Own,
    /// Alice's read-only key reading alice's data: succeeds.
    Yes,
    /// Refused with this HTTP status and FAILURE, exactly as for data that does not exist.
    No(u16),
    /// FedML-compatible: HTTP 200 with FAILURE (the SDK takes any other code for success),
    /// exactly as for data that does not exist.
    Fail,
    /// A blob URL without signature: 401 where the local store serves it, 404 where the
    /// service is a bucket (its bytes are not served here); no key makes up for a signature.
    Unsigned,
    /// A URL this server signs itself whatever the store (a packed file read whole): without
    /// its signature, 401 on every backend; no key makes up for it.
    ServerSigned,
    /// The public no-op S3 endpoint: DELETE does nothing (204), every other method is refused.
    Noop,
    /// `/metrics` on a server without a metrics token: the OpenMetrics text to anyone, whatever
    /// key comes with it, counting by route template (nothing of alice's). With a token, every
    /// caller without it is refused: `observe::metrics::the_metrics_token_guards_metrics_and_nothing_else`.
    Metrics,
    /// The dashboard's page and files: the same bytes to anyone, whatever key comes with them.
    Page,
    /// Dashboard sign-in with the presented key in the body: a session of the key's own user
    /// (never alice's unless it is her valid key), else a FAILURE (400, 401, or 429 once the
    /// address has failed too often) with no data.
    SignIn,
    /// Creating an organisation: a SUCCESS of the caller's own, or the 409 that says the name is
    /// taken (names are one public space, as user names are); nothing of alice's either way.
    Created,
    /// Alice's share link: its bytes to anyone, whatever key comes with it (the link is the
    /// credential); a HEAD, a range and a browser's page alike.
    Link,
    /// The Hub API's refusal: this HTTP status with `{"error": …}` (no envelope), exactly as for
    /// data that does not exist.
    HubNo(u16),
    /// The Hub API on the caller's own account: 200, nothing of alice's in it.
    HubOwn,
    /// The Hub API: alice's read-only key reading alice's data succeeds.
    HubYes,
}
use Expect::*;

#[derive(Clone, Copy, Debug)]
pub(super) enum Who {
    /// Another user's read-write key (bob; the server's first admin).
    Other,
    /// Alice's read-only key.
    ReadOnly,
    /// Alice's revoked key.
    Revoked,
    NoKey,
    /// Keys that are not keys, or are alice's with a wrong secret or scheme.
    Malformed,
}
pub(super) const WHO: [Who; 5] = [Who::Other, Who::ReadOnly, Who::Revoked, Who::NoKey, Who::Malformed];

pub(super) struct Row {
    pub(super) method: &'static str,
    pub(super) route: &'static str,
    /// Other, read-only, revoked, no key, malformed.
    pub(super) expect: [Expect; 5],
}

const fn row(method: &'static str, route: &'static str, expect: [Expect; 5]) -> Row {
    Row { method, route, expect }
}

const U: Expect = No(401);
/// The Hub API's 401, 403 and 404.
const HU: Expect = HubNo(401);
const H403: Expect = HubNo(403);
const H404: Expect = HubNo(404);
#[rustfmt::skip]
pub(super) const MATRIX: &[Row] = &[
    //   method    route                                                     other     read-only  revoked   no key    malformed
    row("GET",    "/api/v1/health",                                         [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/api/v1/openapi.json",                                   [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/healthz",                                               [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/readyz",                                                [Public,   Public,    Public,   Public,   Public]),
    row("GET",    "/metrics",                                               [Metrics,  Metrics,   Metrics,  Metrics,  Metrics]),
    row("GET",    "/api/v1/whoami",                                         [Own,      Yes,       U,        U,        U]),
    row("GET",    "/api/v1/s3-credentials",                                 [Own,      Yes,       U,        U,        U]),
    row("POST",   "/api/v1/uploads",                                        [Own,      No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/parts",                             [No(404),  No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/complete",                          [No(404),  No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/known",                             [No(404),  No(403),   U,        U,        U]),
    row("POST",   "/api/v1/uploads/{id}/packs",                             [No(404),  No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/uploads/{id}",                                   [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/objects",                                        [Own,      Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}",                                 [No(404),  Yes,       U,        U,        U]),
    row("DELETE", "/api/v1/objects/{name}",                                 [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/user-metadata",                   [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/download",                        [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/versions",                        [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/diff",                            [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/files",                           [No(404),  Yes,       U,        U,        U]),
    row("GET",    "/api/v1/objects/{name}/file",                            [No(404),  Yes,       U,        U,        U]),
    row("PATCH",  "/api/v1/objects/{name}",                                 [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/keys",                                           [Own,      Yes,       U,        U,        U]),
    row("POST",   "/api/v1/keys",                                           [Own,      No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/keys/{id}",                                      [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/usage",                                          [Own,      Yes,       U,        U,        U]),
    row("GET",    "/api/v1/admin/usage",                                    [No(403),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/admin/users",                                    [No(403),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/admin/users/{name}/keys",                        [No(403),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/session",                                        [No(401),  No(401),   U,        U,        U]),
    row("DELETE", "/api/v1/session",                                        [No(401),  No(401),   U,        U,        U]),
    row("POST",   "/api/v1/session",                                        [SignIn,   SignIn,    SignIn,   SignIn,   SignIn]),
    row("GET",    "/",                                                      [Page,     Page,      Page,     Page,     Page]),
    row("GET",    "/ui/{file}",                                             [Page,     Page,      Page,     Page,     Page]),
    row("PUT",    "/blob/v1/{service}/part/{upload_id}/{part}",             [Unsigned, Unsigned,  Unsigned, Unsigned, Unsigned]),
    row("GET",    "/blob/v1/{service}/object/{owner}/{blob}",               [Unsigned, Unsigned,  Unsigned, Unsigned, Unsigned]),
    row("PUT",    "/blob/v1/{service}/pack/{owner}/{pack}",                 [Unsigned, Unsigned,  Unsigned, Unsigned, Unsigned]),
    row("GET",    "/blob/v1/{service}/file/{owner}/{blob}",                 [ServerSigned, ServerSigned, ServerSigned, ServerSigned, ServerSigned]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/heartBeat",                   [Own,      Yes,       Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/getUser",                     [Own,      Yes,       Fail,     Fail,     Fail]),
    row("GET",    "/system/api/v1/cli/oss/multipart/presigned-url",         [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("POST",   "/system/api/v1/cli/oss/multipart/upload/complete",       [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/api/v1/cli/dataset",                     [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("DELETE", "/fedmlOpsServer/api/v1/cli/dataset",                     [Fail,     Fail,      Fail,     Fail,     Fail]),
    row("GET",    "/fedmlOpsServer/api/v1/cli/dataset/list",                [Own,      Yes,       Fail,     Fail,     Fail]),
    row("GET",    "/fedmlOpsServer/api/v1/cli/dataset/meta",                [Fail,     Yes,       Fail,     Fail,     Fail]),
    row("POST",   "/fedmlOpsServer/configs/fetch",                          [Public,   Public,    Public,   Public,   Public]),
    row("ANY",    "/fedml-s3-noop/{*rest}",                                 [Noop,     Noop,      Noop,     Noop,     Noop]),
    row("GET",    "/api/v1/namespaces",                                     [Own,      Yes,       U,        U,        U]),
    row("GET",    "/api/v1/orgs",                                           [Own,      Yes,       U,        U,        U]),
    row("POST",   "/api/v1/orgs",                                           [Created,  No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/orgs/{org}",                                     [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/orgs/{org}/members",                             [No(404),  Yes,       U,        U,        U]),
    row("PUT",    "/api/v1/orgs/{org}/members/{user}",                      [No(404),  No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/orgs/{org}/members/{user}",                      [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/shares",                                         [Own,      No(403),   U,        U,        U]),
    row("POST",   "/api/v1/shares",                                         [No(404),  No(403),   U,        U,        U]),
    row("DELETE", "/api/v1/shares/{id}",                                    [No(404),  No(403),   U,        U,        U]),
    row("GET",    "/api/v1/log",                                            [Own,      No(403),   U,        U,        U]),
    row("GET",    "/s/{token}",                                             [Link,     Link,      Link,     Link,     Link]),
    row("GET",    "/api/whoami-v2",                                         [HubOwn,   HubYes,    HU,       HU,       HU]),
    row("POST",   "/api/repos/create",                                      [H404,     H403,      HU,       HU,       HU]),
    row("DELETE", "/api/repos/delete",                                      [H404,     H403,      HU,       HU,       HU]),
    row("POST",   "/api/validate-yaml",                                     [HubOwn,   HubYes,    HU,       HU,       HU]),
    row("GET",    "/api/models/{ns}/{name}",                                [H404,     HubYes,    HU,       HU,       HU]),
    row("GET",    "/api/models/{ns}/{name}/revision/{rev}",                 [H404,     HubYes,    HU,       HU,       HU]),
    row("GET",    "/api/models/{ns}/{name}/tree/{rev}",                     [H404,     HubYes,    HU,       HU,       HU]),
    row("GET",    "/api/models/{ns}/{name}/tree/{rev}/{*path}",             [H404,     HubYes,    HU,       HU,       HU]),
    row("POST",   "/api/models/{ns}/{name}/paths-info/{rev}",               [H404,     HubYes,    HU,       HU,       HU]),
    row("GET",    "/api/models/{ns}/{name}/commits/{rev}",                  [H404,     HubYes,    HU,       HU,       HU]),
    row("POST",   "/api/models/{ns}/{name}/preupload/{rev}",                [H404,     H403,      HU,       HU,       HU]),
    row("POST",   "/api/models/{ns}/{name}/commit/{rev}",                   [H404,     H403,      HU,       HU,       HU]),
    // Alice has no dataset: her read-only key finds none either, as for any name.
    row("GET",    "/api/datasets/{ns}/{name}",                              [H404,     H404,      HU,       HU,       HU]),
    row("GET",    "/api/datasets/{ns}/{name}/revision/{rev}",               [H404,     H404,      HU,       HU,       HU]),
    row("GET",    "/api/datasets/{ns}/{name}/tree/{rev}",                   [H404,     H404,      HU,       HU,       HU]),
    row("GET",    "/api/datasets/{ns}/{name}/tree/{rev}/{*path}",           [H404,     H404,      HU,       HU,       HU]),
    row("POST",   "/api/datasets/{ns}/{name}/paths-info/{rev}",             [H404,     H404,      HU,       HU,       HU]),
    row("GET",    "/api/datasets/{ns}/{name}/commits/{rev}",                [H404,     H404,      HU,       HU,       HU]),
    row("POST",   "/api/datasets/{ns}/{name}/preupload/{rev}",              [H404,     H403,      HU,       HU,       HU]),
    row("POST",   "/api/datasets/{ns}/{name}/commit/{rev}",                 [H404,     H403,      HU,       HU,       HU]),
    row("GET",    "/{ns}/{name}/resolve/{rev}/{*path}",                     [H404,     HubYes,    HU,       HU,       HU]),
    row("HEAD",   "/{ns}/{name}/resolve/{rev}/{*path}",                     [H404,     HubYes,    HU,       HU,       HU]),
    row("GET",    "/datasets/{ns}/{name}/resolve/{rev}/{*path}",            [H404,     H404,      HU,       HU,       HU]),
    row("HEAD",   "/datasets/{ns}/{name}/resolve/{rev}/{*path}",            [H404,     H404,      HU,       HU,       HU]),
    row("POST",   "/{ns}/{name}/info/lfs/objects/batch",                    [H404,     H403,      HU,       HU,       HU]),
    row("POST",   "/datasets/{ns}/{name}/info/lfs/objects/batch",           [H404,     H403,      HU,       HU,       HU]),
    // A signed upload URL without its signature: no key makes up for it.
    row("PUT",    "/hub/lfs-upload/{namespace}/{sha256}/{size}/{key}",      [H403,     H403,      H403,     H403,     H403]),
];

/// The (method, route) pairs the front ends and the server declare, read from their source.
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for src in [
        include_str!("../../../../server/src/lib.rs"),
        include_str!("../../../../api/native/src/lib.rs"),
        include_str!("../../../../api/fedml/src/lib.rs"),
        include_str!("../../../../api/web/src/lib.rs"),
        include_str!("../../../../api/blob/src/lib.rs"),
        include_str!("../../../../api/hub/src/lib.rs"),
    ] {
        for (at, _) in src.match_indices(".route(") {
            // rustfmt may put the route string on the next line.
            let Some(rest) = src[at + ".route(".len()..].trim_start().strip_prefix('"') else { continue };
            let end = rest.find('"').expect("end of the route string");
            let route = &rest[..end];
            // The handlers: everything up to the parenthesis that closes `.route(`.
            let (mut depth, mut close) = (1, end + 1);
            for (i, c) in rest[end + 1..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    close = end + 1 + i;
                    break;
                }
            }
            let handlers = &rest[end + 1..close];
            let mut methods = 0;
            for m in ["get", "post", "put", "delete", "patch", "head", "options", "any"] {
                for (i, _) in handlers.match_indices(&format!("{m}(")) {
                    let before = handlers[..i].chars().last().unwrap_or(' ');
                    if !(before.is_alphanumeric() || before == '_') {
                        out.insert((m.to_uppercase(), route.to_string()));
                        methods += 1;
                    }
                }
            }
            assert!(methods > 0, "no method found for route {route}");
        }
    }
    out
}

#[test]
fn the_matrix_covers_every_declared_route() {
    let declared = declared_routes();
    let matrix: BTreeSet<(String, String)> =
        MATRIX.iter().map(|r| (r.method.to_string(), r.route.to_string())).collect();
    assert_eq!(matrix.len(), MATRIX.len(), "a route appears twice in the matrix");
    let missing: Vec<_> = declared.difference(&matrix).collect();
    let stale: Vec<_> = matrix.difference(&declared).collect();
    assert!(missing.is_empty(), "routes without a row in the isolation matrix: {missing:?}");
    assert!(stale.is_empty(), "matrix rows for routes no front end declares any more: {stale:?}");
    assert!(declared.len() >= 23, "the route parser found only {declared:?}");
}
