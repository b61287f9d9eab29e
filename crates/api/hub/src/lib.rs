//! The Hugging Face Hub API, as `huggingface_hub` (and through it the `hf` CLI, `datasets`,
//! `transformers`, `HfFileSystem`) calls it with `HF_ENDPOINT` set to this server and `HF_TOKEN`
//! to an API key: repositories are directory objects and their commits are versions
//! ([`repo`] says how ids map to names), files are read from the content store by this server
//! itself, with ranges ([`resolve`]), and written by commits ([`commit`]) whose large files are
//! sent before as LFS objects ([`lfs`]). Xet is never advertised (no `xetHash`, no `X-Xet-*`):
//! clients upload with `HF_HUB_DISABLE_XET=1` over the LFS protocol.
//!
//! Each handler reads what the request names, makes one platform call (or a read and a write),
//! and answers in the Hub's shapes; refusals are `{"error": …}` with the status and the
//! `X-Error-Code` the clients act on ([`errors`]). Who may do what is the platform's decision,
//! made in every call; a reader downloads and cannot commit, a key limited to other namespaces
//! is refused.
//!
//! Architecture invariant: this crate imports no other front end.

mod commit;
mod entries;
mod errors;
mod info;
mod lfs;
mod manage;
mod repo;
mod resolve;
mod tree;

use axum::Router;
use axum::routing::{delete, get, post, put};
use fedml_api_common::AppState;

use crate::repo::{Datasets, Models};

pub use entries::LFS_THRESHOLD;

/// The Hub's routes, over the platform the server gives as state. Neither `/api/v1/…` nor any
/// other front end's paths are among them: the Hub's API is under `/api/{whoami-v2, repos,
/// validate-yaml, models, datasets}`, its files under `/{ns}/{name}/resolve/…` and
/// `/datasets/{ns}/{name}/resolve/…`, its LFS batch under `…/{name}.git/info/lfs/…`, and the
/// signed LFS uploads under `/hub/lfs-upload/…`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/whoami-v2", get(info::handle_whoami))
        .route("/api/repos/create", post(manage::handle_create))
        .route("/api/repos/delete", delete(manage::handle_delete))
        .route("/api/validate-yaml", post(manage::handle_validate_yaml))
        .route("/api/models/{ns}/{name}", get(info::handle_info::<Models>))
        .route("/api/models/{ns}/{name}/revision/{rev}", get(info::handle_info_at::<Models>))
        .route("/api/models/{ns}/{name}/tree/{rev}", get(tree::handle_tree::<Models>))
        .route("/api/models/{ns}/{name}/tree/{rev}/{*path}", get(tree::handle_tree_path::<Models>))
        .route("/api/models/{ns}/{name}/paths-info/{rev}", post(tree::handle_paths_info::<Models>))
        .route("/api/models/{ns}/{name}/commits/{rev}", get(info::handle_commits::<Models>))
        .route("/api/models/{ns}/{name}/preupload/{rev}", post(manage::handle_preupload::<Models>))
        .route("/api/models/{ns}/{name}/commit/{rev}", post(commit::handle_commit::<Models>))
        .route("/api/datasets/{ns}/{name}", get(info::handle_info::<Datasets>))
        .route("/api/datasets/{ns}/{name}/revision/{rev}", get(info::handle_info_at::<Datasets>))
        .route("/api/datasets/{ns}/{name}/tree/{rev}", get(tree::handle_tree::<Datasets>))
        .route("/api/datasets/{ns}/{name}/tree/{rev}/{*path}", get(tree::handle_tree_path::<Datasets>))
        .route("/api/datasets/{ns}/{name}/paths-info/{rev}", post(tree::handle_paths_info::<Datasets>))
        .route("/api/datasets/{ns}/{name}/commits/{rev}", get(info::handle_commits::<Datasets>))
        .route("/api/datasets/{ns}/{name}/preupload/{rev}", post(manage::handle_preupload::<Datasets>))
        .route("/api/datasets/{ns}/{name}/commit/{rev}", post(commit::handle_commit::<Datasets>))
        .route(
            "/{ns}/{name}/resolve/{rev}/{*path}",
            get(resolve::handle_resolve::<Models>).head(resolve::handle_resolve::<Models>),
        )
        .route(
            "/datasets/{ns}/{name}/resolve/{rev}/{*path}",
            get(resolve::handle_resolve::<Datasets>).head(resolve::handle_resolve::<Datasets>),
        )
        .route("/{ns}/{name}/info/lfs/objects/batch", post(lfs::handle_batch::<Models>))
        .route("/datasets/{ns}/{name}/info/lfs/objects/batch", post(lfs::handle_batch::<Datasets>))
        .route("/hub/lfs-upload/{namespace}/{sha256}/{size}/{key}", put(lfs::handle_upload))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_upload_route_is_where_the_platform_signs_uploads() {
        let source = include_str!("lib.rs");
        let route = format!("\"{}/{{namespace}}/", fedml_platform::operations::staged::LFS_UPLOAD_PREFIX);
        assert!(source.contains(&route), "no route under {route}");
    }
}
