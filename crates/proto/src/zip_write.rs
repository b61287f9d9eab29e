//! A stored (uncompressed) ZIP archive written one entry at a time to any `Write`: the client's
//! packer writes a directory's archive while uploading it, the server composes a repository's
//! next version from its files (`fedml-platform`'s `operations/repos.rs`). Sizes are known before
//! each file's bytes; the CRC-32 goes in a data descriptor after them; ZIP64 records are added
//! where sizes, offsets or the count need them. No I/O of its own: the caller's writer does it,
//! or the caller places a file's bytes itself ([`ZipStream::skip`]).

use std::io::{self, Read, Write};

struct CentralEntry {
    name: String,
    crc: u32,
    size: u64,
    offset: u64,
    dos_time: u16,
    dos_date: u16,
    external: u32,
    descriptor: bool,
}

/// Counts what passes through to the inner writer.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

const U32_MAX: u64 = 0xFFFF_FFFF;
const FLAG_DESCRIPTOR: u16 = 0x0008;
const FLAG_UTF8: u16 = 0x0800;

/// Writes a stored ZIP archive to any `Write`, one entry at a time.
pub struct ZipStream<W: Write> {
    out: Counting<W>,
    central: Vec<CentralEntry>,
    /// One read buffer for every file (a fresh one per file would cost a 1 MiB fill each).
    buffer: Vec<u8>,
    /// The file entry begun and not yet ended.
    open: Option<CentralEntry>,
}

impl<W: Write> ZipStream<W> {
    pub fn new(out: W) -> Self {
        ZipStream {
            out: Counting { inner: out, written: 0 },
            central: Vec::new(),
            buffer: vec![0u8; 1 << 20],
            open: None,
        }
    }

    pub fn add_directory(&mut self, name: &str, mtime: i64, mode: u32) -> io::Result<()> {
        let name = format!("{}/", name.trim_end_matches('/'));
        let (dos_time, dos_date) = dos_datetime(mtime);
        let offset = self.out.written;
        self.local_header(&name, dos_time, dos_date, false, offset)?;
        self.central.push(CentralEntry {
            name,
            crc: 0,
            size: 0,
            offset,
            dos_time,
            dos_date,
            external: ((0o040000 | mode) << 16) | 0x10,
            descriptor: false,
        });
        Ok(())
    }

    /// Adds a file of `size` bytes read from `reader`; fails if the reader yields another length.
    pub fn add_file(&mut self, name: &str, mtime: i64, mode: u32, size: u64, reader: &mut dyn Read) -> io::Result<()> {
        self.begin_file(name, mtime, mode, size)?;
        let mut crc = crc32fast::Hasher::new();
        let mut buf = std::mem::take(&mut self.buffer);
        let out = &mut self.out;
        let copied = (|| -> io::Result<u64> {
            let mut copied = 0u64;
            loop {
                let n = match reader.read(&mut buf) {
                    Ok(0) => return Ok(copied),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                };
                copied += n as u64;
                if copied > size {
                    return Ok(copied);
                }
                crc.update(&buf[..n]);
                out.write_all(&buf[..n])?;
            }
        })();
        self.buffer = buf;
        if copied? != size {
            return Err(changed_file(name, size));
        }
        self.end_file(crc.finalize())
    }

    /// Starts a file entry of `size` bytes: writes its local header. Its bytes follow (written, or
    /// [`ZipStream::skip`]ped by a caller that places them itself), then [`ZipStream::end_file`].
    pub fn begin_file(&mut self, name: &str, mtime: i64, mode: u32, size: u64) -> io::Result<()> {
        let (dos_time, dos_date) = dos_datetime(mtime);
        let offset = self.out.written;
        self.local_header(name, dos_time, dos_date, size >= U32_MAX, offset)?;
        self.open = Some(CentralEntry {
            name: name.to_string(),
            crc: 0,
            size,
            offset,
            dos_time,
            dos_date,
            external: (0o100000 | mode) << 16,
            descriptor: true,
        });
        Ok(())
    }

    /// Counts `n` bytes of the open file's data as written without writing them: the archive's
    /// offsets stay right for a caller that places the data itself.
    pub fn skip(&mut self, n: u64) {
        self.out.written += n;
    }

    /// Ends the open file entry, whose data had the CRC-32 `crc`: writes its data descriptor.
    pub fn end_file(&mut self, crc: u32) -> io::Result<()> {
        let Some(mut entry) = self.open.take() else {
            return Err(io::Error::other("no file entry is open"));
        };
        if self.out.written != entry.offset + self.header_len(&entry) + entry.size {
            return Err(changed_file(&entry.name, entry.size));
        }
        entry.crc = crc;
        self.out.write_all(&0x0807_4b50u32.to_le_bytes())?;
        self.out.write_all(&crc.to_le_bytes())?;
        if entry.size >= U32_MAX {
            self.out.write_all(&entry.size.to_le_bytes())?;
            self.out.write_all(&entry.size.to_le_bytes())?;
        } else {
            self.out.write_all(&(entry.size as u32).to_le_bytes())?;
            self.out.write_all(&(entry.size as u32).to_le_bytes())?;
        }
        self.central.push(entry);
        Ok(())
    }

    /// The bytes of an entry's local header.
    fn header_len(&self, entry: &CentralEntry) -> u64 {
        30 + entry.name.len() as u64 + if entry.size >= U32_MAX { 20 } else { 0 }
    }

    /// The writer the archive goes to (to take what was written so far, for one).
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.out.inner
    }

    /// The archive's bytes so far, skipped ones included.
    pub fn written(&self) -> u64 {
        self.out.written
    }

    fn local_header(&mut self, name: &str, dos_time: u16, dos_date: u16, zip64: bool, _offset: u64) -> io::Result<()> {
        let descriptor = !name.ends_with('/');
        let flags = FLAG_UTF8 | if descriptor { FLAG_DESCRIPTOR } else { 0 };
        let mut h = Vec::with_capacity(30 + name.len() + 20);
        h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        h.extend_from_slice(&(if zip64 { 45u16 } else { 20u16 }).to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes()); // stored
        h.extend_from_slice(&dos_time.to_le_bytes());
        h.extend_from_slice(&dos_date.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // crc: in the data descriptor
        let size_field = if zip64 { u32::MAX } else { 0 };
        h.extend_from_slice(&size_field.to_le_bytes());
        h.extend_from_slice(&size_field.to_le_bytes());
        h.extend_from_slice(&(name.len() as u16).to_le_bytes());
        h.extend_from_slice(&(if zip64 { 20u16 } else { 0u16 }).to_le_bytes());
        h.extend_from_slice(name.as_bytes());
        if zip64 {
            h.extend_from_slice(&1u16.to_le_bytes());
            h.extend_from_slice(&16u16.to_le_bytes());
            h.extend_from_slice(&0u64.to_le_bytes());
            h.extend_from_slice(&0u64.to_le_bytes());
        }
        self.out.write_all(&h)
    }

    /// Writes the central directory; returns the archive's total size and the inner writer.
    pub fn finish(mut self) -> io::Result<(u64, W)> {
        let cd_start = self.out.written;
        for e in &self.central {
            let big_size = e.size >= U32_MAX;
            let big_offset = e.offset >= U32_MAX;
            let mut extra = Vec::new();
            if big_size || big_offset {
                let mut fields = Vec::new();
                if big_size {
                    fields.extend_from_slice(&e.size.to_le_bytes());
                    fields.extend_from_slice(&e.size.to_le_bytes());
                }
                if big_offset {
                    fields.extend_from_slice(&e.offset.to_le_bytes());
                }
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&(fields.len() as u16).to_le_bytes());
                extra.extend_from_slice(&fields);
            }
            let flags = FLAG_UTF8 | if e.descriptor { FLAG_DESCRIPTOR } else { 0 };
            let needed: u16 = if extra.is_empty() { 20 } else { 45 };
            let mut h = Vec::with_capacity(46 + e.name.len() + extra.len());
            h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            h.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes()); // made by: Unix, 4.5
            h.extend_from_slice(&needed.to_le_bytes());
            h.extend_from_slice(&flags.to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(&e.dos_time.to_le_bytes());
            h.extend_from_slice(&e.dos_date.to_le_bytes());
            h.extend_from_slice(&e.crc.to_le_bytes());
            let size32 = if big_size { u32::MAX } else { e.size as u32 };
            h.extend_from_slice(&size32.to_le_bytes());
            h.extend_from_slice(&size32.to_le_bytes());
            h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // comment
            h.extend_from_slice(&0u16.to_le_bytes()); // disk
            h.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            h.extend_from_slice(&e.external.to_le_bytes());
            let offset32 = if big_offset { u32::MAX } else { e.offset as u32 };
            h.extend_from_slice(&offset32.to_le_bytes());
            h.extend_from_slice(e.name.as_bytes());
            h.extend_from_slice(&extra);
            self.out.write_all(&h)?;
        }
        let cd_end = self.out.written;
        let cd_size = cd_end - cd_start;
        let count = self.central.len() as u64;
        let zip64 = count >= 0xFFFF || cd_start >= U32_MAX || cd_size >= U32_MAX;
        if zip64 {
            let mut r = Vec::with_capacity(76);
            r.extend_from_slice(&0x0606_4b50u32.to_le_bytes());
            r.extend_from_slice(&44u64.to_le_bytes());
            r.extend_from_slice(&((3u16 << 8) | 45).to_le_bytes());
            r.extend_from_slice(&45u16.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&count.to_le_bytes());
            r.extend_from_slice(&count.to_le_bytes());
            r.extend_from_slice(&cd_size.to_le_bytes());
            r.extend_from_slice(&cd_start.to_le_bytes());
            r.extend_from_slice(&0x0706_4b50u32.to_le_bytes());
            r.extend_from_slice(&0u32.to_le_bytes());
            r.extend_from_slice(&cd_end.to_le_bytes());
            r.extend_from_slice(&1u32.to_le_bytes());
            self.out.write_all(&r)?;
        }
        let mut r = Vec::with_capacity(22);
        r.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        let count16 = if zip64 { u16::MAX } else { count as u16 };
        r.extend_from_slice(&count16.to_le_bytes());
        r.extend_from_slice(&count16.to_le_bytes());
        r.extend_from_slice(&(if zip64 { u32::MAX } else { cd_size as u32 }).to_le_bytes());
        r.extend_from_slice(&(if zip64 { u32::MAX } else { cd_start as u32 }).to_le_bytes());
        r.extend_from_slice(&0u16.to_le_bytes());
        self.out.write_all(&r)?;
        self.out.flush()?;
        Ok((self.out.written, self.out.inner))
    }
}

fn changed_file(name: &str, size: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{name} changed while it was being uploaded ({size} bytes expected); upload again"),
    )
}

/// MS-DOS time and date fields (local time is unknown here: UTC is used; 1980 at the earliest).
fn dos_datetime(unix: i64) -> (u16, u16) {
    let unix = unix.max(315_532_800); // 1980-01-01
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let mut year = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    if month <= 2 {
        year += 1;
    }
    let year = year.clamp(1980, 2107);
    let time = ((secs / 3600) << 11) | (((secs % 3600) / 60) << 5) | ((secs % 60) / 2);
    let date = ((year - 1980) << 9) | (month << 5) | day;
    (time as u16, date as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_dates() {
        // 2024-02-29 12:34:56 UTC
        let (time, date) = dos_datetime(1_709_210_096);
        assert_eq!(date >> 9, 44);
        assert_eq!((date >> 5) & 0xF, 2);
        assert_eq!(date & 0x1F, 29);
        assert_eq!(time >> 11, 12);
        assert_eq!((time >> 5) & 0x3F, 34);
        assert_eq!((time & 0x1F) * 2, 56);
    }
}
