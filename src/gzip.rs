//! One gzip member made of pieces compressed independently, so the pieces
//! of a big body can be compressed side by side on several threads.
//!
//! This is how pigz works: each piece is deflated on its own and ends with
//! a sync flush (an empty stored block, so the next piece starts on a byte
//! boundary), the stream ends with an empty final block, and the trailer
//! carries the CRC-32 of the whole body, combined from the pieces' CRCs.
//! The result is an ordinary single-member gzip stream; a piece does not
//! see the text before it, which costs a little ratio at 64 KiB pieces.

use std::io;

use flate2::{Compress, Compression, FlushCompress, Status};

/// The gzip header: deflate, no name, no time, unknown OS.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff];

/// One compressed piece and what the trailer needs from it.
pub struct Piece {
    pub deflated: Vec<u8>,
    pub crc: crc32fast::Hasher,
    pub len: u64,
}

/// Deflate `data` alone (fastest level: a scrape is text with long
/// repeated runs that even level 1 shrinks about ten times, and the CPU of
/// a big scrape is what an exporter must keep small), ending on a byte
/// boundary so that pieces can be concatenated.
pub fn piece(data: &[u8]) -> io::Result<Piece> {
    let mut c = Pooled::take();
    let mut deflated = Vec::with_capacity(data.len() / 4 + 64);
    loop {
        let read = c.total_in() as usize;
        let status = c
            .compress_vec(&data[read..], &mut deflated, FlushCompress::Sync)
            .map_err(io::Error::other)?;
        // Done once every byte is in and the flush fitted with room to
        // spare (zlib's rule: a full buffer means more may be pending).
        let all_in = c.total_in() as usize == data.len();
        if all_in && deflated.len() < deflated.capacity() {
            break;
        }
        if status == Status::StreamEnd {
            return Err(io::Error::other("deflate ended early"));
        }
        deflated.reserve(deflated.capacity().max(4096));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(data);
    Ok(Piece {
        deflated,
        crc,
        len: data.len() as u64,
    })
}

/// Compressors kept for reuse, at most this many: a deflate state is a
/// few hundred KiB, and one made and dropped per piece, on whichever
/// thread runs it, leaves the allocator holding memory on every thread.
const POOL: usize = 8;

fn pool() -> &'static std::sync::Mutex<Vec<Compress>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<Vec<Compress>>> = std::sync::OnceLock::new();
    POOL.get_or_init(Default::default)
}

/// A compressor from the pool (reset) or new, back to the pool on drop.
struct Pooled(Option<Compress>);

impl Pooled {
    fn take() -> Pooled {
        let pooled = pool().lock().unwrap_or_else(|e| e.into_inner()).pop();
        Pooled(Some(match pooled {
            Some(mut c) => {
                c.reset();
                c
            }
            None => Compress::new(Compression::fast(), false),
        }))
    }
}

impl std::ops::Deref for Pooled {
    type Target = Compress;
    fn deref(&self) -> &Compress {
        self.0.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut Compress {
        self.0.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut pool = pool().lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.extend(self.0.take());
        }
    }
}

/// The end of the stream: an empty final block (fixed codes, end of
/// block), then the CRC-32 and the length (mod 2^32) of the whole body.
pub fn trailer(crc: crc32fast::Hasher, len: u64) -> [u8; 10] {
    let mut t = [0u8; 10];
    t[..2].copy_from_slice(&[0x03, 0x00]);
    t[2..6].copy_from_slice(&crc.finalize().to_le_bytes());
    t[6..].copy_from_slice(&(len as u32).to_le_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gzip_of(pieces: &[&[u8]]) -> Vec<u8> {
        let mut out = HEADER.to_vec();
        let mut crc = crc32fast::Hasher::new();
        let mut len = 0;
        for p in pieces {
            let p = piece(p).unwrap();
            out.extend_from_slice(&p.deflated);
            crc.combine(&p.crc);
            len += p.len;
        }
        out.extend_from_slice(&trailer(crc, len));
        out
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        // One member: a plain (not multi-member) decoder must read it all.
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn pieces_make_one_valid_member() {
        let text: String = (0..20_000)
            .map(|n| format!("ses_probe_success{{check=\"smtp\",target=\"t{n}\"}} 1\n"))
            .collect();
        let bytes = text.as_bytes();
        let pieces: Vec<&[u8]> = bytes.chunks(64 * 1024).collect();
        assert!(pieces.len() > 5);
        let gz = gzip_of(&pieces);
        assert_eq!(gunzip(&gz), bytes);
        assert!(
            gz.len() * 8 < bytes.len(),
            "{} of {}",
            gz.len(),
            bytes.len()
        );
        // A piece that does not compress (random bytes) is carried too.
        let noise: Vec<u8> = (0u32..100_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(
            gunzip(&gzip_of(&[&noise, b"", b"tail\n"])),
            [&noise[..], b"tail\n"].concat()
        );
        // No pieces at all: an empty body.
        assert_eq!(gunzip(&gzip_of(&[])), b"");
    }
}
