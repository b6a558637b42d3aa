#!/usr/bin/env python3
"""A small in-memory Google Cloud Storage server speaking the XML API, for tests.

It implements exactly what the Rust `object_store` crate (0.14) uses against GCS,
which talks to GCS through the XML API only:

  PUT    /BUCKET                                    create a bucket (buckets are also
                                                    created on first use)
  PUT    /BUCKET/OBJECT                             upload; answers ETag + x-goog-generation;
                                                    x-goog-if-generation-match (0 = create only)
                                                    -> 412 when violated
  PUT    /BUCKET/OBJECT + x-goog-copy-source        server-side copy (same preconditions)
  GET    /BUCKET/OBJECT, HEAD                       ETag, Last-Modified, Content-Length,
                                                    x-goog-generation; Range (a-b, a-, -n);
                                                    If-Match, If-None-Match, If-Modified-Since,
                                                    If-Unmodified-Since,
                                                    x-goog-if-generation-(not-)match, ?generation=
  DELETE /BUCKET/OBJECT                             204, or 404 when missing
  GET    /BUCKET?list-type=2                        S3-style ListBucketResult: prefix, delimiter,
                                                    start-after, continuation-token, max-keys
  POST   /BUCKET/OBJECT?uploads                     S3-style multipart upload: initiate,
  PUT    /BUCKET/OBJECT?partNumber=N&uploadId=U       upload a part,
  POST   /BUCKET/OBJECT?uploadId=U                    complete (the object appears only now),
  DELETE /BUCKET/OBJECT?uploadId=U                    abort

Object names arrive percent-encoded (`a%2Fb.parquet`); bucket names too.

Test helpers (not part of GCS):

  GET /_health                          200 "ok"
  GET /_admin/uploads[?bucket=B&prefix=P]  JSON list of multipart uploads in progress

Authentication is not checked. Everything lives in memory and is lost on exit.
Standard library only; logs to stderr only on errors.

Usage: gcs_xml_server.py [--host 127.0.0.1] [--port 0] [--port-file FILE]
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import json
import os
import socket
import sys
import threading
import time
import traceback
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

# Request headers stored with an object and returned on GET/HEAD.
STORED_HEADERS = (
    "content-type",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "x-goog-storage-class",
)
META_PREFIX = "x-goog-meta-"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_MAX_KEYS = 1000


class HttpError(Exception):
    def __init__(self, status: int, code: str, message: str = "", headers=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message or code
        self.headers = headers or {}


class Obj:
    __slots__ = ("data", "etag", "generation", "mtime", "headers", "md5")

    def __init__(self, data: bytes, etag: str, generation: int, headers: dict, md5: bytes):
        self.data = data
        self.etag = etag
        self.generation = generation
        self.mtime = time.time()
        self.headers = headers
        self.md5 = md5


class Upload:
    __slots__ = ("bucket", "key", "upload_id", "headers", "parts", "initiated")

    def __init__(self, bucket: str, key: str, headers: dict):
        self.bucket = bucket
        self.key = key
        self.upload_id = uuid.uuid4().hex
        self.headers = headers
        self.parts: dict[int, tuple[str, bytes, bytes]] = {}  # number -> (etag, data, md5)
        self.initiated = time.time()


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.buckets: dict[str, dict[str, Obj]] = {}
        self.uploads: dict[str, Upload] = {}
        self._last_generation = 0

    def bucket(self, name: str) -> dict[str, Obj]:
        """The bucket's objects; creates the bucket on first use. Call with the lock held."""
        b = self.buckets.get(name)
        if b is None:
            b = self.buckets[name] = {}
        return b

    def next_generation(self) -> int:
        """Strictly increasing, microseconds since the epoch like GCS. Lock held."""
        g = max(time.time_ns() // 1000, self._last_generation + 1)
        self._last_generation = g
        return g


STATE = State()


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


def iso_date(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_http_date(value: str):
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def etag_matches(header_value: str, etag: str) -> bool:
    bare = etag.strip('"')
    for candidate in header_value.split(","):
        c = candidate.strip()
        if c == "*":
            return True
        if c.startswith("W/"):
            c = c[2:]
        if c.strip('"') == bare:
            return True
    return False


def parse_generation(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise HttpError(400, "InvalidArgument", f"invalid generation {value!r}")


def check_write_preconditions(headers, existing: Obj | None) -> None:
    """x-goog-if-generation-match on writes: 0 = must not exist, N = current generation is N."""
    v = headers.get("x-goog-if-generation-match")
    if v is not None:
        want = parse_generation(v)
        if want == 0:
            if existing is not None:
                raise HttpError(412, "PreconditionFailed", "object already exists")
        elif existing is None or existing.generation != want:
            raise HttpError(412, "PreconditionFailed", "generation does not match")
    v = headers.get("x-goog-if-generation-not-match")
    if v is not None:
        g = parse_generation(v)
        current = existing.generation if existing is not None else 0
        if current == g:
            raise HttpError(412, "PreconditionFailed", "generation matches")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gcs-xml-test-server/1"
    sys_version = ""

    def version_string(self):
        return self.server_version
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120

    def setup(self):
        # Without TCP_NODELAY, small responses written in two pieces stall for ~40 ms
        # (Nagle + delayed ACK).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    # ------------------------------------------------------------------ plumbing

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def log_error(self, format, *args):  # noqa: A002
        if format.startswith("Request timed out"):
            return  # an idle keep-alive connection being closed: not an error
        sys.stderr.write("gcs_xml_server: %s - %s\n" % (self.address_string(), format % args))

    def _dispatch(self):
        self._body_read = False
        try:
            split = urlsplit(self.path)
            self.query = parse_qs(split.query, keep_blank_values=True)
            raw_path = split.path
            if raw_path == "/_health":
                return self._send(200, b"ok\n", {"Content-Type": "text/plain"})
            if raw_path == "/_admin/uploads":
                return self._admin_uploads()
            parts = raw_path.lstrip("/").split("/", 1)
            bucket = unquote(parts[0])
            key = unquote(parts[1]) if len(parts) > 1 else ""
            if not bucket:
                raise HttpError(400, "InvalidURI", "no bucket in path")
            self.bucket_name = bucket
            self.key = key
            method = self.command
            if key == "":
                handler = {
                    "GET": self._list,
                    "HEAD": self._head_bucket,
                    "PUT": self._put_bucket,
                    "DELETE": self._delete_bucket,
                }.get(method)
            elif method == "PUT" and "uploadId" in self.query:
                handler = self._put_part
            elif method == "POST" and "uploads" in self.query:
                handler = self._initiate
            elif method == "POST" and "uploadId" in self.query:
                handler = self._complete
            elif method == "DELETE" and "uploadId" in self.query:
                handler = self._abort
            elif method == "PUT" and "x-goog-copy-source" in self.headers:
                handler = self._copy
            else:
                handler = {
                    "PUT": self._put,
                    "GET": self._get,
                    "HEAD": self._get,
                    "DELETE": self._delete,
                }.get(method)
            if handler is None:
                raise HttpError(405, "MethodNotAllowed", f"{method} not supported here")
            handler()
        except HttpError as e:
            self._error(e)
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:  # noqa: BLE001 - report any bug as a 500 and keep serving
            sys.stderr.write(f"gcs_xml_server: {self.command} {self.path} failed:\n")
            traceback.print_exc(file=sys.stderr)
            try:
                self._error(HttpError(500, "InternalError", "internal error in the test server"))
            except Exception:  # noqa: BLE001
                self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _dispatch

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if len(data) != length:
            self.close_connection = True
            raise ConnectionError("request body cut short")
        return data

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, length=None):
        """Sends a response. `length` overrides Content-Length (HEAD sends no body)."""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304) and body:
            self.wfile.write(body)

    def _error(self, e: HttpError):
        has_body = int(self.headers.get("Content-Length") or 0) > 0 or (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower())
        if has_body and not self._body_read:
            # The request body was not read: the connection cannot be reused.
            self.close_connection = True
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{xml_escape(e.code)}</Code>"
            f"<Message>{xml_escape(e.message)}</Message></Error>"
        ).encode()
        if e.status >= 500:
            sys.stderr.write(f"gcs_xml_server: {self.command} {self.path} -> {e.status} {e.code}\n")
        headers = {"Content-Type": "application/xml; charset=UTF-8"}
        if self.close_connection:
            headers["Connection"] = "close"
        headers.update(e.headers)
        if self.command == "HEAD" or e.status == 304:
            self._send(e.status, b"", headers, length=0)
        else:
            self._send(e.status, body, headers)

    def _xml(self, status: int, xml: str, headers: dict | None = None):
        h = {"Content-Type": "application/xml; charset=UTF-8"}
        h.update(headers or {})
        self._send(status, ('<?xml version="1.0" encoding="UTF-8"?>\n' + xml).encode(), h)

    def _read_body(self) -> bytes:
        self._body_read = False
        data = self._body()
        self._body_read = True
        return data

    def _stored_headers(self) -> dict:
        h = {}
        for name in STORED_HEADERS:
            v = self.headers.get(name)
            if v is not None:
                h[name] = v
        for name, v in self.headers.items():
            if name.lower().startswith(META_PREFIX):
                h[name.lower()] = v
        h.setdefault("content-type", DEFAULT_CONTENT_TYPE)
        return h

    @staticmethod
    def _object_headers(obj: Obj) -> dict:
        h = {
            "ETag": obj.etag,
            "Last-Modified": http_date(obj.mtime),
            "x-goog-generation": str(obj.generation),
            "x-goog-metageneration": "1",
            "x-goog-stored-content-length": str(len(obj.data)),
            "x-goog-hash": "md5=" + base64.b64encode(obj.md5).decode(),
            "Accept-Ranges": "bytes",
        }
        for k, v in obj.headers.items():
            h[k] = v
        return h

    # ------------------------------------------------------------------ test helpers

    def _admin_uploads(self):
        bucket = (self.query.get("bucket") or [None])[0]
        prefix = (self.query.get("prefix") or [""])[0]
        with STATE.lock:
            uploads = [
                {
                    "bucket": u.bucket,
                    "key": u.key,
                    "upload_id": u.upload_id,
                    "parts": sorted(u.parts),
                    "bytes": sum(len(p[1]) for p in u.parts.values()),
                    "initiated": iso_date(u.initiated),
                }
                for u in STATE.uploads.values()
                if (bucket is None or u.bucket == bucket) and u.key.startswith(prefix)
            ]
        uploads.sort(key=lambda u: (u["bucket"], u["key"], u["initiated"]))
        self._send(200, json.dumps(uploads).encode(), {"Content-Type": "application/json"})

    # ------------------------------------------------------------------ buckets

    def _put_bucket(self):
        self._read_body()
        with STATE.lock:
            exists = self.bucket_name in STATE.buckets
            STATE.bucket(self.bucket_name)
        # GCS answers 409 for an existing bucket; tests create buckets idempotently, so 200.
        self._send(200, b"", {"x-goog-bucket-existed": "true" if exists else "false"})

    def _head_bucket(self):
        with STATE.lock:
            STATE.bucket(self.bucket_name)
        self._send(200, b"", {}, length=0)

    def _delete_bucket(self):
        with STATE.lock:
            b = STATE.buckets.get(self.bucket_name)
            if b is None:
                raise HttpError(404, "NoSuchBucket", "no such bucket")
            if b:
                raise HttpError(409, "BucketNotEmpty", "bucket is not empty")
            del STATE.buckets[self.bucket_name]
        self._send(204)

    def _list(self):
        q = {k: v[0] for k, v in self.query.items()}
        prefix = q.get("prefix", "")
        delimiter = q.get("delimiter", "")
        start_after = q.get("start-after", "")
        token = q.get("continuation-token")
        try:
            max_keys = int(q.get("max-keys", DEFAULT_MAX_KEYS))
        except ValueError:
            raise HttpError(400, "InvalidArgument", "invalid max-keys")
        max_keys = max(0, min(max_keys, DEFAULT_MAX_KEYS))
        resume_after = ""
        if token:
            try:
                resume_after = base64.urlsafe_b64decode(token.encode()).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                raise HttpError(400, "InvalidArgument", "invalid continuation-token")

        with STATE.lock:
            objects = STATE.bucket(self.bucket_name)
            keys = sorted(k for k in objects if k.startswith(prefix) and k > start_after)
            # Entries in key order: ("obj", key, Obj) or ("prefix", common_prefix, None).
            entries = []
            last_cp = None
            for k in keys:
                if delimiter:
                    i = k.find(delimiter, len(prefix))
                    if i >= 0:
                        cp = k[: i + len(delimiter)]
                        if cp != last_cp:
                            entries.append(("prefix", cp, None))
                            last_cp = cp
                        continue
                entries.append(("obj", k, objects[k]))
            # A continuation token names the last entry of the previous page (a key or a
            # common prefix; keys under a common prefix are folded into it).
            if resume_after:
                entries = [e for e in entries if e[1] > resume_after]
            page = entries[:max_keys]
            truncated = len(entries) > len(page)
            xml_entries = []
            for kind, name, obj in page:
                if kind == "obj":
                    xml_entries.append(
                        "<Contents>"
                        f"<Key>{xml_escape(name)}</Key>"
                        f"<Generation>{obj.generation}</Generation>"
                        "<MetaGeneration>1</MetaGeneration>"
                        f"<LastModified>{iso_date(obj.mtime)}</LastModified>"
                        f"<ETag>{xml_escape(obj.etag)}</ETag>"
                        f"<Size>{len(obj.data)}</Size>"
                        "<StorageClass>STANDARD</StorageClass>"
                        "</Contents>"
                    )
                else:
                    xml_entries.append(
                        f"<CommonPrefixes><Prefix>{xml_escape(name)}</Prefix></CommonPrefixes>"
                    )
        xml = [
            '<ListBucketResult xmlns="http://doc.s3.amazonaws.com/2006-03-01">',
            f"<Name>{xml_escape(self.bucket_name)}</Name>",
            f"<Prefix>{xml_escape(prefix)}</Prefix>",
        ]
        if delimiter:
            xml.append(f"<Delimiter>{xml_escape(delimiter)}</Delimiter>")
        if start_after:
            xml.append(f"<StartAfter>{xml_escape(start_after)}</StartAfter>")
        if token:
            xml.append(f"<ContinuationToken>{xml_escape(token)}</ContinuationToken>")
        xml.append(f"<KeyCount>{len(page)}</KeyCount>")
        xml.append(f"<MaxKeys>{max_keys}</MaxKeys>")
        xml.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
        if truncated and page:
            next_token = base64.urlsafe_b64encode(page[-1][1].encode("utf-8")).decode()
            xml.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
        xml.extend(xml_entries)
        xml.append("</ListBucketResult>")
        self._xml(200, "".join(xml))

    # ------------------------------------------------------------------ objects

    def _put(self):
        data = self._read_body()
        md5 = hashlib.md5(data).digest()
        etag = f'"{md5.hex()}"'
        headers = self._stored_headers()
        with STATE.lock:
            objects = STATE.bucket(self.bucket_name)
            check_write_preconditions(self.headers, objects.get(self.key))
            obj = Obj(data, etag, STATE.next_generation(), headers, md5)
            objects[self.key] = obj
        self._send(200, b"", {"ETag": etag, "x-goog-generation": str(obj.generation),
                              "x-goog-metageneration": "1"})

    def _copy(self):
        self._read_body()
        # `object_store` percent-encodes bucket and object ("b%2Dx/a%2Fb"): split, then decode.
        raw = self.headers["x-goog-copy-source"].lstrip("/")
        if "/" not in raw:
            raise HttpError(400, "InvalidArgument", f"bad x-goog-copy-source {raw!r}")
        src_bucket_raw, src_key_raw = raw.split("/", 1)
        src_bucket, src_key = unquote(src_bucket_raw), unquote(src_key_raw)
        with STATE.lock:
            src = STATE.buckets.get(src_bucket, {}).get(src_key)
            if src is None:
                raise HttpError(404, "NoSuchKey", "copy source not found")
            v = self.headers.get("x-goog-copy-source-if-generation-match")
            if v is not None and parse_generation(v) != src.generation:
                raise HttpError(412, "PreconditionFailed", "source generation does not match")
            objects = STATE.bucket(self.bucket_name)
            check_write_preconditions(self.headers, objects.get(self.key))
            directive = self.headers.get("x-goog-metadata-directive", "COPY").upper()
            headers = dict(src.headers) if directive == "COPY" else self._stored_headers()
            obj = Obj(src.data, src.etag, STATE.next_generation(), headers, src.md5)
            objects[self.key] = obj
        self._xml(
            200,
            f"<CopyObjectResult><LastModified>{iso_date(obj.mtime)}</LastModified>"
            f"<ETag>{xml_escape(obj.etag)}</ETag></CopyObjectResult>",
            {"ETag": obj.etag, "x-goog-generation": str(obj.generation)},
        )

    def _get(self):
        h = self.headers
        with STATE.lock:
            obj = STATE.bucket(self.bucket_name).get(self.key)
        if obj is None:
            raise HttpError(404, "NoSuchKey", "The specified key does not exist.")
        gen = (self.query.get("generation") or [None])[0]
        if gen is not None and parse_generation(gen) != obj.generation:
            raise HttpError(404, "NoSuchKey", "no such generation")

        meta = self._object_headers(obj)
        not_modified = HttpError(304, "NotModified", headers={
            "ETag": obj.etag, "Last-Modified": meta["Last-Modified"],
            "x-goog-generation": meta["x-goog-generation"]})
        v = h.get("x-goog-if-generation-match")
        if v is not None and parse_generation(v) != obj.generation:
            raise HttpError(412, "PreconditionFailed", "generation does not match")
        v = h.get("x-goog-if-generation-not-match")
        if v is not None and parse_generation(v) == obj.generation:
            raise not_modified
        mtime = int(obj.mtime)  # HTTP dates have whole seconds
        v = h.get("If-Match")
        if v is not None and not etag_matches(v, obj.etag):
            raise HttpError(412, "PreconditionFailed", "If-Match failed")
        v = h.get("If-Unmodified-Since")
        if v is not None and h.get("If-Match") is None:
            t = parse_http_date(v)
            if t is not None and mtime > t:
                raise HttpError(412, "PreconditionFailed", "If-Unmodified-Since failed")
        v = h.get("If-None-Match")
        if v is not None and etag_matches(v, obj.etag):
            raise not_modified
        v = h.get("If-Modified-Since")
        if v is not None and h.get("If-None-Match") is None:
            t = parse_http_date(v)
            if t is not None and mtime <= t:
                raise not_modified

        size = len(obj.data)
        rng = self._parse_range(h.get("Range"), size)
        if rng is None:
            return self._send(200, obj.data, meta, length=size)
        start, end = rng  # inclusive end
        body = obj.data[start : end + 1]
        meta["Content-Range"] = f"bytes {start}-{end}/{size}"
        self._send(206, body, meta, length=len(body))

    @staticmethod
    def _parse_range(value, size):
        """(start, end inclusive), None for the whole object, or raises 416."""
        if not value:
            return None
        value = value.strip()
        if not value.startswith("bytes=") or "," in value:
            return None  # unsupported or multiple ranges: whole object, as RFC 9110 allows
        spec = value[len("bytes="):].strip()
        first, sep, last = spec.partition("-")
        if not sep:
            return None
        unsatisfiable = HttpError(416, "InvalidRange", "The requested range cannot be satisfied.",
                                  {"Content-Range": f"bytes */{size}"})
        try:
            if first == "":
                n = int(last)
                if n <= 0 or size == 0:
                    raise unsatisfiable
                return max(0, size - n), size - 1
            start = int(first)
            end = int(last) if last else None
        except ValueError:
            return None
        if start < 0 or (end is not None and end < start):
            return None  # syntactically invalid: ignored
        if start >= size:
            raise unsatisfiable
        return start, size - 1 if end is None else min(end, size - 1)

    def _delete(self):
        with STATE.lock:
            objects = STATE.bucket(self.bucket_name)
            obj = objects.get(self.key)
            if obj is None:
                raise HttpError(404, "NoSuchKey", "The specified key does not exist.")
            check_write_preconditions(self.headers, obj)
            del objects[self.key]
        self._send(204)

    # ------------------------------------------------------------------ multipart

    def _upload(self) -> Upload:
        upload_id = self.query["uploadId"][0]
        u = STATE.uploads.get(upload_id)
        if u is None or u.bucket != self.bucket_name or u.key != self.key:
            raise HttpError(404, "NoSuchUpload", "The specified multipart upload does not exist.")
        return u

    def _initiate(self):
        self._read_body()
        u = Upload(self.bucket_name, self.key, self._stored_headers())
        with STATE.lock:
            STATE.bucket(self.bucket_name)
            STATE.uploads[u.upload_id] = u
        self._xml(
            200,
            '<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Bucket>{xml_escape(u.bucket)}</Bucket><Key>{xml_escape(u.key)}</Key>"
            f"<UploadId>{u.upload_id}</UploadId></InitiateMultipartUploadResult>",
        )

    def _put_part(self):
        data = self._read_body()
        try:
            number = int(self.query.get("partNumber", [""])[0])
        except ValueError:
            raise HttpError(400, "InvalidArgument", "invalid partNumber")
        if not 1 <= number <= 10000:
            raise HttpError(400, "InvalidArgument", "partNumber must be in 1..10000")
        md5 = hashlib.md5(data).digest()
        etag = f'"{md5.hex()}"'
        with STATE.lock:
            u = self._upload()
            u.parts[number] = (etag, data, md5)
        self._send(200, b"", {"ETag": etag})

    def _complete(self):
        body = self._read_body()
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise HttpError(400, "MalformedXML", "CompleteMultipartUpload is not valid XML")
        requested = []
        for part in root.iter():
            if part.tag.split("}")[-1] != "Part":
                continue
            fields = {c.tag.split("}")[-1]: (c.text or "").strip() for c in part}
            try:
                requested.append((int(fields["PartNumber"]), fields["ETag"]))
            except (KeyError, ValueError):
                raise HttpError(400, "MalformedXML", "Part needs PartNumber and ETag")
        if not requested:
            raise HttpError(400, "MalformedXML", "no parts")
        numbers = [n for n, _ in requested]
        if numbers != sorted(set(numbers)):
            raise HttpError(400, "InvalidPartOrder", "parts must be in ascending order")
        with STATE.lock:
            u = self._upload()
            chunks, digests = [], []
            for n, etag in requested:
                p = u.parts.get(n)
                if p is None or p[0].strip('"') != etag.strip('"'):
                    raise HttpError(400, "InvalidPart", f"part {n} missing or ETag differs")
                chunks.append(p[1])
                digests.append(p[2])
            objects = STATE.bucket(self.bucket_name)
            check_write_preconditions(self.headers, objects.get(self.key))
            data = b"".join(chunks)
            etag = f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(requested)}"'
            obj = Obj(data, etag, STATE.next_generation(), u.headers, hashlib.md5(data).digest())
            objects[self.key] = obj
            del STATE.uploads[u.upload_id]
        self._xml(
            200,
            '<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<Location>/{xml_escape(u.bucket)}/{xml_escape(u.key)}</Location>"
            f"<Bucket>{xml_escape(u.bucket)}</Bucket><Key>{xml_escape(u.key)}</Key>"
            f"<ETag>{xml_escape(etag)}</ETag></CompleteMultipartUploadResult>",
            {"x-goog-generation": str(obj.generation), "ETag": etag},
        )

    def _abort(self):
        self._read_body()
        with STATE.lock:
            u = self._upload()
            del STATE.uploads[u.upload_id]
        self._send(204)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--port-file", help="write the bound port to this file once listening")
    ap.add_argument("--bucket", action="append", default=[], help="create this bucket at start")
    args = ap.parse_args(argv)

    for b in args.bucket:
        STATE.bucket(b)
    server = Server((args.host, args.port), Handler)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
