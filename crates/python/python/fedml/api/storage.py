"""Metadata of a stored object, with the attribute names the FedML examples read."""

from typing import Any, Dict, List, Optional


class StorageMetadata:
    """One stored object: ``dataName``, ``description``, ``createdAt``, ``updatedAt`` (RFC 3339,
    UTC), ``size`` (bytes), ``tag_list``, ``download_url`` (a short-lived signed URL of the
    content), ``checksum`` (``blake3:<hex>``), ``kind`` (``file`` or ``directory``), ``service``,
    ``user_metadata`` and ``version`` (which version of the name it is)."""

    __slots__ = (
        "dataName",
        "description",
        "createdAt",
        "updatedAt",
        "size",
        "tag_list",
        "download_url",
        "checksum",
        "kind",
        "service",
        "user_metadata",
        "version",
    )

    def __init__(self, data: Dict[str, Any]) -> None:
        self.dataName: str = data.get("dataName", "")
        self.description: str = data.get("description", "")
        self.createdAt: str = data.get("createdAt", "")
        self.updatedAt: str = data.get("updatedAt", "")
        self.size: int = int(data.get("size", 0))
        self.tag_list: List[str] = list(data.get("tags", []))
        self.download_url: Optional[str] = data.get("downloadUrl")
        self.checksum: str = data.get("checksum", "")
        self.kind: str = data.get("kind", "")
        self.service: str = data.get("service", "")
        self.user_metadata: Dict[str, str] = dict(data.get("userMetadata", {}))
        self.version: int = int(data.get("version", 1))

    @property
    def tags(self) -> List[str]:
        return self.tag_list

    def to_dict(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        return f"StorageMetadata(dataName={self.dataName!r}, size={self.size}, kind={self.kind!r})"
