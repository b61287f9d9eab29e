//! The native core of the `fedml` Python package: each function runs one Rust SDK call with the
//! GIL released, keeps Python responsive (Ctrl-C cancels the transfer cleanly, other threads
//! run), feeds a progress callback, and answers `(code, message, data_as_json)`. The Python
//! layer (`python/fedml/api`) turns that into the seed's `FedMLResponse`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use fedml_client::{CancellationToken, DownloadOptions, FedMLResponse, ProgressBar, Target, UploadOptions};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use serde::Serialize;

type Answer = (String, String, String);

fn answer<T: Serialize>(r: FedMLResponse<T>) -> Answer {
    let data = r.data.map(|d| serde_json::to_string(&d).unwrap_or_else(|_| "null".into())).unwrap_or("null".into());
    (r.code.as_str().to_string(), r.message, data)
}

fn failure(message: String) -> Answer {
    ("FAILURE".into(), message, "null".into())
}

/// Which server, key and namespace a call uses (`namespace=None`: the caller's own).
fn target(api_key: Option<String>, namespace: Option<String>, cancel: Option<CancellationToken>) -> Target {
    Target { api_key, server: None, parallel: None, cancel, namespace }
}

/// Runs `work` on its own thread. Meanwhile, with the GIL released between checks: reports
/// progress to `progress(done, total)`, and on Ctrl-C cancels the work, waits for it to clean up,
/// and raises `KeyboardInterrupt`.
fn run<F>(
    py: Python<'_>,
    bar: Option<ProgressBar>,
    progress: Option<Py<PyAny>>,
    cancel: CancellationToken,
    work: F,
) -> PyResult<Answer>
where
    F: FnOnce() -> Answer + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("fedml-call".into())
        .spawn(move || {
            let _ = tx.send(work());
        })
        .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(format!("cannot start the transfer: {e}")))?;
    // Waiting happens without the GIL; the receiver is shared with that wait through a mutex.
    let rx = std::sync::Mutex::new(rx);
    let wait = |timeout: Option<Duration>| {
        py.detach(|| match rx.lock() {
            Ok(rx) => match timeout {
                Some(t) => rx.recv_timeout(t),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            },
            Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
        })
    };
    // Stops the transfer, lets it remove what it started (the upload session, the temporary
    // file), then hands back the exception to raise.
    let stop = |raised: PyErr| {
        cancel.cancel();
        let _ = wait(None);
        raised
    };
    let mut last = (u64::MAX, u64::MAX);
    loop {
        let got = wait(Some(Duration::from_millis(100)));
        if let (Some(bar), Some(cb)) = (&bar, &progress) {
            let now = (bar.position(), bar.length().unwrap_or(0));
            if now != last {
                last = now;
                // The callback is Python code: Ctrl-C (or any exception) can surface inside it.
                if let Err(raised) = cb.call1(py, now) {
                    let raised = stop(raised);
                    let _ = handle.join();
                    return Err(raised);
                }
            }
        }
        match got {
            Ok(answer) => {
                let _ = handle.join();
                return Ok(answer);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                return Ok(("ERROR".into(), "the transfer stopped unexpectedly".into(), "null".into()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Err(interrupt) = py.check_signals() {
            // Ctrl-C (or another signal handler raising).
            let interrupt = stop(interrupt);
            let _ = handle.join();
            return Err(interrupt);
        }
    }
}

/// User metadata must be a dict of str to str; anything else is a FAILURE, not an exception.
fn metadata_from(value: Option<&Bound<'_, PyAny>>) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    let dict = value.cast::<PyDict>().map_err(|_| "metadata must be a dict such as {'key': 'value'}".to_string())?;
    let mut map = BTreeMap::new();
    for (k, v) in dict.iter() {
        let (Ok(k), Ok(v)) = (k.extract::<String>(), v.extract::<String>()) else {
            return Err(format!(
                "metadata entry {}: {} — both the key and values have to be strings",
                k.repr().map(|r| r.to_string()).unwrap_or_default(),
                v.repr().map(|r| r.to_string()).unwrap_or_default()
            ));
        };
        map.insert(k, v);
    }
    fedml_proto::rules::check_metadata(&map)?;
    Ok(Some(map))
}

/// Tags as a list of strings or one comma-separated string; `None` (not given) for `None`.
fn tags_from(value: Option<&Bound<'_, PyAny>>) -> Result<Option<Vec<String>>, String> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    if let Ok(text) = value.extract::<String>() {
        return Ok(Some(fedml_proto::rules::parse_tag_list(&text)));
    }
    let list = value.cast::<PyList>().map_err(|_| "tag_list must be a list of strings".to_string())?;
    list.iter()
        .map(|t| t.extract::<String>().map_err(|_| "tag_list must be a list of strings".to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

#[pyfunction]
#[pyo3(signature = (api_key=None))]
fn fedml_login(py: Python<'_>, api_key: Option<String>) -> PyResult<Answer> {
    let Some(key) = api_key.or_else(|| std::env::var("FEDML_API_KEY").ok()) else {
        return Ok(failure(
            "no API key given: call fedml_login(api_key=...) with the key your server admin gave you".into(),
        ));
    };
    run(py, None, None, CancellationToken::new(), move || answer(fedml_client::fedml_login(&key)))
}

#[pyfunction]
#[pyo3(signature = (data_path, api_key=None, service="R2".to_string(), name=None, description=None, metadata=None,
    show_progress=false, out_progress_to_err=true, progress_desc=None, tag_list=None, overwrite=false, progress=None, dedup=true,
    namespace=None))]
#[allow(clippy::too_many_arguments)]
fn upload(
    py: Python<'_>,
    data_path: PathBuf,
    api_key: Option<String>,
    service: String,
    name: Option<String>,
    description: Option<String>,
    metadata: Option<Bound<'_, PyAny>>,
    show_progress: bool,
    out_progress_to_err: bool,
    progress_desc: Option<String>,
    tag_list: Option<Bound<'_, PyAny>>,
    overwrite: bool,
    progress: Option<Py<PyAny>>,
    dedup: bool,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let metadata = match metadata_from(metadata.as_ref()) {
        Ok(m) => m,
        Err(message) => return Ok(failure(message)),
    };
    let tags = match tags_from(tag_list.as_ref()) {
        Ok(t) => t,
        Err(message) => return Ok(failure(message)),
    };
    let cancel = CancellationToken::new();
    let bar = (show_progress && progress.is_some()).then(ProgressBar::hidden);
    let options = UploadOptions {
        target: target(api_key, namespace, Some(cancel.clone())),
        service,
        name,
        description,
        metadata,
        tags,
        overwrite,
        show_progress: show_progress && progress.is_none(),
        out_progress_to_err,
        progress_desc,
        progress_bar: bar.clone(),
        dedup,
    };
    run(py, bar, progress, cancel, move || answer(fedml_client::upload_with(&data_path, &options)))
}

#[pyfunction]
#[pyo3(signature = (data_name, api_key=None, service="R2".to_string(), dest_path=None, show_progress=true,
    out_progress_to_err=true, progress_desc=None, progress=None, replace=false, wanted=Vec::new(), version=None, namespace=None))]
#[allow(clippy::too_many_arguments)]
fn download(
    py: Python<'_>,
    data_name: String,
    api_key: Option<String>,
    service: String,
    dest_path: Option<PathBuf>,
    show_progress: bool,
    out_progress_to_err: bool,
    progress_desc: Option<String>,
    progress: Option<Py<PyAny>>,
    replace: bool,
    wanted: Vec<String>,
    version: Option<u64>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let cancel = CancellationToken::new();
    let bar = (show_progress && progress.is_some()).then(ProgressBar::hidden);
    let options = DownloadOptions {
        target: target(api_key, namespace, Some(cancel.clone())),
        service: Some(service),
        version,
        dest_path,
        replace,
        show_progress: show_progress && progress.is_none(),
        out_progress_to_err,
        progress_desc,
        progress_bar: bar.clone(),
    };
    if !wanted.is_empty() {
        return run(py, bar, progress, cancel, move || {
            answer(fedml_client::download_files_with(&data_name, &wanted, &options))
        });
    }
    run(py, bar, progress, cancel, move || answer(fedml_client::download_with(&data_name, &options)))
}

#[pyfunction]
#[pyo3(signature = (data_name, path=String::new(), recursive=false, service=None, api_key=None, version=None, namespace=None))]
#[allow(clippy::too_many_arguments)]
fn list_files(
    py: Python<'_>,
    data_name: String,
    path: String,
    recursive: bool,
    service: Option<String>,
    api_key: Option<String>,
    version: Option<u64>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || {
        answer(fedml_client::list_object_files_with(&data_name, &path, recursive, service.as_deref(), version, &t))
    })
}

#[pyfunction]
#[pyo3(signature = (data_name, service=None, api_key=None, version=None, namespace=None))]
fn delete(
    py: Python<'_>,
    data_name: String,
    service: Option<String>,
    api_key: Option<String>,
    version: Option<u64>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || match version {
        None => answer(fedml_client::delete_with(&data_name, service.as_deref(), &t)),
        Some(version) => answer(fedml_client::delete_version_with(&data_name, version, service.as_deref(), &t)),
    })
}

#[pyfunction]
#[pyo3(signature = (data_name, api_key=None, version=None, namespace=None))]
fn get_storage_metadata(
    py: Python<'_>,
    data_name: String,
    api_key: Option<String>,
    version: Option<u64>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || {
        answer(fedml_client::get_storage_metadata_with(&data_name, version, &t))
    })
}

#[pyfunction]
#[pyo3(signature = (data_name, api_key=None, version=None, namespace=None))]
fn get_storage_user_defined_metadata(
    py: Python<'_>,
    data_name: String,
    api_key: Option<String>,
    version: Option<u64>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || {
        answer(fedml_client::get_storage_user_defined_metadata_with(&data_name, version, &t))
    })
}

#[pyfunction]
#[pyo3(signature = (data_name, api_key=None, namespace=None))]
fn list_versions(
    py: Python<'_>,
    data_name: String,
    api_key: Option<String>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || answer(fedml_client::list_versions_with(&data_name, &t)))
}

#[pyfunction]
#[pyo3(signature = (data_name, from_version, to_version=None, api_key=None, namespace=None))]
fn diff_versions(
    py: Python<'_>,
    data_name: String,
    from_version: u64,
    to_version: Option<u64>,
    api_key: Option<String>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || {
        answer(fedml_client::diff_versions_with(&data_name, from_version, to_version, &t))
    })
}

#[pyfunction]
#[pyo3(signature = (api_key=None, namespace=None))]
fn list_storage_objects(py: Python<'_>, api_key: Option<String>, namespace: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    run(py, None, None, CancellationToken::new(), move || answer(fedml_client::list_storage_objects_with(&t)))
}

#[pyfunction]
#[pyo3(signature = (data_name, description=None, tag_list=None, metadata=None, api_key=None, namespace=None))]
fn update_storage_metadata(
    py: Python<'_>,
    data_name: String,
    description: Option<String>,
    tag_list: Option<Bound<'_, PyAny>>,
    metadata: Option<Bound<'_, PyAny>>,
    api_key: Option<String>,
    namespace: Option<String>,
) -> PyResult<Answer> {
    let user_metadata = match metadata_from(metadata.as_ref()) {
        Ok(m) => m,
        Err(message) => return Ok(failure(message)),
    };
    let tags = match tags_from(tag_list.as_ref()) {
        Ok(t) => t,
        Err(message) => return Ok(failure(message)),
    };
    let t = target(api_key, namespace, None);
    let edit = fedml_client::EditObject { description, tags, user_metadata };
    run(py, None, None, CancellationToken::new(), move || {
        answer(fedml_client::update_storage_metadata_with(&data_name, &edit, &t))
    })
}

/// Runs a call that moves no bytes (no progress, nothing to cancel but the wait).
fn quick<F>(py: Python<'_>, work: F) -> PyResult<Answer>
where
    F: FnOnce() -> Answer + Send + 'static,
{
    run(py, None, None, CancellationToken::new(), work)
}

#[pyfunction]
#[pyo3(signature = (api_key=None))]
fn list_namespaces(py: Python<'_>, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::namespaces(&t)))
}

/// `expires` as seconds (an int) or a duration such as `"7d"`; `None` for the server's maximum.
fn expiry_from(value: Option<&Bound<'_, PyAny>>) -> Result<Option<Duration>, String> {
    let Some(value) = value.filter(|v| !v.is_none()) else { return Ok(None) };
    if let Ok(text) = value.extract::<String>() {
        return fedml_client::parse_duration(&text).map(Some).map_err(|e| format!("expires: {}", e.message()));
    }
    match value.extract::<i64>() {
        Ok(seconds) if seconds > 0 => Ok(Some(Duration::from_secs(seconds as u64))),
        _ => Err("expires must be a number of seconds above 0 or a duration such as \"12h\" or \"7d\"".into()),
    }
}

#[pyfunction]
#[pyo3(signature = (data_name, version=None, expires=None, namespace=None, api_key=None))]
fn share(
    py: Python<'_>,
    data_name: String,
    version: Option<u64>,
    expires: Option<Bound<'_, PyAny>>,
    namespace: Option<String>,
    api_key: Option<String>,
) -> PyResult<Answer> {
    let expires_in = match expiry_from(expires.as_ref()) {
        Ok(e) => e,
        Err(message) => return Ok(failure(message)),
    };
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::share(&data_name, namespace.as_deref(), version, expires_in, &t)))
}

#[pyfunction]
#[pyo3(signature = (namespace=None, api_key=None))]
fn list_shares(py: Python<'_>, namespace: Option<String>, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::shares(namespace.as_deref(), &t)))
}

#[pyfunction]
#[pyo3(signature = (share_id, api_key=None))]
fn unshare(py: Python<'_>, share_id: String, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::unshare(&share_id, &t)))
}

#[pyfunction]
#[pyo3(signature = (name, api_key=None))]
fn org_create(py: Python<'_>, name: String, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_create(&name, &t)))
}

#[pyfunction]
#[pyo3(signature = (api_key=None))]
fn org_list(py: Python<'_>, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_list(&t)))
}

#[pyfunction]
#[pyo3(signature = (name, api_key=None))]
fn org_members(py: Python<'_>, name: String, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_members(&name, &t)))
}

#[pyfunction]
#[pyo3(signature = (name, user, role, api_key=None))]
fn org_set_member(
    py: Python<'_>,
    name: String,
    user: String,
    role: String,
    api_key: Option<String>,
) -> PyResult<Answer> {
    let role = match fedml_client::parse_role(&role) {
        Ok(r) => r,
        Err(e) => return Ok(failure(format!("role: {}", e.message()))),
    };
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_set_member(&name, &user, role, &t)))
}

#[pyfunction]
#[pyo3(signature = (name, user, api_key=None))]
fn org_remove_member(py: Python<'_>, name: String, user: String, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_remove_member(&name, &user, &t)))
}

#[pyfunction]
#[pyo3(signature = (name, force=false, api_key=None))]
fn org_delete(py: Python<'_>, name: String, force: bool, api_key: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::org_delete(&name, force, &t)))
}

#[pyfunction]
#[pyo3(signature = (namespace=None, before=None, limit=None, api_key=None))]
fn audit_log(
    py: Python<'_>,
    namespace: Option<String>,
    before: Option<String>,
    limit: Option<u32>,
    api_key: Option<String>,
) -> PyResult<Answer> {
    let t = target(api_key, None, None);
    quick(py, move || answer(fedml_client::audit_log(namespace.as_deref(), before.as_deref(), limit, &t)))
}

#[pyfunction]
#[pyo3(signature = (api_key=None, namespace=None))]
fn storage_usage(py: Python<'_>, api_key: Option<String>, namespace: Option<String>) -> PyResult<Answer> {
    let t = target(api_key, namespace, None);
    quick(py, move || answer(fedml_client::storage_usage_with(&t)))
}

/// A directory object opened to read its files by ranges: what `fedml.fs` (fsspec's
/// `fedml://`) reads through. A FAILURE is raised as `FileNotFoundError` when it names something
/// missing, else as `OSError`, as file systems raise.
#[pyclass(name = "DirectoryReader", module = "fedml._native", frozen)]
struct PyDirectoryReader {
    inner: fedml_client::DirectoryReader,
}

fn os_error(e: fedml_client::error::ClientError) -> PyErr {
    let message = e.to_string();
    let missing = ["no data named", "holds no file", "holds no folder", "has no version"];
    if matches!(e, fedml_client::error::ClientError::Failure(_)) && missing.iter().any(|m| message.contains(m)) {
        pyo3::exceptions::PyFileNotFoundError::new_err(message)
    } else {
        pyo3::exceptions::PyOSError::new_err(message)
    }
}

#[pymethods]
impl PyDirectoryReader {
    #[new]
    #[pyo3(signature = (data_name, service=None, api_key=None, version=None, namespace=None))]
    fn new(
        py: Python<'_>,
        data_name: String,
        service: Option<String>,
        api_key: Option<String>,
        version: Option<u64>,
        namespace: Option<String>,
    ) -> PyResult<Self> {
        let t = target(api_key, namespace, None);
        let inner = py
            .detach(|| fedml_client::DirectoryReader::open(&data_name, service.as_deref(), version, &t))
            .map_err(os_error)?;
        Ok(PyDirectoryReader { inner })
    }

    /// Every entry as JSON: a list of `{"path", "kind", "size", "crc32"}` in path order.
    fn entries(&self, py: Python<'_>) -> PyResult<String> {
        let entries = py.detach(|| self.inner.entries()).map_err(os_error)?;
        serde_json::to_string(&entries).map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))
    }

    /// "file" or "directory".
    fn kind(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.kind()).map(|k| k.as_str().to_string()).map_err(os_error)
    }

    /// When the object was last written (RFC 3339).
    fn updated_at(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.updated_at()).map_err(os_error)
    }

    /// The object's size (a directory's: its archive's).
    fn size(&self, py: Python<'_>) -> PyResult<u64> {
        py.detach(|| self.inner.size()).map_err(os_error)
    }

    /// The object's checksum as it was opened.
    fn checksum(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.inner.checksum()).map_err(os_error)
    }

    /// Bytes `start .. start + length` of the file at `path` (fewer at its end).
    fn read<'py>(&self, py: Python<'py>, path: String, start: u64, length: u64) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.read(&path, start, length)).map_err(os_error)?;
        Ok(PyBytes::new(py, &bytes))
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDirectoryReader>()?;
    m.add_function(wrap_pyfunction!(fedml_login, m)?)?;
    m.add_function(wrap_pyfunction!(upload, m)?)?;
    m.add_function(wrap_pyfunction!(download, m)?)?;
    m.add_function(wrap_pyfunction!(list_files, m)?)?;
    m.add_function(wrap_pyfunction!(delete, m)?)?;
    m.add_function(wrap_pyfunction!(get_storage_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(get_storage_user_defined_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(list_storage_objects, m)?)?;
    m.add_function(wrap_pyfunction!(update_storage_metadata, m)?)?;
    m.add_function(wrap_pyfunction!(list_versions, m)?)?;
    m.add_function(wrap_pyfunction!(diff_versions, m)?)?;
    for f in [
        wrap_pyfunction!(list_namespaces, m)?,
        wrap_pyfunction!(share, m)?,
        wrap_pyfunction!(list_shares, m)?,
        wrap_pyfunction!(unshare, m)?,
        wrap_pyfunction!(org_create, m)?,
        wrap_pyfunction!(org_list, m)?,
        wrap_pyfunction!(org_members, m)?,
        wrap_pyfunction!(org_set_member, m)?,
        wrap_pyfunction!(org_remove_member, m)?,
        wrap_pyfunction!(org_delete, m)?,
        wrap_pyfunction!(audit_log, m)?,
        wrap_pyfunction!(storage_usage, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
