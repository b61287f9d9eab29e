"""The ``fedml://`` protocol for fsspec: stored data read in place, without downloading it whole.

    fedml://NAME                 a file object, or the top of a directory object
    fedml://NAME/path/in/object  a file or folder inside a directory object
    fedml://NAME@3/path          the same in version 3 of the object (the latest without ``@N``)
    fedml://team/data            the folder of the names that start with ``team/data/``

A name may hold ``/`` between its parts (``team/data/x.bin``): it reads as a path, its first
parts as folders. A name is either data or a folder of other names, never both, so a path names
at most one object: the one whose name is the path or a leading run of its parts.

pandas, pyarrow, DuckDB and anything else that takes fsspec URLs read through it, e.g.
``pandas.read_parquet("fedml://dataset/train/part-0.parquet")``. The key and server are found
as the rest of the package finds them (``api_key=`` in ``storage_options``, ``FEDML_API_KEY``,
then the saved login). ``namespace=`` in ``storage_options`` reads an organisation's data
(``storage_options={"namespace": "vision-team"}``; default: your own). Read-only. A directory object's list of files is read once when it is
first used (``refresh=True`` or a new filesystem reads it again); each read of a file is a
ranged read of the bytes it needs, straight from the store's packs.
"""

import datetime
import json
import threading
from typing import Dict, List, Optional, Set, Tuple

from fsspec.caching import BaseCache, register_cache
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem

from . import _native

__all__ = ["FedmlFileSystem"]


class FedmlFileSystem(AbstractFileSystem):
    """fsspec filesystem over the caller's stored objects (``protocol = "fedml"``)."""

    protocol = ("fedml",)
    root_marker = ""

    def __init__(
        self, api_key: Optional[str] = None, service: Optional[str] = None, namespace: Optional[str] = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.api_key = api_key
        self.service = service
        self.namespace = namespace
        self._lock = threading.Lock()
        self._readers: Dict[str, "_native.DirectoryReader"] = {}
        self._listings: Dict[str, Dict[str, dict]] = {}
        # Leading parts of paths found to be no object (`_locate`), and every object's name,
        # kind and size (read once, for folders of names).
        self._not_objects: Set[str] = set()
        self._names: Optional[List[dict]] = None

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = str(path)
        if path.startswith("fedml://"):
            path = path[len("fedml://"):]
        return path.strip("/")

    def unstrip_protocol(self, name: str) -> str:
        return "fedml://" + name

    # -- the objects and what they hold -------------------------------------------------------

    def _locate(self, path: str) -> Optional[Tuple[str, str]]:
        """``NAME[@N]`` of the object ``path`` is in (its name is the path or a leading run of its
        parts) and the path inside it; ``None`` when no object is (then the path may be a folder
        of names). A version asked for that the object lacks raises ``FileNotFoundError``."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            name = "/".join(parts[:i])
            with self._lock:
                if name in self._readers:
                    return name, "/".join(parts[i:])
                if name in self._not_objects:
                    continue
            try:
                self._reader(name)
            except FileNotFoundError as e:
                if "has no version" in str(e):
                    raise
                with self._lock:
                    self._not_objects.add(name)
                continue
            return name, "/".join(parts[i:])
        return None

    def _split(self, path: str) -> Tuple[str, str]:
        """``NAME[@N]`` and the path inside the object, or ``FileNotFoundError``."""
        found = self._locate(path)
        if found is None:
            raise FileNotFoundError(f"fedml://{path}: no stored data is named so or holds it")
        return found

    def _all_names(self) -> List[dict]:
        """Every object of the namespace: its name, kind and size (read once)."""
        with self._lock:
            if self._names is not None:
                return self._names
        from . import api

        listed = api.list_storage_objects(api_key=self.api_key, namespace=self.namespace)
        if listed.code != api.ResponseCode.SUCCESS:
            raise OSError(listed.message)
        names = [{"name": o.dataName, "size": int(o.size or 0),
                  "type": "directory" if getattr(o, "kind", "file") == "directory" else "file"}
                 for o in listed.data or []]
        with self._lock:
            self._names = names
        return names

    def _folder(self, folder: str) -> Optional[List[dict]]:
        """What the folder of names ``folder`` holds (``""``: the top), one entry per next part:
        an object, or a folder of longer names; ``None`` when no name is in it."""
        prefix = f"{folder}/" if folder else ""
        entries: Dict[str, dict] = {}
        for o in self._all_names():
            if not o["name"].startswith(prefix):
                continue
            part, deeper, _ = o["name"][len(prefix):].partition("/")
            name = prefix + part
            entries[name] = {"name": name, "size": 0, "type": "directory"} if deeper else dict(o)
        if not entries:
            return None
        return [entries[k] for k in sorted(entries)]

    @staticmethod
    def _version(name: str) -> Tuple[str, Optional[int]]:
        """``NAME@N`` is version N of NAME (N digits); anything else names the latest."""
        base, at, version = name.rpartition("@")
        if at and base and version.isdigit():
            if int(version) < 1:
                raise ValueError(f"{name!r}: versions are numbered from 1")
            return base, int(version)
        return name, None

    def _reader(self, name: str) -> "_native.DirectoryReader":
        with self._lock:
            reader = self._readers.get(name)
        if reader is None:
            base, version = self._version(name)
            reader = _native.DirectoryReader(base, self.service, self.api_key, version, self.namespace)
            with self._lock:
                self._readers[name] = reader
        return reader

    def _listing(self, name: str) -> Dict[str, dict]:
        """Every entry of object ``name`` by its path inside it (folders an archive leaves
        implied are listed by the reader too)."""
        with self._lock:
            found = self._listings.get(name)
        if found is not None:
            return found
        reader = self._reader(name)
        out: Dict[str, dict] = {}
        if reader.kind() == "file":
            out[""] = {"name": name, "size": reader.size(), "type": "file"}
        else:
            out[""] = {"name": name, "size": 0, "type": "directory"}
            for entry in json.loads(reader.entries()):
                path = entry["path"]
                kind = "directory" if entry["kind"] == "directory" else "file"
                out[path] = {"name": f"{name}/{path}", "size": entry["size"], "type": kind,
                             "crc32": entry["crc32"]}
        with self._lock:
            self._listings[name] = out
        return out

    def invalidate_cache(self, path=None):
        with self._lock:
            self._not_objects.clear()
            self._names = None
            if path is None:
                self._readers.clear()
                self._listings.clear()
            else:
                path = self._strip_protocol(path)
                # The object the path is in: the path itself, or a leading run of its parts.
                for name in [n for n in self._readers if path == n or path.startswith(f"{n}/")]:
                    self._readers.pop(name, None)
                    self._listings.pop(name, None)
        super().invalidate_cache(path)

    # -- fsspec's reading API -----------------------------------------------------------------

    def ls(self, path, detail=True, refresh=False, **kwargs):
        path = self._strip_protocol(path)
        if refresh:
            self.invalidate_cache(path or None)
        found = self._locate(path) if path else None
        if found is None:
            entries = self._folder(path) or []
            if path and not entries:
                raise FileNotFoundError(f"fedml://{path}: no stored data is named so or holds it")
            return entries if detail else [e["name"] for e in entries]
        name, inner = found
        listing = self._listing(name)
        here = listing.get(inner)
        if here is None:
            raise FileNotFoundError(f"fedml://{path}: {name!r} holds no such file or folder")
        if here["type"] == "file":
            entries = [here]
        else:
            prefix = f"{inner}/" if inner else ""
            entries = [e for p, e in listing.items()
                       if p and p.startswith(prefix) and "/" not in p[len(prefix):]]
            entries.sort(key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if not path:
            return {"name": "", "size": 0, "type": "directory"}
        located = self._locate(path)
        if located is None:
            if self._folder(path) is None:
                raise FileNotFoundError(f"fedml://{path}: no stored data is named so or holds it")
            return {"name": path, "size": 0, "type": "directory"}
        name, inner = located
        found = self._listing(name).get(inner)
        if found is None:
            raise FileNotFoundError(f"fedml://{path}: {name!r} holds no such file or folder")
        return dict(found)

    def modified(self, path):
        """When the object holding ``path`` was last written (every file of a directory object
        shares it: the object is written whole)."""
        name, inner = self._split(self._strip_protocol(path))
        self.info(path)
        stamp = self._reader(name).updated_at().replace("Z", "+00:00")
        return datetime.datetime.fromisoformat(stamp)

    def _open(self, path, mode="rb", block_size=None, autocommit=True, cache_options=None, **kwargs):
        if mode != "rb":
            raise NotImplementedError("fedml:// is read-only; store data with fedml.api.upload")
        path = self._strip_protocol(path)
        info = self.info(path)
        if info["type"] != "file":
            raise IsADirectoryError(f"fedml://{path} is a folder")
        kwargs.setdefault("cache_type", AdaptiveCache.name)
        return FedmlFile(self, path, mode, block_size, autocommit, cache_options=cache_options,
                         size=info["size"], **kwargs)

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes ``start .. end`` of the file at ``path`` (fewer at its end)."""
        name, inner = self._split(self._strip_protocol(path))
        if end <= start:
            return b""
        return self._reader(name).read(inner, start, end - start)

    def cat_file(self, path, start=None, end=None, **kwargs):
        path = self._strip_protocol(path)
        size = self.info(path)["size"]
        start = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        end = size if end is None else (end if end >= 0 else max(size + end, 0))
        return self.read_range(path, start, min(end, size))

    def _rm(self, path):
        raise NotImplementedError("fedml:// is read-only; delete with fedml.api.delete")

    def mkdir(self, path, create_parents=True, **kwargs):
        raise NotImplementedError("fedml:// is read-only")


class FedmlFile(AbstractBufferedFile):
    """A file inside a stored object, read by ranges through :class:`AdaptiveCache` unless
    another ``cache_type`` is asked for."""

    def _fetch_range(self, start, end):
        return self.fs.read_range(self.path, start, end)


class AdaptiveCache(BaseCache):
    """Reads exactly what is asked for while reads jump about (Parquet and Arrow readers ask
    for whole column chunks: reading ahead would fetch other columns), and reads further ahead,
    doubling up to ``blocksize`` (default 16 MiB), while each read starts where the last ended
    (CSV, JSON, a plain ``read()`` loop)."""

    name = "fedml-adaptive"
    FIRST_AHEAD = 64 << 10

    def __init__(self, blocksize, fetcher, size):
        super().__init__(blocksize or (16 << 20), fetcher, size)
        self.cache = b""
        self.start = 0
        self.end = 0
        self.ahead = 0

    def _fetch(self, start, stop):
        start = 0 if start is None else start
        stop = self.size if stop is None else min(stop, self.size)
        if start >= stop:
            return b""
        if self.start <= start and stop <= self.end:
            self.hit_count += 1
            return self.cache[start - self.start:stop - self.start]
        self.miss_count += 1
        sequential = self.end > 0 and self.start <= start <= self.end
        self.ahead = min(max(self.ahead * 2, self.FIRST_AHEAD), self.blocksize) if sequential else 0
        until = min(self.size, stop + self.ahead)
        if sequential:
            # Keep what is cached from `start` on; fetch only the rest.
            fresh = self.fetcher(self.end, until)
            self.cache = self.cache[start - self.start:] + fresh
        else:
            fresh = self.fetcher(start, until)
            self.cache = fresh
        self.total_requested_bytes += len(fresh)
        self.start, self.end = start, start + len(self.cache)
        return self.cache[:stop - start]


register_cache(AdaptiveCache, clobber=True)

