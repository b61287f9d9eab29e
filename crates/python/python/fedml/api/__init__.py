"""The FedML storage APIs: ``fedml_login``, ``upload``, ``download``, ``delete``, ``update_storage_metadata``,
``get_storage_metadata``, ``get_storage_user_defined_metadata``, ``list_storage_objects``,
``list_files`` (the files inside a directory object), and ``list_versions`` / ``diff_versions``.

An upload with ``overwrite=True`` adds a version; the calls that read take ``version=N`` and
mean the latest without it.

Every call returns a :class:`~fedml.api.fedml_response.FedMLResponse`; failures are reported
through its ``code`` and ``message``, never raised. Transfers release the GIL, and Ctrl-C cancels
them cleanly (nothing stored, no partial file) before ``KeyboardInterrupt`` is raised.
"""

import os
from typing import Any, Dict, List, Optional, Sequence, Union

from .. import _native
from . import _progress
from .fedml_response import FedMLResponse, ResponseCode, _from_native
from .storage import StorageMetadata

__all__ = [
    "FedMLResponse",
    "ResponseCode",
    "StorageMetadata",
    "fedml_login",
    "upload",
    "download",
    "delete",
    "get_storage_metadata",
    "get_storage_user_defined_metadata",
    "list_storage_objects",
    "list_files",
    "list_versions",
    "diff_versions",
    "update_storage_metadata",
]

PathLike = Union[str, "os.PathLike[str]"]

DEFAULT_UPLOAD_DESC = "Uploading Package to Remote Storage"
DEFAULT_DOWNLOAD_DESC = "Downloading from Remote Storage"


def fedml_login(api_key: Optional[str] = None) -> FedMLResponse[dict]:
    """Checks ``api_key`` against the server and saves it (with the server URL) for later calls.

    The server is ``FEDML_SERVER_URL``, else the one saved by an earlier login, else
    ``http://127.0.0.1:8780``. ``data``: ``{"user", "key_id", "read_only", "services", ...}``.
    """
    return _from_native(_native.fedml_login(api_key))


def upload(
    data_path: PathLike,
    api_key: Optional[str] = None,
    service: str = "R2",
    name: Optional[str] = None,
    description: Optional[str] = None,
    metadata: Optional[Dict[str, str]] = None,
    show_progress: bool = False,
    out_progress_to_err: bool = True,
    progress_desc: Optional[str] = None,
    tag_list: Optional[Union[str, Sequence[str]]] = None,
    overwrite: bool = False,
    dedup: bool = True,
) -> FedMLResponse[str]:
    """Uploads a file or a directory.

    Args:
        data_path: the file or directory to store.
        api_key: your API key (default: ``FEDML_API_KEY``, then the saved login).
        service: the storage service (the server's configuration names them; default ``"R2"``).
        name: the name to store it under (default: the file or directory name).
        description: a description. ``None`` (the default) gives none to a new name and, with
            ``overwrite=True``, keeps the description of the version replaced; ``""`` clears it.
        metadata: user-defined metadata; keys and values must be strings. ``None`` keeps, as
            ``description`` does; ``{}`` clears it.
        show_progress: draw a progress bar.
        out_progress_to_err: draw it on stderr (else stdout).
        progress_desc: the text beside the bar (default "Uploading Package to Remote Storage").
        tag_list: tags, as a list or a comma-separated string. ``None`` keeps, as
            ``description`` does; ``[]`` clears them.
        overwrite: store a new version of an object of the same name (atomically) instead of
            failing; the earlier versions stay as the server's retention keeps them, and the new
            one keeps the description, tags and metadata it is not given.
        dedup: store a file as content-defined chunks (the default), sending only what the
            server does not hold yet; an interrupted upload run again sends only the rest.
            ``False`` stores it as one blob.

    Returns:
        ``data`` is the URL of the stored object.
    """
    bar = _progress.make(show_progress, out_progress_to_err, progress_desc or DEFAULT_UPLOAD_DESC)
    try:
        answer = _native.upload(
            os.fspath(data_path), api_key, service, name, description, metadata, show_progress,
            out_progress_to_err, progress_desc, tag_list, overwrite, bar, dedup,
        )
    finally:
        _progress.close(bar)
    return _from_native(answer, lambda done: done["url"])


def download(
    data_name: str,
    api_key: Optional[str] = None,
    service: str = "R2",
    dest_path: Optional[PathLike] = None,
    show_progress: bool = True,
    replace: bool = False,
    path: Union[str, Sequence[str], None] = None,
    include: Union[str, Sequence[str], None] = None,
    version: Optional[int] = None,
) -> FedMLResponse[Any]:
    """Downloads stored data into the directory ``dest_path`` (default: the current directory).

    A file lands at ``dest_path/<data_name>``, a directory is unpacked into
    ``dest_path/<data_name>/``; an existing copy is replaced only once the new data is verified.
    Without ``replace``, only a regular file (for a file object) or an earlier download of the
    same directory object is replaced: anything else at that path (a directory the download did
    not make, a file where a directory goes, a link, …) is left untouched and the answer is a
    FAILURE that says what is in the way. ``replace=True`` replaces whatever is there.

    Of a directory object, ``path`` (a path inside it, or several; a folder's path takes
    everything under it) and ``include`` (globs: ``*`` within a folder, ``**`` across folders,
    ``?`` one character) download only those files, into ``dest_path/<data_name>/…`` where a
    whole download would put them, each checked against the CRC-32 its archive records.

    ``version`` downloads that version (``list_versions`` lists them) instead of the latest.

    Returns:
        ``data`` is the absolute path of the downloaded file or directory; with ``path`` or
        ``include``, the list of the files written.
    """
    wanted = _strings(path) + _strings(include)
    bar = _progress.make(show_progress, True, DEFAULT_DOWNLOAD_DESC)
    try:
        answer = _native.download(
            data_name, api_key, service, None if dest_path is None else os.fspath(dest_path), show_progress,
            True, None, bar, replace=replace, wanted=wanted, version=version,
        )
    finally:
        _progress.close(bar)
    return _from_native(answer)


def _strings(value: Union[str, Sequence[str], None]) -> List[str]:
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    return [os.fspath(v) for v in value]


def list_files(
    data_name: str,
    path: str = "",
    recursive: bool = False,
    service: Optional[str] = None,
    api_key: Optional[str] = None,
    version: Optional[int] = None,
) -> FedMLResponse[List[dict]]:
    """The files and folders of a directory object under its folder ``path`` (default: its top),
    without downloading it: ``data`` is a list of ``{"path", "kind", "size", "crc32"}``, those
    directly in the folder, or with ``recursive`` everything below it, in path order. Of
    ``version`` when given, else of the latest."""
    return _from_native(_native.list_files(data_name, path, recursive, service, api_key, version))


def delete(
    data_name: str, service: Optional[str] = None, api_key: Optional[str] = None, version: Optional[int] = None
) -> FedMLResponse[Any]:
    """Deletes stored data with all its versions: ``data`` is ``True`` once it is gone.

    With ``version``, deletes only that version: ``data`` is ``{"version", "latest",
    "name_deleted"}``. Deleting the latest makes the newest earlier version the latest again
    (``latest`` names it); deleting the only version deletes the name (``name_deleted``)."""
    return _from_native(_native.delete(data_name, service, api_key, version))


def get_storage_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None
) -> FedMLResponse[StorageMetadata]:
    """The metadata of stored data (of ``version`` when given, else of the latest): ``data`` is a
    :class:`StorageMetadata` (``dataName``, ``description``, ``createdAt``, ``updatedAt``,
    ``size``, ``tag_list``, ``checksum``, ``version``, …)."""
    return _from_native(_native.get_storage_metadata(data_name, api_key, version), StorageMetadata)


def get_storage_user_defined_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None
) -> FedMLResponse[Dict[str, str]]:
    """The user-defined metadata given at upload (of ``version`` when given, else of the
    latest): ``data`` is the ``dict`` of strings."""
    return _from_native(_native.get_storage_user_defined_metadata(data_name, api_key, version))


def list_versions(data_name: str, api_key: Optional[str] = None) -> FedMLResponse[List[dict]]:
    """The versions of stored data the server keeps, newest first: ``data`` is a list of
    ``{"version", "latest", "size", "checksum", "description", "updated_at", "added_bytes"}``
    (``added_bytes``: what that version added to the store, the bytes it did not share)."""
    return _from_native(_native.list_versions(data_name, api_key))


def diff_versions(
    data_name: str, from_version: int, to_version: Optional[int] = None, api_key: Optional[str] = None
) -> FedMLResponse[dict]:
    """Two versions compared (``to_version`` defaults to the latest): ``data`` is ``{"from",
    "to", "shared_bytes", "files", "unchanged_files"}``, ``files`` listing each file added,
    removed or changed as ``{"path", "change", "from_size", "to_size"}``."""
    return _from_native(_native.diff_versions(data_name, from_version, to_version, api_key))


def list_storage_objects(api_key: Optional[str] = None) -> FedMLResponse[List[StorageMetadata]]:
    """All your stored data: ``data`` is a list of :class:`StorageMetadata`, in name order."""
    return _from_native(
        _native.list_storage_objects(api_key), lambda items: [StorageMetadata(item) for item in items]
    )


def update_storage_metadata(
    data_name: str,
    description: Optional[str] = None,
    tag_list: Optional[Union[str, Sequence[str]]] = None,
    metadata: Optional[Dict[str, str]] = None,
    api_key: Optional[str] = None,
) -> FedMLResponse[StorageMetadata]:
    """Changes the description, tags or user-defined metadata of stored data (never its bytes);
    what is left ``None`` stays as it is, an empty value clears it. ``data`` is the
    :class:`StorageMetadata` as it now is."""
    return _from_native(
        _native.update_storage_metadata(data_name, description, tag_list, metadata, api_key), StorageMetadata
    )
