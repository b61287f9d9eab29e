// ZIP archives as the CLI writes them for a directory object: stored (uncompressed) entries
// with a data descriptor after each file, ZIP64 records wherever sizes, offsets or the number of
// entries need them. Written while it is uploaded (nothing is built in memory beforehand), and
// read back from the end of a stored archive to list a directory object's files.

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(crc, bytes) {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const MAX32 = 0xffffffff;
const MAX16 = 0xffff;

// Little-endian fields, appended.
class Writer {
  constructor(size) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
    this.at = 0;
  }
  u16(v) { this.view.setUint16(this.at, v, true); this.at += 2; return this; }
  u32(v) { this.view.setUint32(this.at, v >>> 0, true); this.at += 4; return this; }
  u64(v) { this.u32(v % 0x100000000); return this.u32(Math.floor(v / 0x100000000)); }
  raw(b) { this.bytes.set(b, this.at); this.at += b.length; return this; }
  done() { return this.bytes.subarray(0, this.at); }
}

function dosTime(ms) {
  const d = new Date(ms);
  const year = Math.max(1980, d.getFullYear());
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((year - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

const READ = 4 << 20;

// The archive of `entries` ([{path, file}], path without the top folder) as a sequence of
// Uint8Arrays. `signal` stops it between reads.
export async function* zipStream(entries, signal) {
  const encoder = new TextEncoder();
  const central = [];
  let offset = 0;
  for (const { path, file } of entries) {
    if (signal?.aborted) throw new DOMException('cancelled', 'AbortError');
    const name = encoder.encode(path);
    const zip64 = file.size >= MAX32 || offset >= MAX32;
    const { time, date } = dosTime(file.lastModified || Date.now());
    const header = new Writer(30 + name.length + 20)
      .u32(0x04034b50).u16(zip64 ? 45 : 20).u16(0x0808).u16(0).u16(time).u16(date)
      .u32(0).u32(zip64 ? MAX32 : 0).u32(zip64 ? MAX32 : 0).u16(name.length).u16(zip64 ? 20 : 0)
      .raw(name);
    if (zip64) header.u16(1).u16(16).u64(0).u64(0);
    const local = header.done();
    yield local;
    const start = offset;
    offset += local.length;
    let crc = 0;
    for (let at = 0; at < file.size; at += READ) {
      if (signal?.aborted) throw new DOMException('cancelled', 'AbortError');
      const bytes = new Uint8Array(await file.slice(at, Math.min(file.size, at + READ)).arrayBuffer());
      crc = crc32(crc, bytes);
      yield bytes;
    }
    offset += file.size;
    const descriptor = new Writer(24).u32(0x08074b50).u32(crc);
    if (zip64) descriptor.u64(file.size).u64(file.size);
    else descriptor.u32(file.size).u32(file.size);
    const d = descriptor.done();
    yield d;
    offset += d.length;
    central.push({ name, crc, size: file.size, start, time, date, zip64 });
  }
  const cdStart = offset;
  for (const e of central) {
    const extra = [];
    if (e.size >= MAX32) extra.push(e.size, e.size);
    if (e.start >= MAX32) extra.push(e.start);
    const w = new Writer(46 + e.name.length + 4 + extra.length * 8)
      .u32(0x02014b50).u16((3 << 8) | 45).u16(e.zip64 || extra.length ? 45 : 20).u16(0x0808).u16(0)
      .u16(e.time).u16(e.date).u32(e.crc)
      .u32(e.size >= MAX32 ? MAX32 : e.size).u32(e.size >= MAX32 ? MAX32 : e.size)
      .u16(e.name.length).u16(extra.length ? 4 + extra.length * 8 : 0).u16(0).u16(0).u16(0)
      .u32((0o100644 << 16) >>> 0).u32(e.start >= MAX32 ? MAX32 : e.start).raw(e.name);
    if (extra.length) {
      w.u16(1).u16(extra.length * 8);
      for (const v of extra) w.u64(v);
    }
    const record = w.done();
    yield record;
    offset += record.length;
  }
  const cdSize = offset - cdStart;
  const count = central.length;
  const needs64 = count >= MAX16 || cdSize >= MAX32 || cdStart >= MAX32;
  const end = new Writer(56 + 20 + 22);
  if (needs64) {
    end.u32(0x06064b50).u64(44).u16(45).u16(45).u32(0).u32(0).u64(count).u64(count).u64(cdSize).u64(cdStart);
    end.u32(0x07064b50).u32(0).u64(offset).u32(1);
  }
  end.u32(0x06054b50).u16(0).u16(0)
    .u16(needs64 ? MAX16 : count).u16(needs64 ? MAX16 : count)
    .u32(needs64 ? MAX32 : cdSize).u32(needs64 ? MAX32 : cdStart).u16(0);
  yield end.done();
}

// ---------------------------------------------------------------- reading the file list

async function range(url, start, endInclusive) {
  const res = await fetch(url, { headers: { Range: `bytes=${start}-${endInclusive}` }, credentials: 'omit' });
  if (res.status !== 206 && res.status !== 200) throw new Error(`the store answered ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  return res.status === 200 ? bytes.subarray(start, endInclusive + 1) : bytes;
}

function u64(view, at) {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
}

// The files of the archive at `url` (`size` bytes): [{path, size}], at most `limit` of them,
// read from its central directory with two or three ranged reads. `more` says some were left.
export async function listZip(url, size, limit = 2000) {
  const tailLen = Math.min(size, 65557 + 20);
  const tail = await range(url, size - tailLen, size - 1);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('this archive has no end record');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdStart = tv.getUint32(eocd + 16, true);
  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === 0x07064b50) {
    const at = u64(tv, eocd - 20 + 8);
    const rec = await range(url, at, at + 55);
    const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
    count = u64(rv, 32);
    cdSize = u64(rv, 40);
    cdStart = u64(rv, 48);
  }
  const readLen = Math.min(cdSize, 8 << 20);
  const cd = await range(url, cdStart, cdStart + readLen - 1);
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const decoder = new TextDecoder();
  const files = [];
  let p = 0;
  while (p + 46 <= cd.length && files.length < limit && v.getUint32(p, true) === 0x02014b50) {
    let fileSize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen > cd.length) break;
    const path = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
    if (fileSize === MAX32) {
      let e = p + 46 + nameLen;
      const end = e + extraLen;
      while (e + 4 <= end) {
        const tag = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (tag === 1 && len >= 8) fileSize = u64(v, e + 4);
        e += 4 + len;
      }
    }
    if (!path.endsWith('/')) files.push({ path, size: fileSize });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return { files, count, more: files.length < count && files.length >= limit };
}
