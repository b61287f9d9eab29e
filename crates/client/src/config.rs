//! Where the SDK finds its server and API key: the explicit argument, then `FEDML_API_KEY` /
//! `FEDML_SERVER_URL`, then the file `fedml login` saved (mode 0600), then the local default.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, Result};

pub const DEFAULT_SERVER_URL: &str = "http://127.0.0.1:8780";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SavedConfig {
    pub server_url: Option<String>,
    pub api_key: Option<String>,
}

/// `$FEDML_CONFIG_DIR`, else `$XDG_CONFIG_HOME/fedml`, else `~/.config/fedml`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FEDML_CONFIG_DIR").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir).join("fedml"));
    }
    std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".config").join("fedml"))
}

pub fn config_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.json"))
}

/// Reads the saved configuration; a missing file is an empty configuration.
pub fn load() -> Result<SavedConfig> {
    let Some(path) = config_path() else { return Ok(SavedConfig::default()) };
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            ClientError::Failure(format!(
                "the configuration file {} is damaged ({e}); run `fedml login <API_KEY>` again",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SavedConfig::default()),
        Err(e) => Err(ClientError::io(format!("cannot read {}", path.display()), e)),
    }
}

/// Saves the configuration readable by its owner only.
pub fn save(config: &SavedConfig) -> Result<PathBuf> {
    let path = config_path()
        .ok_or_else(|| ClientError::Failure("no home directory to save the login in; set FEDML_CONFIG_DIR".into()))?;
    let dir = path.parent().map(PathBuf::from).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| ClientError::io(format!("cannot create {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
    }
    let text = serde_json::to_string_pretty(config).map_err(|e| ClientError::Error(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(|e| ClientError::io(format!("cannot write {}", tmp.display()), e))?;
        file.write_all(text.as_bytes()).map_err(|e| ClientError::io("cannot write the configuration", e))?;
        file.sync_all().map_err(|e| ClientError::io("cannot write the configuration", e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| ClientError::io(format!("cannot write {}", path.display()), e))?;
    Ok(path)
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The server URL to use.
pub fn resolve_server(explicit: Option<&str>) -> Result<String> {
    if let Some(url) = explicit.map(str::trim).filter(|s| !s.is_empty()) {
        return normalize_url(url);
    }
    if let Some(url) = env("FEDML_SERVER_URL") {
        return normalize_url(&url);
    }
    match load()?.server_url {
        Some(url) => normalize_url(&url),
        None => Ok(DEFAULT_SERVER_URL.to_string()),
    }
}

/// The API key to use, or a FAILURE that says how to give one.
pub fn resolve_api_key(explicit: Option<&str>) -> Result<String> {
    if let Some(key) = explicit.map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(key.to_string());
    }
    if let Some(key) = env("FEDML_API_KEY") {
        return Ok(key);
    }
    load()?.api_key.filter(|k| !k.is_empty()).ok_or_else(|| {
        ClientError::Failure(
            "no API key: run `fedml login <API_KEY>`, pass api_key / --api_key, or set FEDML_API_KEY".into(),
        )
    })
}

pub fn normalize_url(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let with_scheme = if url.contains("://") { url.to_string() } else { format!("http://{url}") };
    match reqwest::Url::parse(&with_scheme) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(with_scheme),
        _ => Err(ClientError::Failure(format!("{url:?} is not a server URL; give one such as http://127.0.0.1:8780"))),
    }
}
