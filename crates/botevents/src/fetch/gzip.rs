//! Gzip bodies, decompressed as they stream: a push decoder with no I/O.
//!
//! In: the compressed bytes of a body, in whatever pieces the connection delivers them. Out: the
//! decompressed bytes of each piece, and at the end a check that the gzip stream was whole (its
//! trailer read and its CRC-32 and length matched). A body broken off midway, in its header, its
//! data or its trailer, is an error at [`Gunzip::finish`], never a silently short body.
//!
//! Memory: the decoder holds zlib's 32 KiB window plus its state (about 40 KiB); the output of
//! one call is what its input inflates to, so [`crate::fetch::Body`] feeds at most
//! [`FEED_BYTES`] at a time (CSV inflates 4–10×; deflate's worst case is about 1,000×).

use bytes::Bytes;
use flate2::{Decompress, FlushDecompress, Status};

/// The largest piece of compressed input decoded in one call.
pub const FEED_BYTES: usize = 16 * 1024;

/// Output room reserved before each inflate step.
const OUT_STEP: usize = 64 * 1024;

/// Why a gzip body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// The bytes are not a gzip stream, or it is damaged.
    #[error("gzip stream damaged: {0}")]
    Corrupt(String),
    /// The body ended before the gzip stream did (a body broken off midway).
    #[error("gzip stream ended early, after {0} compressed bytes")]
    Truncated(u64),
    /// More bytes came after the end of the gzip stream.
    #[error("{0} bytes after the end of the gzip stream")]
    Trailing(usize),
}

/// A streaming gzip decoder (one member, as `Content-Encoding: gzip` sends).
pub struct Gunzip {
    z: Decompress,
    ended: bool,
}

impl std::fmt::Debug for Gunzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gunzip").field("in", &self.z.total_in()).field("out", &self.z.total_out()).finish()
    }
}

impl Default for Gunzip {
    fn default() -> Self {
        Gunzip::new()
    }
}

impl Gunzip {
    /// A decoder at the start of a gzip stream.
    pub fn new() -> Gunzip {
        Gunzip { z: Decompress::new_gzip(15), ended: false }
    }

    /// Decompresses `input`, the next piece of the stream; returns what it inflates to (maybe
    /// nothing yet).
    pub fn feed(&mut self, mut input: &[u8]) -> Result<Bytes, GunzipError> {
        let mut out = Vec::new();
        while !input.is_empty() {
            if self.ended {
                return Err(GunzipError::Trailing(input.len()));
            }
            out.reserve(OUT_STEP);
            let (before_in, before_out) = (self.z.total_in(), out.len());
            let status = self
                .z
                .decompress_vec(input, &mut out, FlushDecompress::None)
                .map_err(|e| GunzipError::Corrupt(e.to_string()))?;
            let used = (self.z.total_in() - before_in) as usize;
            input = &input[used..];
            if status == Status::StreamEnd {
                self.ended = true;
            } else if used == 0 && out.len() == before_out {
                // Room to write and bytes to read, yet no progress: never loop on it.
                return Err(GunzipError::Corrupt("the inflater made no progress".into()));
            }
        }
        Ok(Bytes::from(out))
    }

    /// The end of the body: the gzip stream must have ended with it.
    pub fn finish(&mut self) -> Result<(), GunzipError> {
        if self.ended { Ok(()) } else { Err(GunzipError::Truncated(self.z.total_in())) }
    }

    /// Compressed bytes decoded so far.
    pub fn total_in(&self) -> u64 {
        self.z.total_in()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn csv(rows: usize) -> Vec<u8> {
        let mut s =
            String::from("eventName,platform,eventDetails,userText,eventCreationTime,conversationId,matchedTitle\n");
        for i in 0..rows {
            s.push_str(&format!(
                "\n\"Question answered? - {}\",HTMLCLIENT,\"Returned article: {i}\",\"message {}\",2026-11-23T14:59:{:02}.{:03}Z,\"7060a959-{i:04}\",\n",
                i % 7,
                i * 31 % 1000,
                i % 60,
                i % 1000
            ));
        }
        s.into_bytes()
    }

    /// Any cut of the compressed bytes into pieces (1, 3, 7, 100 bytes, or one piece) gives the
    /// same body.
    #[test]
    fn any_chunking_gives_the_same_body() {
        let body = csv(2_000);
        let z = gzip(&body);
        assert!(z.len() * 3 < body.len(), "{} of {}", z.len(), body.len());
        for size in [1, 3, 7, 100, FEED_BYTES, z.len()] {
            let mut d = Gunzip::new();
            let mut out = Vec::new();
            for piece in z.chunks(size) {
                out.extend_from_slice(&d.feed(piece).unwrap());
            }
            d.finish().unwrap();
            assert!(out == body, "pieces of {size}");
            assert_eq!(d.total_in(), z.len() as u64);
        }
    }

    /// A stream broken off anywhere (header, data, trailer) is an error at the end, never a
    /// short body taken as whole.
    #[test]
    fn a_stream_broken_off_anywhere_is_an_error() {
        let z = gzip(&csv(300));
        for cut in [0, 1, 5, 10, 11, z.len() / 2, z.len() - 8, z.len() - 1] {
            let mut d = Gunzip::new();
            let fed = d.feed(&z[..cut]);
            let end = fed.and_then(|_| d.finish());
            assert!(matches!(end, Err(GunzipError::Truncated(n)) if n == cut as u64), "cut at {cut}: {end:?}");
        }
        // The empty body of a gzip stream is still a stream: header and trailer.
        let mut d = Gunzip::new();
        assert!(d.feed(&gzip(b"")).unwrap().is_empty());
        d.finish().unwrap();
    }

    #[test]
    fn damage_and_trailing_bytes_are_errors() {
        let z = gzip(&csv(50));
        let mut d = Gunzip::new();
        assert!(matches!(d.feed(b"not gzip at all"), Err(GunzipError::Corrupt(_))));
        // A flipped bit in the data fails the CRC-32 or the deflate stream itself.
        let mut bad = z.clone();
        let at = bad.len() / 2;
        bad[at] ^= 0x40;
        let mut d = Gunzip::new();
        assert!(d.feed(&bad).and_then(|_| d.finish()).is_err());
        let mut more = z.clone();
        more.extend_from_slice(b"xyz");
        let mut d = Gunzip::new();
        assert_eq!(d.feed(&more), Err(GunzipError::Trailing(3)));
    }
}
