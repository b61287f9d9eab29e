"""Native core of the fedml package (private: use ``fedml.api``). Each call answers
``(code, message, data_as_json)``."""

from os import PathLike
from typing import Callable, Mapping, Optional, Sequence, Tuple, Union

_Answer = Tuple[str, str, str]
_Progress = Optional[Callable[[int, int], None]]

__version__: str

def fedml_login(api_key: Optional[str] = None) -> _Answer: ...
def upload(
    data_path: Union[str, PathLike],
    api_key: Optional[str] = None,
    service: str = "R2",
    name: Optional[str] = None,
    description: Optional[str] = None,
    metadata: Optional[Mapping[str, str]] = None,
    show_progress: bool = False,
    out_progress_to_err: bool = True,
    progress_desc: Optional[str] = None,
    tag_list: Optional[Union[str, Sequence[str]]] = None,
    overwrite: bool = False,
    progress: _Progress = None,
    dedup: bool = True,
    namespace: Optional[str] = None,
) -> _Answer: ...
def download(
    data_name: str,
    api_key: Optional[str] = None,
    service: str = "R2",
    dest_path: Optional[Union[str, PathLike]] = None,
    show_progress: bool = True,
    out_progress_to_err: bool = True,
    progress_desc: Optional[str] = None,
    progress: _Progress = None,
    replace: bool = False,
    wanted: Sequence[str] = ...,
    version: Optional[int] = None,
    namespace: Optional[str] = None,
) -> _Answer: ...
def list_files(
    data_name: str,
    path: str = "",
    recursive: bool = False,
    service: Optional[str] = None,
    api_key: Optional[str] = None,
    version: Optional[int] = None,
    namespace: Optional[str] = None,
) -> _Answer: ...
def delete(
    data_name: str,
    service: Optional[str] = None,
    api_key: Optional[str] = None,
    version: Optional[int] = None,
    namespace: Optional[str] = None,
) -> _Answer: ...
def get_storage_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None, namespace: Optional[str] = None
) -> _Answer: ...
def get_storage_user_defined_metadata(
    data_name: str, api_key: Optional[str] = None, version: Optional[int] = None, namespace: Optional[str] = None
) -> _Answer: ...
def list_storage_objects(api_key: Optional[str] = None, namespace: Optional[str] = None) -> _Answer: ...
def update_storage_metadata(
    data_name: str,
    description: Optional[str] = None,
    tag_list: Optional[Union[str, Sequence[str]]] = None,
    metadata: Optional[Mapping[str, str]] = None,
    api_key: Optional[str] = None,
    namespace: Optional[str] = None,
) -> _Answer: ...
def list_versions(data_name: str, api_key: Optional[str] = None, namespace: Optional[str] = None) -> _Answer: ...
def diff_versions(
    data_name: str,
    from_version: int,
    to_version: Optional[int] = None,
    api_key: Optional[str] = None,
    namespace: Optional[str] = None,
) -> _Answer: ...
def storage_usage(api_key: Optional[str] = None, namespace: Optional[str] = None) -> _Answer: ...
def list_namespaces(api_key: Optional[str] = None) -> _Answer: ...
def share(
    data_name: str,
    version: Optional[int] = None,
    expires: Union[str, int, None] = None,
    namespace: Optional[str] = None,
    api_key: Optional[str] = None,
) -> _Answer: ...
def list_shares(namespace: Optional[str] = None, api_key: Optional[str] = None) -> _Answer: ...
def unshare(share_id: str, api_key: Optional[str] = None) -> _Answer: ...
def org_create(name: str, api_key: Optional[str] = None) -> _Answer: ...
def org_list(api_key: Optional[str] = None) -> _Answer: ...
def org_members(name: str, api_key: Optional[str] = None) -> _Answer: ...
def org_set_member(name: str, user: str, role: str, api_key: Optional[str] = None) -> _Answer: ...
def org_remove_member(name: str, user: str, api_key: Optional[str] = None) -> _Answer: ...
def org_delete(name: str, force: bool = False, api_key: Optional[str] = None) -> _Answer: ...
def audit_log(
    namespace: Optional[str] = None, before: Optional[str] = None, limit: Optional[int] = None, api_key: Optional[str] = None
) -> _Answer: ...

class DirectoryReader:
    def __init__(
        self,
        data_name: str,
        service: Optional[str] = None,
        api_key: Optional[str] = None,
        version: Optional[int] = None,
        namespace: Optional[str] = None,
    ) -> None: ...
    def entries(self) -> str: ...
    def kind(self) -> str: ...
    def updated_at(self) -> str: ...
    def size(self) -> int: ...
    def checksum(self) -> str: ...
    def read(self, path: str, start: int, length: int) -> bytes: ...
