"""boto3 (botocore's current defaults, and `request_checksum_calculation="when_required"`) against
the target: objects, listings, ranges, conditions, checksums, multipart, versions, presigned URLs,
buckets and the errors clients branch on."""

import base64
import datetime as dt
import hashlib
import os
import subprocess
import time
import urllib.parse
import zlib

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.handlers import set_list_objects_encoding_type_url
from botocore.httpchecksum import CrtCrc32cChecksum, CrtCrc64NvmeChecksum

from conftest import GAPS, TARGET, Creds, error_code, status

MiB = 1 << 20


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def checksum_of(algorithm: str, data: bytes) -> str:
    """The base64 value S3 gives for `x-amz-checksum-<algorithm>` of data."""
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    c = {"CRC32C": CrtCrc32cChecksum, "CRC64NVME": CrtCrc64NvmeChecksum}[algorithm]()
    c.update(data)
    return c.b64digest()


def md5_etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


@pytest.fixture(scope="module", params=["when_supported", "when_required"])
def s3c(request, target):
    """boto3 in both checksum modes: its default (a CRC32 with every PUT and part) and the one
    users set for servers without checksum support (AWS_REQUEST_CHECKSUM_CALCULATION)."""
    return target.client(request_checksum_calculation=request.param,
                         response_checksum_validation=request.param)


# --- objects ------------------------------------------------------------------------------------

def test_put_get_head_keep_bytes_type_and_metadata(s3c, target, prefix):
    data = os.urandom(300_000)
    key = prefix + "file.csv"
    put = s3c.put_object(Bucket=target.bucket, Key=key, Body=data, ContentType="text/csv; charset=utf-8",
                         Metadata={"Source": "crawl-2026", "two-words": "hello world"})
    assert put["ETag"] == md5_etag(data)
    got = s3c.get_object(Bucket=target.bucket, Key=key)
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ContentType"] == "text/csv; charset=utf-8"
    assert got["Metadata"] == {"source": "crawl-2026", "two-words": "hello world"}
    assert got["ETag"] == put["ETag"]
    assert abs((got["LastModified"] - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 120
    head = s3c.head_object(Bucket=target.bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "text/csv; charset=utf-8"
    assert head["Metadata"] == got["Metadata"]
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] == got["LastModified"]


def test_empty_object_and_default_content_type(s3c, target, prefix):
    s3c.put_object(Bucket=target.bucket, Key=prefix + "empty", Body=b"")
    got = s3c.get_object(Bucket=target.bucket, Key=prefix + "empty")
    assert got["Body"].read() == b""
    assert got["ContentLength"] == 0
    assert got["ETag"] == md5_etag(b"")


@pytest.mark.parametrize("name", ["a/b/c/deep.txt", "sp ace+plus&amp;é\"quote'.txt", "日本語/ключ.bin",
                                  "semi;colon=eq,comma(paren)!*~@$.txt", "percent%20literal.txt"])
def test_keys_with_slashes_and_special_characters(s3, target, prefix, name):
    key = prefix + name
    s3.put_object(Bucket=target.bucket, Key=key, Body=name.encode())
    assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == name.encode()
    assert s3.head_object(Bucket=target.bucket, Key=key)["ContentLength"] == len(name.encode())
    listed = s3.list_objects_v2(Bucket=target.bucket, Prefix=prefix)
    if "encoding-type" not in target.gaps or not any(c in key for c in "+%"):
        assert [o["Key"] for o in listed.get("Contents", [])] == [key]
    s3.delete_object(Bucket=target.bucket, Key=key)
    assert s3.list_objects_v2(Bucket=target.bucket, Prefix=prefix)["KeyCount"] == 0


def test_overwrite_replaces_what_is_read(s3c, target, prefix):
    key = prefix + "k"
    s3c.put_object(Bucket=target.bucket, Key=key, Body=b"one")
    s3c.put_object(Bucket=target.bucket, Key=key, Body=b"second")
    assert s3c.get_object(Bucket=target.bucket, Key=key)["Body"].read() == b"second"
    assert s3c.head_object(Bucket=target.bucket, Key=key)["ContentLength"] == 6


def test_content_md5_right_and_wrong(s3c, target, prefix):
    data = b"checked with MD5\n" * 1000
    good = b64(hashlib.md5(data).digest())
    s3c.put_object(Bucket=target.bucket, Key=prefix + "ok", Body=data, ContentMD5=good)
    assert s3c.get_object(Bucket=target.bucket, Key=prefix + "ok")["Body"].read() == data
    bad = b64(hashlib.md5(b"something else").digest())
    with pytest.raises(ClientError) as e:
        s3c.put_object(Bucket=target.bucket, Key=prefix + "bad", Body=data, ContentMD5=bad)
    assert error_code(e) == "BadDigest" and status(e) == 400
    if "refused-put-gone" not in target.gaps:
        with pytest.raises(ClientError) as e:
            s3c.head_object(Bucket=target.bucket, Key=prefix + "bad")
        assert status(e) == 404, "an object refused for its Content-MD5 was stored"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksum_algorithms(s3c, target, prefix, algorithm):
    data = os.urandom(200_000)
    key = prefix + algorithm
    put = s3c.put_object(Bucket=target.bucket, Key=key, Body=data, ChecksumAlgorithm=algorithm)
    expected, field = checksum_of(algorithm, data), f"Checksum{algorithm}"
    head = s3c.head_object(Bucket=target.bucket, Key=key, ChecksumMode="ENABLED")
    # botocore checks the checksum of what it reads when the answer carries one.
    got = s3c.get_object(Bucket=target.bucket, Key=key, ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    # A range is not the whole object: no whole-object checksum on it (botocore would check it).
    part = s3c.get_object(Bucket=target.bucket, Key=key, Range="bytes=10-99", ChecksumMode="ENABLED")
    assert part["Body"].read() == data[10:100]
    answers = {"PutObject": put.get(field), "HeadObject": head.get(field), "GetObject": got.get(field)}
    assert answers == dict.fromkeys(answers, expected), f"{field} {expected} expected: {answers}"


@pytest.mark.parametrize("algorithm", ["CRC32", "SHA256"])
def test_wrong_checksum_is_refused(s3, target, prefix, algorithm):
    target.require("wrong-checksum")
    data = b"the bytes sent\n" * 100
    wrong = checksum_of(algorithm, b"other bytes")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=target.bucket, Key=prefix + "bad", Body=data, **{f"Checksum{algorithm}": wrong})
    assert error_code(e) == "BadDigest" and status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=target.bucket, Key=prefix + "bad")
    assert status(e) == 404


def test_aws_chunked_body_with_trailing_checksum(target, prefix):
    """What boto3 sends over HTTPS (STREAMING-UNSIGNED-PAYLOAD-TRAILER, Content-Encoding:
    aws-chunked, the CRC32 in a trailer), asked for here over plain HTTP: the object holds the
    bytes, not the chunk framing, and no aws-chunked Content-Encoding is kept."""
    s3 = target.client()

    def trailer(params, **_):
        algorithm = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algorithm, dict):
            algorithm["in"] = "trailer"

    s3.meta.events.register("before-call.s3.PutObject", trailer)
    s3.meta.events.register("before-call.s3.UploadPart", trailer)
    seen = {}
    s3.meta.events.register("before-send.s3.PutObject",
                            lambda request, **_: seen.update(request.headers.items()))
    data = os.urandom(3 * MiB + 17)
    put = s3.put_object(Bucket=target.bucket, Key=prefix + "chunked", Body=data)
    assert seen.get("Content-Encoding") == b"aws-chunked" or seen.get("Content-Encoding") == "aws-chunked"
    assert put.get("ChecksumCRC32") == checksum_of("CRC32", data)
    got = s3.get_object(Bucket=target.bucket, Key=prefix + "chunked")
    assert got["Body"].read() == data
    if "aws-chunked-kept" not in target.gaps:
        assert "aws-chunked" not in (got.get("ContentEncoding") or "")
    # The same with an upload_part (a multipart upload of two parts).
    up = s3.create_multipart_upload(Bucket=target.bucket, Key=prefix + "chunked-mp", ChecksumAlgorithm="CRC32")
    parts = []
    for n, piece in enumerate([data[:5 * MiB] if len(data) > 5 * MiB else os.urandom(5 * MiB), data[:1000]], 1):
        p = s3.upload_part(Bucket=target.bucket, Key=prefix + "chunked-mp", UploadId=up["UploadId"], PartNumber=n,
                           Body=piece, ChecksumAlgorithm="CRC32")
        parts.append((piece, {"PartNumber": n, "ETag": p["ETag"], "ChecksumCRC32": p.get("ChecksumCRC32")}))
    s3.complete_multipart_upload(Bucket=target.bucket, Key=prefix + "chunked-mp", UploadId=up["UploadId"],
                                 MultipartUpload={"Parts": [{k: v for k, v in p.items() if v} for _, p in parts]})
    whole = b"".join(piece for piece, _ in parts)
    assert s3.get_object(Bucket=target.bucket, Key=prefix + "chunked-mp")["Body"].read() == whole


def test_if_none_match_star_on_put(s3c, target, prefix):
    key = prefix + "once"
    s3c.put_object(Bucket=target.bucket, Key=key, Body=b"first", IfNoneMatch="*")
    refused = (ClientError, ConnectionClosedError) if "early-refusal-closes" in target.gaps else ClientError
    with pytest.raises(refused) as e:
        s3c.put_object(Bucket=target.bucket, Key=key, Body=b"second", IfNoneMatch="*")
    if e.type is ClientError:
        assert error_code(e) == "PreconditionFailed" and status(e) == 412
    assert s3c.get_object(Bucket=target.bucket, Key=key)["Body"].read() == b"first"


def test_if_match_on_put(s3, target, prefix):
    key = prefix + "cas"
    etag = s3.put_object(Bucket=target.bucket, Key=key, Body=b"v1")["ETag"]
    s3.put_object(Bucket=target.bucket, Key=key, Body=b"v2", IfMatch=etag)
    refused = (ClientError, ConnectionClosedError) if "early-refusal-closes" in target.gaps else ClientError
    with pytest.raises(refused) as e:
        s3.put_object(Bucket=target.bucket, Key=key, Body=b"v3", IfMatch=etag)
    if e.type is ClientError:
        assert error_code(e) == "PreconditionFailed" and status(e) == 412
    assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == b"v2"


# --- ranges and conditions ----------------------------------------------------------------------

def test_ranges(s3, target, prefix):
    data = bytes(range(256)) * 40  # 10,240 bytes
    key = prefix + "ranged"
    s3.put_object(Bucket=target.bucket, Key=key, Body=data)
    for header, expect, content_range in [
        ("bytes=0-9", data[:10], "bytes 0-9/10240"),
        ("bytes=100-199", data[100:200], "bytes 100-199/10240"),
        ("bytes=10000-", data[10000:], "bytes 10000-10239/10240"),
        ("bytes=-5", data[-5:], "bytes 10235-10239/10240"),
        ("bytes=10000-99999", data[10000:], "bytes 10000-10239/10240"),  # an end past the end
    ] + ([] if "long-suffix" in target.gaps else [
        ("bytes=-20000", data, "bytes 0-10239/10240"),  # a suffix longer than the object: all of it
    ]):
        got = s3.get_object(Bucket=target.bucket, Key=key, Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["ContentRange"] == content_range, header
        assert got["ContentLength"] == len(expect), header
        assert got["Body"].read() == expect, header
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=target.bucket, Key=key, Range="bytes=10240-10300")
    assert error_code(e) == "InvalidRange" and status(e) == 416


def test_conditional_get_and_head(s3, target, prefix):
    target.require("conditional-get")
    key = prefix + "cond"
    etag = s3.put_object(Bucket=target.bucket, Key=key, Body=b"conditional")["ETag"]
    modified = s3.head_object(Bucket=target.bucket, Key=key)["LastModified"]
    before, after = modified - dt.timedelta(days=1), modified + dt.timedelta(days=1)
    b = target.bucket
    assert s3.get_object(Bucket=b, Key=key, IfMatch=etag)["Body"].read() == b"conditional"
    assert s3.get_object(Bucket=b, Key=key, IfNoneMatch='"0123"')["Body"].read() == b"conditional"
    assert s3.get_object(Bucket=b, Key=key, IfModifiedSince=before)["Body"].read() == b"conditional"
    assert s3.get_object(Bucket=b, Key=key, IfUnmodifiedSince=after)["Body"].read() == b"conditional"
    for kwargs, code in [({"IfMatch": '"0123"'}, 412), ({"IfUnmodifiedSince": before}, 412),
                         ({"IfNoneMatch": etag}, 304), ({"IfModifiedSince": after}, 304),
                         # If-None-Match decides; If-Modified-Since is then ignored (RFC 9110 13.2.2)
                         ({"IfNoneMatch": etag, "IfModifiedSince": before}, 304)]:
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as e:
                call(Bucket=b, Key=key, **kwargs)
            assert status(e) == code, f"{call.__name__} {kwargs}: {e.value.response}"
            if code == 412 and call is s3.get_object:
                assert error_code(e) == "PreconditionFailed"
    # If-Match true: If-Unmodified-Since is then ignored.
    assert s3.get_object(Bucket=b, Key=key, IfMatch=etag, IfUnmodifiedSince=before)["Body"].read() == b"conditional"


def test_response_header_overrides(s3, target, prefix):
    target.require("response-overrides")
    key = prefix + "report.bin"
    s3.put_object(Bucket=target.bucket, Key=key, Body=b"override me", ContentType="application/octet-stream")
    got = s3.get_object(Bucket=target.bucket, Key=key, ResponseContentType="text/plain",
                        ResponseContentDisposition='attachment; filename="r.txt"', ResponseCacheControl="no-cache",
                        ResponseContentLanguage="fr", ResponseExpires=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
                        ResponseContentEncoding="identity")
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert got["Body"].read() == b"override me"
    assert headers["content-type"] == "text/plain"
    assert headers["content-disposition"] == 'attachment; filename="r.txt"'
    assert headers["cache-control"] == "no-cache"
    assert headers["content-language"] == "fr"
    assert headers["content-encoding"] == "identity"
    assert "2030" in headers["expires"]
    # The stored type is not changed by an override.
    assert s3.head_object(Bucket=target.bucket, Key=key)["ContentType"] == "application/octet-stream"


# --- listings -----------------------------------------------------------------------------------

# A key that URL-encoding changes ('+', '%', ' ', '&', 'é'); a plainer one where the reference
# server does not encode listings (botocore would read its '+' as a space).
SPECIAL = "sp ace&é.txt" if "encoding-type" in GAPS[TARGET] else "sp ace+plus&é%.txt"
LISTED = ["a.txt", "b/1.txt", "b/2.txt", "b/sub/3.txt", "c/d/e.txt", SPECIAL, "z.txt"]


@pytest.fixture(scope="module")
def listed(target):
    """Seven keys under one prefix of this module's own."""
    s3 = target.client()
    base = f"list-{os.urandom(3).hex()}/"
    for name in LISTED:
        s3.put_object(Bucket=target.bucket, Key=base + name, Body=name.encode())
    return base


def test_list_v2_prefix_and_delimiter(s3, target, listed):
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == [listed + k for k in ("a.txt", SPECIAL, "z.txt")]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == [listed + "b/", listed + "c/"]
    assert out["KeyCount"] == 5 and out["IsTruncated"] is False
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed + "b/", Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == [listed + "b/1.txt", listed + "b/2.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == [listed + "b/sub/"]
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed)
    assert [o["Key"] for o in out["Contents"]] == [listed + k for k in LISTED]
    obj = out["Contents"][0]
    assert obj["Size"] == len(b"a.txt") and obj["LastModified"]
    if "list-etag" not in target.gaps:
        assert obj["ETag"] == md5_etag(b"a.txt")
    assert s3.list_objects_v2(Bucket=target.bucket, Prefix=listed + "nothing-here/")["KeyCount"] == 0


def test_list_v2_pages(s3, target, listed):
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, MaxKeys=2, **kw)
        pages += 1
        assert out["MaxKeys"] == 2 and out["KeyCount"] == len(out.get("Contents", []))
        seen += [o["Key"] for o in out.get("Contents", [])]
        if not out["IsTruncated"]:
            assert "NextContinuationToken" not in out
            break
        assert out.get("NextContinuationToken"), "IsTruncated without NextContinuationToken: clients loop forever"
        token = out["NextContinuationToken"]
        assert pages < 10
    assert seen == [listed + k for k in LISTED] and pages == 4
    # Pages with a delimiter count keys and prefixes together.
    seen, token = [], None
    for _ in range(10):
        kw = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, Delimiter="/", MaxKeys=2, **kw)
        seen += [o["Key"] for o in out.get("Contents", [])] + [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert sorted(seen) == sorted(listed + k for k in ("a.txt", "b/", "c/", SPECIAL, "z.txt"))
    # The paginator (what most code calls) sees every key once.
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=target.bucket, Prefix=listed, PaginationConfig={"PageSize": 3}) for o in page.get("Contents", [])]
    assert keys == [listed + k for k in LISTED]


def test_list_v2_start_after(s3, target, listed):
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, StartAfter=listed + "b/2.txt")
    assert [o["Key"] for o in out["Contents"]] == [listed + k for k in LISTED[3:]]
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, StartAfter=listed + "zz")
    assert out["KeyCount"] == 0 and "Contents" not in out


def test_list_encoding_type_url(target, listed):
    """botocore always asks encoding-type=url and decodes what comes: the raw answer must really
    be encoded (a server echoing the parameter over plain keys turns '+' into ' ')."""
    target.require("encoding-type")
    s3 = target.client()
    raw = {}
    s3.meta.events.register("before-parse.s3.ListObjectsV2", lambda response_dict, **_: raw.update(
        body=response_dict["body"]))
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed, Delimiter="/")
    assert b"<EncodingType>url</EncodingType>" in raw["body"]
    assert [o["Key"] for o in out["Contents"]][1] == listed + SPECIAL
    assert b"sp ace+plus" not in raw["body"], "keys listed without being URL-encoded"
    v1 = s3.list_objects(Bucket=target.bucket, Prefix=listed, Delimiter="/")
    assert [o["Key"] for o in v1["Contents"]][1] == listed + SPECIAL


def test_list_without_encoding_type(target, listed):
    """A client that does not ask for encoding gets the keys as they are (escaped for XML)."""
    s3 = target.client()
    s3.meta.events.unregister("before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url)
    names = []
    s3.meta.events.register("before-parse.s3.ListObjectsV2", lambda response_dict, **_: names.append(
        response_dict["body"]))
    out = s3.list_objects_v2(Bucket=target.bucket, Prefix=listed + "s")
    assert b"<EncodingType>" not in names[0]
    assert [o["Key"] for o in out["Contents"]] == [listed + SPECIAL]


def test_list_v1_marker_and_pages(s3, target, listed):
    out = s3.list_objects(Bucket=target.bucket, Prefix=listed, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == [listed + k for k in ("a.txt", SPECIAL, "z.txt")]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == [listed + "b/", listed + "c/"]
    out = s3.list_objects(Bucket=target.bucket, Prefix=listed, Marker=listed + "b/sub/3.txt")
    assert [o["Key"] for o in out["Contents"]] == [listed + k for k in LISTED[4:]]
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=target.bucket, Prefix=listed, PaginationConfig={"PageSize": 2}) for o in page.get("Contents", [])]
    assert keys == [listed + k for k in LISTED]
    first = s3.list_objects(Bucket=target.bucket, Prefix=listed, MaxKeys=3)
    assert first["IsTruncated"] is True and len(first["Contents"]) == 3


# --- delete and copy ----------------------------------------------------------------------------

def test_delete_object_and_objects(s3c, target, prefix):
    for n in range(5):
        s3c.put_object(Bucket=target.bucket, Key=f"{prefix}{n}", Body=b"x")
    s3c.delete_object(Bucket=target.bucket, Key=prefix + "0")
    # Deleting what is not there answers 204 too.
    s3c.delete_object(Bucket=target.bucket, Key=prefix + "never-was")
    out = s3c.delete_objects(Bucket=target.bucket, Delete={"Objects": [
        {"Key": prefix + "1"}, {"Key": prefix + "2"}, {"Key": prefix + "missing"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == sorted([prefix + "1", prefix + "2", prefix + "missing"])
    assert not out.get("Errors")
    quiet = s3c.delete_objects(Bucket=target.bucket, Delete={"Objects": [{"Key": prefix + "3"}], "Quiet": True})
    assert not quiet.get("Errors")
    if "quiet-delete" not in target.gaps:
        assert not quiet.get("Deleted"), "Quiet: only errors are listed"
    left = s3c.list_objects_v2(Bucket=target.bucket, Prefix=prefix)
    assert [o["Key"] for o in left["Contents"]] == [prefix + "4"]


def test_copy_object(s3, target, prefix):
    data = os.urandom(100_000)
    s3.put_object(Bucket=target.bucket, Key=prefix + "src", Body=data, ContentType="image/png",
                  Metadata={"origin": "camera"})
    out = s3.copy_object(Bucket=target.bucket, Key=prefix + "dst", CopySource={"Bucket": target.bucket,
                                                                                "Key": prefix + "src"})
    assert out["CopyObjectResult"]["ETag"] == md5_etag(data)
    got = s3.get_object(Bucket=target.bucket, Key=prefix + "dst")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/png" and got["Metadata"] == {"origin": "camera"}
    s3.copy_object(Bucket=target.bucket, Key=prefix + "dst2", CopySource=f"{target.bucket}/{prefix}src",
                   MetadataDirective="REPLACE", ContentType="text/plain", Metadata={"origin": "copied"})
    head = s3.head_object(Bucket=target.bucket, Key=prefix + "dst2")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"origin": "copied"}
    # A key with special characters as the source (url-encoded in x-amz-copy-source).
    s3.put_object(Bucket=target.bucket, Key=prefix + "a b+c&é", Body=b"odd")
    s3.copy_object(Bucket=target.bucket, Key=prefix + "odd-copy", CopySource={"Bucket": target.bucket,
                                                                               "Key": prefix + "a b+c&é"})
    assert s3.get_object(Bucket=target.bucket, Key=prefix + "odd-copy")["Body"].read() == b"odd"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=target.bucket, Key=prefix + "x", CopySource=f"{target.bucket}/{prefix}nope")
    assert error_code(e) == "NoSuchKey" and status(e) == 404


# --- multipart ----------------------------------------------------------------------------------

def test_multipart_lifecycle(s3c, target, prefix):
    key = prefix + "big.bin"
    first, last = os.urandom(5 * MiB), os.urandom(1234)
    up = s3c.create_multipart_upload(Bucket=target.bucket, Key=key, ContentType="application/x-test",
                                     Metadata={"kind": "multipart"})
    uid = up["UploadId"]
    p1 = s3c.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=1, Body=first)
    p2 = s3c.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=2, Body=last)
    assert p1["ETag"] == md5_etag(first) and p2["ETag"] == md5_etag(last)
    parts = s3c.list_parts(Bucket=target.bucket, Key=key, UploadId=uid)["Parts"]
    if "list-parts" in target.gaps:
        parts.sort(key=lambda p: p["PartNumber"])
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(first)), (2, len(last))]
    if "list-parts" not in target.gaps:
        assert [p["ETag"] for p in parts] == [p1["ETag"], p2["ETag"]]
    with pytest.raises(ClientError) as e:
        s3c.head_object(Bucket=target.bucket, Key=key)
    assert status(e) == 404, "an uncompleted upload is visible"

    def part(n, p):
        return {"PartNumber": n, "ETag": p["ETag"], **{k: v for k, v in p.items() if k.startswith("Checksum")
                                                        and k != "ChecksumType"}}

    done = s3c.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": [part(1, p1), part(2, p2)]})
    composite = hashlib.md5(hashlib.md5(first).digest() + hashlib.md5(last).digest()).hexdigest()
    assert done["ETag"] == f'"{composite}-2"'
    got = s3c.get_object(Bucket=target.bucket, Key=key)
    assert got["Body"].read() == first + last
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"kind": "multipart"}
    assert got["ETag"] == done["ETag"]
    # A part read back by its number.
    if "part-number-get" not in target.gaps:
        p = s3c.get_object(Bucket=target.bucket, Key=key, PartNumber=2)
        assert p["Body"].read() == last and p.get("PartsCount") == 2
    if "aborted-upload-listable" not in target.gaps:
        with pytest.raises(ClientError) as e:
            s3c.list_parts(Bucket=target.bucket, Key=key, UploadId=uid)
        assert error_code(e) == "NoSuchUpload"


def test_multipart_abort_and_listing(s3, target, prefix):
    target.require("list-uploads")
    key = prefix + "aborted.bin"
    uid = s3.create_multipart_upload(Bucket=target.bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    uploads = s3.list_multipart_uploads(Bucket=target.bucket, Prefix=prefix).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [(key, uid)]
    s3.abort_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid)
    assert not s3.list_multipart_uploads(Bucket=target.bucket, Prefix=prefix).get("Uploads")
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"y")
    assert error_code(e) == "NoSuchUpload" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=target.bucket, Key=key)
    assert status(e) == 404


def test_abort(s3, target, prefix):
    key = prefix + "aborted.bin"
    uid = s3.create_multipart_upload(Bucket=target.bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"x" * 1000)
    s3.abort_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid)
    if "aborted-upload-listable" not in target.gaps:
        with pytest.raises(ClientError) as e:
            s3.list_parts(Bucket=target.bucket, Key=key, UploadId=uid)
        assert error_code(e) == "NoSuchUpload"
    if "part-checks" not in target.gaps:
        with pytest.raises(ClientError) as e:
            s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid,
                                         MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})
        assert error_code(e) == "NoSuchUpload"


def test_multipart_completion_checks_parts(s3, target, prefix):
    target.require("part-checks")
    key = prefix + "checked.bin"
    uid = s3.create_multipart_upload(Bucket=target.bucket, Key=key)["UploadId"]
    small = s3.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=1, Body=b"a" * 1000)
    last = s3.upload_part(Bucket=target.bucket, Key=key, UploadId=uid, PartNumber=2, Body=b"b" * 1000)
    with pytest.raises(ClientError) as e:  # a part's ETag that is not the one uploaded
        s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": md5_etag(b"other")}, {"PartNumber": 2, "ETag": last["ETag"]}]})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:  # a part never uploaded
        s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 3, "ETag": last["ETag"]}]})
    assert error_code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:  # out of order
        s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": last["ETag"]}, {"PartNumber": 1, "ETag": small["ETag"]}]})
    assert error_code(e) == "InvalidPartOrder"
    with pytest.raises(ClientError) as e:  # a part before the last under 5 MiB
        s3.complete_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": last["ETag"]}]})
    assert error_code(e) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=target.bucket, Key=key, UploadId=uid)


def test_transfer_manager_upload_and_download(s3c, target, prefix, tmp_path):
    """upload_file/download_file (what most Python code calls): multipart above the threshold,
    ranged GETs in parallel on the way back."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(13 * MiB + 5))
    cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
    s3c.upload_file(str(src), target.bucket, prefix + "tm.bin", Config=cfg)
    head = s3c.head_object(Bucket=target.bucket, Key=prefix + "tm.bin")
    assert head["ContentLength"] == src.stat().st_size and head["ETag"].endswith('-3"')
    dst = tmp_path / "dst.bin"
    s3c.download_file(target.bucket, prefix + "tm.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == src.read_bytes()


# --- versions -----------------------------------------------------------------------------------

def test_versions(s3, target, prefix):
    target.require("versions")
    key = prefix + "versioned"
    v1 = s3.put_object(Bucket=target.bucket, Key=key, Body=b"version one")
    v2 = s3.put_object(Bucket=target.bucket, Key=key, Body=b"version two!")
    assert v1.get("VersionId") and v2.get("VersionId") and v1["VersionId"] != v2["VersionId"]
    out = s3.list_object_versions(Bucket=target.bucket, Prefix=key)
    versions = out["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in versions] == [
        (key, v2["VersionId"], True, 12), (key, v1["VersionId"], False, 11)]
    assert versions[1]["ETag"] == md5_etag(b"version one")
    got = s3.get_object(Bucket=target.bucket, Key=key, VersionId=v1["VersionId"])
    assert got["Body"].read() == b"version one" and got.get("VersionId") == v1["VersionId"]
    head = s3.head_object(Bucket=target.bucket, Key=key, VersionId=v1["VersionId"])
    assert head["ContentLength"] == 11
    assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == b"version two!"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=target.bucket, Key=key, VersionId="no-such-version")
    assert status(e) in (400, 404) and error_code(e) in ("NoSuchVersion", "InvalidArgument")
    # Removing the latest version makes the one before it the latest again.
    s3.delete_object(Bucket=target.bucket, Key=key, VersionId=v2["VersionId"])
    assert s3.get_object(Bucket=target.bucket, Key=key)["Body"].read() == b"version one"
    # Pages of versions.
    for n in range(3):
        s3.put_object(Bucket=target.bucket, Key=key, Body=str(n).encode())
    seen = [v["VersionId"] for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=target.bucket, Prefix=key, PaginationConfig={"PageSize": 2}) for v in page.get("Versions", [])]
    assert len(seen) == 4 and len(set(seen)) == 4
    assert s3.get_bucket_versioning(Bucket=target.bucket).get("Status") == "Enabled"


def test_delete_objects_with_version_ids(s3, target, prefix):
    """What ceph/s3-tests' clean-up does: list every version, delete them by VersionId."""
    target.require("versions")
    for n in range(2):
        s3.put_object(Bucket=target.bucket, Key=prefix + "k", Body=str(n).encode())
    s3.put_object(Bucket=target.bucket, Key=prefix + "other", Body=b"o")
    versions = s3.list_object_versions(Bucket=target.bucket, Prefix=prefix)["Versions"]
    assert len(versions) == 3
    out = s3.delete_objects(Bucket=target.bucket, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
    assert len(out["Deleted"]) == 3 and not out.get("Errors")
    assert not s3.list_object_versions(Bucket=target.bucket, Prefix=prefix).get("Versions")


# --- presigned URLs -----------------------------------------------------------------------------

def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args], capture_output=True)


def split(out):
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


def test_presigned_get_and_put_with_curl(target, prefix, tmp_path):
    s3 = target.client(signature_version="s3v4")
    data = os.urandom(200_000)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": target.bucket, "Key": prefix + "p"},
                                        ExpiresIn=300)
    code, body = split(curl("-X", "PUT", "--upload-file", str(src), put_url))
    assert code == 200, body
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": prefix + "p"},
                                        ExpiresIn=300)
    code, body = split(curl(get_url))
    assert code == 200 and body == data
    code, body = split(curl("-H", "Range: bytes=5-9", get_url))
    assert code == 206 and body == data[5:10]
    # A presigned GET with a response override.
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": prefix + "p",
                                                          "ResponseContentDisposition": "attachment"})
    code, body = split(curl(url))
    assert code == 200 and body == data
    # One character of the signature changed.
    parts = urllib.parse.urlsplit(get_url)
    query = urllib.parse.parse_qs(parts.query)
    sig = query["X-Amz-Signature"][0]
    query["X-Amz-Signature"] = [("0" if sig[0] != "0" else "1") + sig[1:]]
    forged = urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, doseq=True)))
    code, body = split(curl(forged))
    assert code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    # Another key than the one signed.
    code, body = split(curl(get_url.replace(prefix + "p", prefix + "q").replace(urllib.parse.quote(prefix + "p"),
                                                                                 urllib.parse.quote(prefix + "q"))))
    assert code == 403, body


def test_presigned_url_expires(target, prefix):
    target.require("expiry")
    s3 = target.client(signature_version="s3v4")
    s3.put_object(Bucket=target.bucket, Key=prefix + "soon", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": target.bucket, "Key": prefix + "soon"},
                                    ExpiresIn=1)
    time.sleep(2.1)
    code, body = split(curl(url))
    assert code == 403 and b"<Code>AccessDenied</Code>" in body, body


# --- buckets ------------------------------------------------------------------------------------

def test_bucket_reads(s3, target):
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert target.bucket in names
    s3.head_bucket(Bucket=target.bucket)
    loc = s3.get_bucket_location(Bucket=target.bucket)
    assert loc.get("LocationConstraint") in (None, "", "us-east-1")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="no-such-bucket-s3test")
    assert status(e) == 404


def test_create_and_delete_bucket(s3, target):
    name = "made-by-s3-" + os.urandom(3).hex()
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.put_object(Bucket=name, Key="inside", Body=b"x")
    assert s3.get_object(Bucket=name, Key="inside")["Body"].read() == b"x"
    if "bucket-semantics" not in target.gaps:
        with pytest.raises(ClientError) as e:
            s3.delete_bucket(Bucket=name)
        assert error_code(e) == "BucketNotEmpty" and status(e) == 409
        with pytest.raises(ClientError) as e:
            s3.create_bucket(Bucket=name)
        assert error_code(e) == "BucketAlreadyOwnedByYou" and status(e) == 409
    s3.delete_object(Bucket=name, Key="inside")
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert error_code(e) == "NoSuchBucket"


def test_create_bucket_taken_by_another(s3, target):
    target.require("users")
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=target.other.bucket)
    assert error_code(e) == "BucketAlreadyExists" and status(e) == 409
    with pytest.raises(ClientError) as e:
        s3.create_bucket(Bucket=target.bucket)
    assert error_code(e) == "BucketAlreadyOwnedByYou"


# --- errors -------------------------------------------------------------------------------------

def test_no_such_key_and_bucket(s3, target, prefix):
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=target.bucket, Key=prefix + "missing")
    assert error_code(e) == "NoSuchKey" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=target.bucket, Key=prefix + "missing")
    assert status(e) == 404
    calls = [lambda: s3.list_objects_v2(Bucket="no-such-bucket-s3test")]
    if "put-creates-bucket" not in target.gaps:
        calls.append(lambda: s3.put_object(Bucket="no-such-bucket-s3test", Key="k", Body=b"x"))
    if "no-such-bucket-on-object" not in target.gaps:
        calls.append(lambda: s3.get_object(Bucket="no-such-bucket-s3test", Key="k"))
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "NoSuchBucket" and status(e) == 404


def test_unknown_access_key_and_wrong_secret(target):
    bad = target.client(Creds("AKIAUNKNOWN0000000000", target.main.secret_key, target.bucket))
    with pytest.raises(ClientError) as e:
        bad.list_objects_v2(Bucket=target.bucket)
    assert status(e) == 403
    if "invalid-access-key-code" not in target.gaps:
        assert error_code(e) == "InvalidAccessKeyId"
    wrong = target.client(Creds(target.main.access_key, "x" + target.main.secret_key[1:], target.bucket))
    calls = [lambda: wrong.list_objects_v2(Bucket=target.bucket), lambda: wrong.list_buckets()]
    if "early-refusal-closes" not in target.gaps:
        calls.append(lambda: wrong.put_object(Bucket=target.bucket, Key="never", Body=b"x"))
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "SignatureDoesNotMatch" and status(e) == 403


def test_unsigned_request_is_refused(target):
    code, body = split(curl(f"{target.endpoint}/{target.bucket}?list-type=2"))
    assert code == 403 and b"<Code>AccessDenied</Code>" in body, body


def test_read_only_key(target, prefix):
    target.require("users")
    s3 = target.client()
    s3.put_object(Bucket=target.bucket, Key=prefix + "r", Body=b"readable")
    ro = target.client(target.read_only)
    assert ro.get_object(Bucket=target.bucket, Key=prefix + "r")["Body"].read() == b"readable"
    assert ro.list_objects_v2(Bucket=target.bucket, Prefix=prefix)["KeyCount"] == 1
    for call in (lambda: ro.put_object(Bucket=target.bucket, Key=prefix + "w", Body=b"x"),
                 lambda: ro.delete_object(Bucket=target.bucket, Key=prefix + "r"),
                 lambda: ro.create_multipart_upload(Bucket=target.bucket, Key=prefix + "m"),
                 lambda: ro.copy_object(Bucket=target.bucket, Key=prefix + "c", CopySource=f"{target.bucket}/{prefix}r"),
                 lambda: ro.create_bucket(Bucket="ro-made-" + os.urandom(3).hex())):
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "AccessDenied" and status(e) == 403
    # DeleteObjects: refused whole, or key by key (what AWS answers) — never deleted.
    try:
        out = ro.delete_objects(Bucket=target.bucket, Delete={"Objects": [{"Key": prefix + "r"}]})
        assert not out.get("Deleted") and [x["Code"] for x in out.get("Errors", [])] == ["AccessDenied"]
    except ClientError as e:
        assert error_code(e) == "AccessDenied" and status(e) == 403
    assert s3.get_object(Bucket=target.bucket, Key=prefix + "r")["Body"].read() == b"readable"


def test_another_users_bucket_is_not_there(target, prefix):
    """A namespace the caller has no role in answers what an unknown one answers."""
    target.require("users")
    bob = target.client(target.other)
    bob.put_object(Bucket=target.other.bucket, Key=prefix + "secret", Body=b"bob's")
    s3 = target.client()
    with pytest.raises(ClientError) as unknown:
        s3.list_objects_v2(Bucket="no-such-bucket-s3test")
    for call in (lambda: s3.list_objects_v2(Bucket=target.other.bucket),
                 lambda: s3.get_object(Bucket=target.other.bucket, Key=prefix + "secret"),
                 lambda: s3.put_object(Bucket=target.other.bucket, Key=prefix + "x", Body=b"x"),
                 lambda: s3.delete_object(Bucket=target.other.bucket, Key=prefix + "secret")):
        with pytest.raises(ClientError) as e:
            call()
        assert (error_code(e), status(e)) == (error_code(unknown), status(unknown))
    assert target.other.bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bob.get_object(Bucket=target.other.bucket, Key=prefix + "secret")["Body"].read() == b"bob's"


@pytest.mark.parametrize("call", [
    lambda s3, b: s3.put_bucket_policy(Bucket=b, Policy='{"Version": "2012-10-17", "Statement": []}'),
    lambda s3, b: s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": [
        {"ID": "expire", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]}),
    lambda s3, b: s3.put_bucket_website(Bucket=b, WebsiteConfiguration={"IndexDocument": {"Suffix": "i.html"}}),
], ids=["policy", "lifecycle", "website"])
def test_not_implemented(s3, target, call):
    with pytest.raises(ClientError) as e:
        call(s3, target.bucket)
    assert error_code(e) == "NotImplemented" and status(e) == 501
