//! `POST /api/{models|datasets}/{ns}/{name}/commit/main`: a commit, as `create_commit` (and every
//! upload and delete call over it) sends it — NDJSON, one `{"key", "value"}` per line: a
//! `header` (`summary`, `description`, `parentCommit`), then `file` (a regular file's bytes,
//! base64), `lfsFile` (an LFS object sent before, by SHA-256), `deletedFile`, `deletedFolder`.
//! The body is read as it arrives, bounded ([`MAX_COMMIT_BODY`], [`MAX_LINE`],
//! [`MAX_OPERATIONS`]); a malformed line is refused naming it. The commit makes the repository's
//! next version, on the latest or, with `parentCommit`, only if that is still the latest (else
//! 412, as the Hub answers).

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use bytes::Bytes;
use fedml_api_common::AppState;
use fedml_platform::operations::Need;
use fedml_platform::operations::repos::{RepoChange, RepoCommit, RepoSource, commit_id};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::errors::{HubError, HubResult};
use crate::repo::{HubCaller, HubPath, KindOf, MAIN, Repo, at, check_path, is_commit_id, param, query_pairs};

/// The largest commit body: its regular files travel in it, base64 (what `preupload` sends as
/// regular stays far below: see `manage::REGULAR_BUDGET`).
pub const MAX_COMMIT_BODY: u64 = 64 << 20;
/// The longest line (one regular file of up to 12 MiB).
pub const MAX_LINE: usize = 16 << 20;
/// The most operations one commit holds.
pub const MAX_OPERATIONS: usize = 100_000;

fn too_large(what: String) -> HubError {
    HubError::new(StatusCode::PAYLOAD_TOO_LARGE, what)
}

/// A commit as its body says it.
#[derive(Debug)]
pub struct Parsed {
    pub summary: String,
    pub description: String,
    pub parent: Option<String>,
    pub changes: Vec<RepoChange>,
}

#[derive(Deserialize)]
struct Line {
    key: String,
    value: Value,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "parentCommit")]
    parent_commit: Option<String>,
}

#[derive(Deserialize)]
struct RegularFile {
    path: String,
    content: String,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Deserialize)]
struct LfsFile {
    path: String,
    oid: String,
    #[serde(default)]
    algo: Option<String>,
}

#[derive(Deserialize)]
struct Deleted {
    path: String,
}

/// Reads one line of the body into `parsed` (`n` counts from 1).
fn take_line(n: usize, line: &[u8], parsed: &mut Option<Parsed>) -> HubResult<()> {
    let bad = |why: String| HubError::bad(format!("line {n} of the commit {why}"));
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let Line { key, value } =
        serde_json::from_slice(line).map_err(|e| bad(format!("is not a {{\"key\", \"value\"}} JSON object: {e}")))?;
    let field = |e: serde_json::Error| bad(format!("({key}) is not what a {key} line holds: {e}"));
    if key == "header" {
        if parsed.is_some() {
            return Err(bad("is a second header; a commit has one, first".into()));
        }
        let h: Header = serde_json::from_value(value).map_err(field)?;
        *parsed = Some(Parsed {
            summary: h.summary,
            description: h.description.unwrap_or_default(),
            parent: h.parent_commit,
            changes: Vec::new(),
        });
        return Ok(());
    }
    let Some(commit) = parsed.as_mut() else {
        return Err(bad(format!("({key}) comes before the header; the first line is the header")));
    };
    if commit.changes.len() >= MAX_OPERATIONS {
        return Err(too_large(format!("the commit holds more than {MAX_OPERATIONS} operations; commit in parts")));
    }
    let checked = |path: String| check_path(&path).map(|()| path).map_err(|e| bad(format!("({key}): {e}")));
    let change = match key.as_str() {
        "file" => {
            let f: RegularFile = serde_json::from_value(value).map_err(field)?;
            let bytes = match f.encoding.as_deref().unwrap_or("base64") {
                "base64" => base64::engine::general_purpose::STANDARD
                    .decode(f.content.as_bytes())
                    .map_err(|e| bad(format!("(file {:?}): its content is not base64: {e}", f.path)))?,
                "utf-8" | "utf8" => f.content.into_bytes(),
                other => return Err(bad(format!("(file {:?}): the encoding {other:?} is not base64", f.path))),
            };
            RepoChange::Put { path: checked(f.path)?, source: RepoSource::Bytes(Bytes::from(bytes)) }
        }
        "lfsFile" => {
            let f: LfsFile = serde_json::from_value(value).map_err(field)?;
            if f.algo.as_deref().is_some_and(|a| a != "sha256") {
                return Err(bad(format!("(lfsFile {:?}): only sha256 names LFS objects", f.path)));
            }
            if f.oid.len() != 64 || !f.oid.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(bad(format!("(lfsFile {:?}): {:?} is not a SHA-256 (64 lowercase hex)", f.path, f.oid)));
            }
            RepoChange::Put { path: checked(f.path)?, source: RepoSource::Staged { sha256: f.oid } }
        }
        "deletedFile" => {
            let d: Deleted = serde_json::from_value(value).map_err(field)?;
            RepoChange::Delete { path: checked(d.path)? }
        }
        "deletedFolder" => {
            let d: Deleted = serde_json::from_value(value).map_err(field)?;
            RepoChange::DeleteFolder { path: checked(d.path.trim_end_matches('/').to_string())? }
        }
        other => {
            return Err(bad(format!(
                "has the key {other:?}; a commit's lines are header, file, lfsFile, deletedFile, deletedFolder"
            )));
        }
    };
    commit.changes.push(change);
    Ok(())
}

/// How much of a refused commit's body is still read (and dropped) so that a client still
/// sending it reads the refusal rather than a broken connection; a body announced longer is
/// refused before any byte is read.
const DRAINED: u64 = MAX_COMMIT_BODY + MAX_LINE as u64;

/// Reads a commit body as it arrives.
pub async fn parse(headers: &HeaderMap, body: Body) -> HubResult<Parsed> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > DRAINED) {
        return Err(over());
    }
    let mut stream = body.into_data_stream();
    let parsed = read_lines(&mut stream).await;
    if parsed.is_err() {
        let mut drained = 0u64;
        while drained < DRAINED {
            match stream.next().await {
                Some(Ok(piece)) => drained += piece.len() as u64,
                _ => break,
            }
        }
    }
    parsed
}

fn over() -> HubError {
    too_large(format!("the commit is larger than {MAX_COMMIT_BODY} bytes; commit in parts"))
}

async fn read_lines(stream: &mut axum::body::BodyDataStream) -> HubResult<Parsed> {
    let (mut buf, mut total, mut n) = (Vec::<u8>::new(), 0u64, 0usize);
    let mut parsed = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| HubError::bad(format!("the commit body could not be read: {e}")))?;
        total += chunk.len() as u64;
        if total > MAX_COMMIT_BODY {
            return Err(over());
        }
        let mut searched = buf.len();
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(at) = buf[searched..].iter().position(|b| *b == b'\n') {
            let end = searched + at;
            n += 1;
            take_line(n, &buf[start..end], &mut parsed)?;
            start = end + 1;
            searched = start;
        }
        buf.drain(..start);
        if buf.len() > MAX_LINE {
            return Err(too_large(format!("line {} of the commit is longer than {MAX_LINE} bytes", n + 1)));
        }
    }
    take_line(n + 1, &buf, &mut parsed)?;
    parsed.ok_or_else(|| HubError::bad("the commit is empty: its first line must be its header"))
}

/// `POST /api/{models|datasets}/{ns}/{name}/commit/{rev}`: answers `commitUrl` and `commitOid`.
pub async fn handle_commit<K: KindOf>(
    State(p): State<AppState>,
    HubCaller(caller): HubCaller,
    HubPath((ns, name, rev)): HubPath<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> HubResult<Json<Value>> {
    let repo = Repo::new(K::KIND, &ns, &name)?;
    if rev != MAIN {
        let why = if is_commit_id(&rev) { "a commit id names a version, which never changes" } else { "not a branch" };
        return Err(HubError::not_found(
            crate::errors::REVISION_NOT_FOUND,
            format!("commits go to main, this server's one branch ({rev:?} is {why})"),
        ));
    }
    if param(&query_pairs(query.as_deref()), "create_pr").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")) {
        return Err(HubError::bad("this server has no pull requests; commit to main (create_pr=False)"));
    }
    // Whether the caller may commit there is decided before the body is read (and reads the same
    // whether the repository exists or not).
    p.namespace(&caller, &repo.namespace, Need::Write).await.map_err(|e| HubError::from(e).repo())?;
    let parsed = parse(&headers, body).await?;
    // The repository as it is: a 404 of the commit itself is then a file or folder it names.
    let latest = at(&p, &caller, &repo, None).await?;
    let parent = match parsed.parent.as_deref() {
        None => None,
        Some(parent) if !is_commit_id(parent) => {
            return Err(HubError::bad(format!("the parent commit {parent:?} is not a commit id (40 hex digits)")));
        }
        Some(parent) if parent == latest.commit => Some(latest.version()),
        Some(parent) => match at(&p, &caller, &repo, Some(parent)).await {
            // An earlier version: the platform refuses it as stale (412).
            Ok(found) => Some(found.version()),
            Err(e) if e.status() == StatusCode::NOT_FOUND => {
                return Err(HubError::new(
                    StatusCode::PRECONDITION_FAILED,
                    format!(
                        "the parent commit {parent} is not a commit of {:?} (its latest is {}); fetch it and retry",
                        repo.id(),
                        latest.commit
                    ),
                ));
            }
            Err(e) => return Err(e),
        },
    };
    let message = match parsed.description.trim() {
        "" => parsed.summary.clone(),
        description => format!("{}\n\n{description}", parsed.summary),
    };
    let commit = RepoCommit { parent, changes: parsed.changes, message };
    let record = p
        .commit_repo(&caller, repo.ns(), &repo.object(), commit)
        .await
        .map_err(|e| HubError::from(e).entry(&latest.commit))?;
    let oid = commit_id(&record);
    Ok(Json(json!({
        "commitUrl": format!("{}/commit/{oid}", repo.url(p.public_url())),
        "commitOid": oid,
        "pullRequestUrl": null,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> HubResult<Parsed> {
        let body = Body::from(text.to_string());
        futures_util::FutureExt::now_or_never(parse(&HeaderMap::new(), body)).expect("ready")
    }

    #[test]
    fn a_commit_reads_as_the_client_writes_it() {
        let text = concat!(
            r#"{"key":"header","value":{"summary":"Upload","description":"","parentCommit":null}}"#,
            "\n",
            r#"{"key":"file","value":{"content":"aGVsbG8=","path":"a/b.txt","encoding":"base64"}}"#,
            "\n",
            r#"{"key":"lfsFile","value":{"path":"w.bin","algo":"sha256","oid":""#,
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            r#"","size":5}}"#,
            "\n",
            r#"{"key":"deletedFile","value":{"path":"old.txt"}}"#,
            "\n",
            r#"{"key":"deletedFolder","value":{"path":"logs/"}}"#,
            "\n"
        );
        let parsed = parse_text(text).expect("parsed");
        assert_eq!(parsed.summary, "Upload");
        assert_eq!(parsed.changes.len(), 4);
        assert!(matches!(&parsed.changes[0], RepoChange::Put { path, source: RepoSource::Bytes(b) }
            if path == "a/b.txt" && b.as_ref() == b"hello"));
        assert!(matches!(&parsed.changes[3], RepoChange::DeleteFolder { path } if path == "logs"));
    }

    #[test]
    fn malformed_commits_are_refused_naming_the_line() {
        let header = r#"{"key":"header","value":{"summary":"x"}}"#;
        for (body, says) in [
            ("".to_string(), "empty"),
            ("not json\n".to_string(), "line 1"),
            (r#"{"key":"file","value":{"path":"a","content":""}}"#.to_string(), "before the header"),
            (format!("{header}\n{header}\n"), "second header"),
            (format!("{header}\n{{\"key\":\"copy\",\"value\":{{}}}}\n"), "line 2"),
            (format!("{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"../x\",\"content\":\"\"}}}}\n"), ".."),
            (format!("{header}\n{{\"key\":\"file\",\"value\":{{\"path\":\"x\",\"content\":\"!!\"}}}}\n"), "base64"),
            (format!("{header}\n{{\"key\":\"lfsFile\",\"value\":{{\"path\":\"x\",\"oid\":\"abc\"}}}}\n"), "SHA-256"),
            (format!("{header}\n{{\"key\":\"deletedFile\",\"value\":{{}}}}\n"), "line 2"),
        ] {
            let e = parse_text(&body).expect_err(&body);
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{body}");
            let text = format!("{e:?}");
            assert!(text.contains(says), "{body}: {text}");
        }
    }
}
