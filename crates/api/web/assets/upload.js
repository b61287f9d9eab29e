// Uploads from the browser, the CLI's way: one upload session, parts PUT straight to the signed
// URLs the server hands out (several at once), the BLAKE3 of the bytes computed on the way, and
// the completion that commits the object. A failure or a cancel aborts the session, so nothing
// is left behind. A folder travels as the CLI's ZIP archive, written while it is sent.

import { call, seg } from './api.js';
import { Blake3 } from './blake3.js';
import { zipStream } from './zip.js';

// What a download by the CLI or an SDK leaves in a folder: its marker (`.fedml-download-`) and
// its temporary names (`.fedml-partial-`, `.fedml-unpack-`, `.fedml-old-`), each followed by
// exactly 16 lowercase hex digits. A folder upload leaves them out at any depth, as the CLI does;
// any other name, `.fedml-notes` say, is the user's.
const LEFTOVER = /^\.fedml-(download|partial|unpack|old)-[0-9a-f]{16}$/;

export function downloadLeftover(path) {
  return path.split('/').some((part) => LEFTOVER.test(part));
}

const PARALLEL = 4;
const URL_BATCH = 16;
const TRIES = 4;

// One part's PUT, with upload progress; answers the ETag the store gave.
function putPart(url, bytes, signal, onBytes) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let reported = 0;
    xhr.open('PUT', url);
    xhr.upload.onprogress = (e) => {
      onBytes(e.loaded - reported);
      reported = e.loaded;
    };
    xhr.onload = () => {
      onBytes(bytes.length - reported);
      reported = bytes.length;
      if (xhr.status >= 200 && xhr.status < 300) {
        // Azure's Put Block answers no ETag, only digests of what it received.
        const etag = xhr.getResponseHeader('ETag') || xhr.getResponseHeader('x-ms-content-crc64') || xhr.getResponseHeader('Content-MD5');
        if (etag) resolve(etag);
        else reject(Object.assign(new Error('the store gave no ETag for a part (is ETag exposed to this page?)'), { final: true }));
      } else {
        reject(Object.assign(new Error(`the store refused a part (HTTP ${xhr.status})`), { final: xhr.status < 500 && xhr.status !== 429 }));
      }
    };
    xhr.onerror = () => { onBytes(-reported); reject(new Error('the connection to the store broke off')); };
    xhr.onabort = () => { onBytes(-reported); reject(new DOMException('cancelled', 'AbortError')); };
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    xhr.send(bytes);
  });
}

// Parts of exactly `partSize` bytes (the last one shorter) from a stream of byte arrays.
async function* inParts(chunks, partSize) {
  let buffer = new Uint8Array(partSize);
  let filled = 0;
  for await (const chunk of chunks) {
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(partSize - filled, chunk.length - at);
      buffer.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === partSize) {
        yield buffer;
        buffer = new Uint8Array(partSize);
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buffer.subarray(0, filled);
}

async function* fileChunks(file, signal) {
  const step = 8 << 20;
  for (let at = 0; at < file.size; at += step) {
    if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
    yield new Uint8Array(await file.slice(at, Math.min(file.size, at + step)).arrayBuffer());
  }
}

// Stores `entries` ([{path, file}]; one entry without a path for a single file) under `name`
// in `namespace` (the caller's own when left out).
// A description, tags or metadata left undefined is not sent: an overwrite keeps those of the
// version it replaces. `onProgress({read, sent})` reports bytes read and bytes sent. Answers the
// completed upload.
export async function upload({ name, namespace, entries, directory, description, tags, metadata, overwrite, service, signal, onProgress }) {
  const size = directory ? null : entries[0].file.size;
  // The namespace goes in the body (the later calls name the session, which knows it).
  const session = await call('POST', '/api/v1/uploads', {
    name, service, kind: directory ? 'directory' : 'file', size, description, tags, metadata, overwrite,
    namespace: namespace || undefined,
  });
  const id = session.upload_id;
  try {
    const hasher = new Blake3();
    let read = 0;
    let sent = 0;
    const report = () => onProgress?.({ read, sent });
    const chunks = directory ? zipStream(entries, signal) : fileChunks(entries[0].file, signal);
    const urls = new Map();
    const fetchUrls = async (first) => {
      const batch = await call('POST', `/api/v1/uploads/${seg(id)}/parts`, { first, count: URL_BATCH });
      for (const u of batch) urls.set(u.part_number, u.url);
    };
    const done = [];
    const inFlight = new Set();
    let failure = null;
    const send = async (number, bytes) => {
      for (let attempt = 1; ; attempt++) {
        if (!urls.has(number)) await fetchUrls(number);
        try {
          const etag = await putPart(urls.get(number), bytes, signal, (n) => { sent += n; report(); });
          done.push({ part_number: number, etag });
          return;
        } catch (e) {
          if (e.name === 'AbortError' || e.final || attempt >= TRIES) throw e;
          await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
        }
      }
    };
    let number = 0;
    let total = 0;
    for await (const part of inParts(chunks, session.part_size)) {
      if (failure) throw failure;
      if (signal.aborted) throw new DOMException('cancelled', 'AbortError');
      number++;
      if (number > session.max_parts) throw new Error(`this upload needs more than ${session.max_parts} parts`);
      hasher.update(part);
      read += part.length;
      total += part.length;
      report();
      const task = send(number, part).catch((e) => { failure = failure || e; }).finally(() => inFlight.delete(task));
      inFlight.add(task);
      while (inFlight.size >= PARALLEL) await Promise.race(inFlight);
    }
    if (number === 0) {
      // An empty file is one empty part.
      number = 1;
      const task = send(1, new Uint8Array(0)).catch((e) => { failure = failure || e; });
      inFlight.add(task);
    }
    await Promise.all(inFlight);
    if (failure) throw failure;
    done.sort((a, b) => a.part_number - b.part_number);
    return await call('POST', `/api/v1/uploads/${seg(id)}/complete`, {
      parts: done, size: total, checksum: `blake3:${hasher.hex()}`,
    });
  } catch (e) {
    // Whatever went wrong, the session goes: its parts become garbage, no object appears.
    try { await call('DELETE', `/api/v1/uploads/${seg(id)}`); } catch { /* the collector ends it at expiry */ }
    throw e;
  }
}
