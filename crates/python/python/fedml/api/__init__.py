"""The FedML storage APIs: ``fedml_login``, ``upload``, ``download``, ``delete``, ``update_storage_metadata``,
``get_storage_metadata``, ``get_storage_user_defined_metadata``, ``list_storage_objects``,
``list_files`` (the files inside a directory object), and ``list_versions`` / ``diff_versions``.

An upload with ``overwrite=True`` adds a version; the calls that read take ``version=N`` and
mean the latest without it.

Every storage call takes ``namespace=``: an organisation's name (``list_namespaces()`` lists
yours) or a user's; without it, the caller's own, as the seed's calls always meant. Teams:
``org_create``, ``org_list``, ``org_members``, ``org_set_member``, ``org_remove_member``,
``org_delete``, ``audit_log``; links that download with no key: ``share``, ``list_shares``,
``unshare``.

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
    "storage_usage",
    "list_namespaces",
    "org_create",
    "org_list",
    "org_members",
    "org_set_member",
    "org_remove_member",
    "org_delete",
    "audit_log",
    "share",
    "list_shares",
    "unshare",
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
    namespace: Optional[str] = None,
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
        namespace: the namespace to store into: an organisation's (you must be a writer of it)
            or a user's (default: your own).

    Returns:
        ``data`` is the URL of the stored object.
    """
    bar = _progress.make(show_progress, out_progress_to_err, progress_desc or DEFAULT_UPLOAD_DESC)
    try:
        answer = _native.upload(
            os.fspath(data_path), api_key, service, name, description, metadata, show_progress,
            out_progress_to_err, progress_desc, tag_list, overwrite, bar, dedup, namespace,
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
    namespace: Optional[str] = None,
) -> FedMLResponse[Any]:
    """Downloads stored data into the directory ``dest_path`` (default: the current directory).

    A file lands at ``dest_path/<last part of data_name>`` (``x.bin`` of ``team/data/x.bin``, as
    ``aws s3 cp`` names a copied key), a directory is unpacked into ``dest_path/<last part>/``;
    an existing copy is replaced only once the new data is verified. Without ``replace``, only a regular file (for a file object) or an earlier download of the
    same directory object is replaced: anything else at that path (a directory the download did
    not make, a file where a directory goes, a link, …) is left untouched and the answer is a
    FAILURE that says what is in the way. ``replace=True`` replaces whatever is there.

    Of a directory object, ``path`` (a path inside it, or several; a folder's path takes
    everything under it) and ``include`` (globs: ``*`` within a folder, ``**`` across folders,
    ``?`` one character) download only those files, into ``dest_path/<last part>/…`` where a
    whole download would put them, each checked against the CRC-32 its archive records.

    ``version`` downloads that version (``list_versions`` lists them) instead of the latest.
    ``namespace`` reads from an organisation's namespace (any member may) or a user's (default:
    your own), e.g. ``download("imagenet", namespace="vision-team")``.

    Returns:
        ``data`` is the absolute path of the downloaded file or directory; with ``path`` or
        ``include``, the list of the files written.
    """
    wanted = _strings(path) + _strings(include)
    bar = _progress.make(show_progress, True, DEFAULT_DOWNLOAD_DESC)
    try:
        answer = _native.download(
            data_name, api_key, service, None if dest_path is None else os.fspath(dest_path), show_progress,
            True, None, bar, replace=replace, wanted=wanted, version=version, namespace=namespace,
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
    namespace: Optional[str] = None,
) -> FedMLResponse[List[dict]]:
    """The files and folders of a directory object under its folder ``path`` (default: its top),
    without downloading it: ``data`` is a list of ``{"path", "kind", "size", "crc32"}``, those
    directly in the folder, or with ``recursive`` everything below it, in path order. Of
    ``version`` when given, else of the latest; in ``namespace`` (default: your own)."""
    return _from_native(_native.list_files(data_name, path, recursive, service, api_key, version, namespace))


def delete(
    data_name: str,
    service: Optional[str] = None,
    api_key: Optional[str] = None,
    version: Optional[int] = None,
    namespace: Optional[str] = None,
) -> FedMLResponse[Any]:
    """Deletes stored data with all its versions: ``data`` is ``True`` once it is gone.

    With ``version``, deletes only that version: ``data`` is ``{"version", "latest",
    "name_deleted"}``. Deleting the latest makes the newest earlier version the latest again
    (``latest`` names it); deleting the only version deletes the name (``name_deleted``).
    ``namespace``: an organisation's (you must be a writer of it), default your own."""
    return _from_native(_native.delete(data_name, service, api_key, version, namespace))


def get_storage_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None, namespace: Optional[str] = None
) -> FedMLResponse[StorageMetadata]:
    """The metadata of stored data (of ``version`` when given, else of the latest): ``data`` is a
    :class:`StorageMetadata` (``dataName``, ``description``, ``createdAt``, ``updatedAt``,
    ``size``, ``tag_list``, ``checksum``, ``version``, …). In ``namespace`` (default: your own)."""
    return _from_native(_native.get_storage_metadata(data_name, api_key, version, namespace), StorageMetadata)


def get_storage_user_defined_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None, namespace: Optional[str] = None
) -> FedMLResponse[Dict[str, str]]:
    """The user-defined metadata given at upload (of ``version`` when given, else of the
    latest): ``data`` is the ``dict`` of strings. In ``namespace`` (default: your own)."""
    return _from_native(_native.get_storage_user_defined_metadata(data_name, api_key, version, namespace))


def list_versions(
    data_name: str, api_key: Optional[str] = None, namespace: Optional[str] = None
) -> FedMLResponse[List[dict]]:
    """The versions of stored data the server keeps, newest first: ``data`` is a list of
    ``{"version", "latest", "size", "checksum", "description", "updated_at", "added_bytes"}``
    (``added_bytes``: what that version added to the store, the bytes it did not share)."""
    return _from_native(_native.list_versions(data_name, api_key, namespace))


def diff_versions(
    data_name: str,
    from_version: int,
    to_version: Optional[int] = None,
    api_key: Optional[str] = None,
    namespace: Optional[str] = None,
) -> FedMLResponse[dict]:
    """Two versions compared (``to_version`` defaults to the latest): ``data`` is ``{"from",
    "to", "shared_bytes", "files", "unchanged_files"}``, ``files`` listing each file added,
    removed or changed as ``{"path", "change", "from_size", "to_size"}``."""
    return _from_native(_native.diff_versions(data_name, from_version, to_version, api_key, namespace))


def list_storage_objects(
    api_key: Optional[str] = None, namespace: Optional[str] = None
) -> FedMLResponse[List[StorageMetadata]]:
    """All your stored data (or, with ``namespace``, an organisation's): ``data`` is a list of
    :class:`StorageMetadata`, in name order."""
    return _from_native(
        _native.list_storage_objects(api_key, namespace), lambda items: [StorageMetadata(item) for item in items]
    )


def update_storage_metadata(
    data_name: str,
    description: Optional[str] = None,
    tag_list: Optional[Union[str, Sequence[str]]] = None,
    metadata: Optional[Dict[str, str]] = None,
    api_key: Optional[str] = None,
    namespace: Optional[str] = None,
) -> FedMLResponse[StorageMetadata]:
    """Changes the description, tags or user-defined metadata of stored data (never its bytes);
    what is left ``None`` stays as it is, an empty value clears it. ``data`` is the
    :class:`StorageMetadata` as it now is. In ``namespace`` (default: your own)."""
    return _from_native(
        _native.update_storage_metadata(data_name, description, tag_list, metadata, api_key, namespace),
        StorageMetadata,
    )


def storage_usage(api_key: Optional[str] = None, namespace: Optional[str] = None) -> FedMLResponse[dict]:
    """What a namespace's data takes (default: your own): ``data`` is ``{"user", "objects",
    "logical_bytes", "stored_bytes"}`` (``user`` names the namespace; ``stored_bytes`` counts
    data shared by versions and copies once)."""
    return _from_native(_native.storage_usage(api_key, namespace))


# -- teams ---------------------------------------------------------------------------------------


def list_namespaces(api_key: Optional[str] = None) -> FedMLResponse[List[dict]]:
    """The namespaces you may use, your own first: ``data`` is a list of ``{"name",
    "organisation", "role"}`` (``role``: ``owner`` of your own; ``reader``, ``writer`` or
    ``admin`` of an organisation's)."""
    return _from_native(_native.list_namespaces(api_key))


def org_create(name: str, api_key: Optional[str] = None) -> FedMLResponse[dict]:
    """Creates organisation ``name`` (names are shared with users); you become its admin.
    ``data``: ``{"name", "role", "members", "objects", "created_at"}``."""
    return _from_native(_native.org_create(name, api_key))


def org_list(api_key: Optional[str] = None) -> FedMLResponse[List[dict]]:
    """Your organisations with your role in each (a server administrator sees every one)."""
    return _from_native(_native.org_list(api_key))


def org_members(name: str, api_key: Optional[str] = None) -> FedMLResponse[List[dict]]:
    """The members of organisation ``name``: ``{"user", "role", "added_at", "added_by"}``."""
    return _from_native(_native.org_members(name, api_key))


def org_set_member(name: str, user: str, role: str, api_key: Optional[str] = None) -> FedMLResponse[dict]:
    """Adds ``user`` to organisation ``name`` as ``role`` (``"reader"``, ``"writer"`` or
    ``"admin"``), or changes their role; admins only."""
    return _from_native(_native.org_set_member(name, user, role, api_key))


def org_remove_member(name: str, user: str, api_key: Optional[str] = None) -> FedMLResponse[bool]:
    """Removes ``user`` from organisation ``name`` (admins; or a member leaving): their access
    ends at once."""
    return _from_native(_native.org_remove_member(name, user, api_key))


def org_delete(name: str, force: bool = False, api_key: Optional[str] = None) -> FedMLResponse[bool]:
    """Deletes organisation ``name`` (admins only); refused while it holds data unless
    ``force=True``, which deletes the data with it."""
    return _from_native(_native.org_delete(name, force, api_key))


def audit_log(
    namespace: Optional[str] = None,
    before: Optional[str] = None,
    limit: Optional[int] = None,
    api_key: Optional[str] = None,
) -> FedMLResponse[dict]:
    """A page of a namespace's audit log, newest first (an organisation's admins, or the owner
    of their own): ``data`` is ``{"entries", "next"}``, each entry ``{"id", "at", "namespace",
    "actor", "key_id", "action", "target", "detail"}``; pass ``next`` as ``before`` for older
    entries."""
    return _from_native(_native.audit_log(namespace, before, limit, api_key))


def share(
    data_name: str,
    version: Optional[int] = None,
    expires: Union[str, int, None] = None,
    namespace: Optional[str] = None,
    api_key: Optional[str] = None,
) -> FedMLResponse[dict]:
    """Makes a link that downloads ``data_name`` with no key (a plain GET; ranges too): of
    ``version`` (default: whatever is the latest when the link is used), for ``expires`` (seconds,
    or a duration such as ``"12h"`` or ``"7d"``; default and at most the server's maximum), in
    ``namespace`` (default: your own; you must be a writer of it). ``data`` is ``{"url",
    "share"}``; the URL is shown only this once."""
    return _from_native(_native.share(data_name, version, expires, namespace, api_key))


def list_shares(namespace: Optional[str] = None, api_key: Optional[str] = None) -> FedMLResponse[List[dict]]:
    """The live links of ``namespace`` (default: your own): ``{"id", "namespace", "name",
    "version", "created_by", "created_at", "expires_at", "uses"}``."""
    return _from_native(_native.list_shares(namespace, api_key))


def unshare(share_id: str, api_key: Optional[str] = None) -> FedMLResponse[bool]:
    """Ends link ``share_id`` (as ``list_shares`` names it) at once."""
    return _from_native(_native.unshare(share_id, api_key))
