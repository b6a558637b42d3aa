//! `--format` and `--compression` → the encoder's [`WriteOptions`].
//!
//! In: a file format and a compression name such as `zstd:3`. Out: validated encoder settings,
//! or a usage error that quotes the value.

use parquet::basic::{Compression, GzipLevel, ZstdLevel};

use crate::error::UsageError;
use crate::write::{DEFAULT_ZSTD_LEVEL, FileFormat, IpcCompression, WriteOptions};

/// The encoder settings of `--format` and `--compression`.
pub fn write_options(format: FileFormat, compression: &str) -> Result<WriteOptions, UsageError> {
    Ok(match format {
        FileFormat::Parquet => WriteOptions { compression: parse_compression(compression)?, ..WriteOptions::default() },
        FileFormat::Arrow => WriteOptions {
            format: FileFormat::Arrow,
            ipc_compression: parse_ipc_compression(compression)?,
            ..WriteOptions::default()
        },
    })
}

/// Parses `--compression` for Arrow IPC files: zstd, zstd:LEVEL, lz4 or none.
pub fn parse_ipc_compression(s: &str) -> Result<IpcCompression, UsageError> {
    let bad = |reason: String| UsageError::Invalid { what: "--compression", value: s.to_string(), reason };
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l.parse::<i32>().map_err(|e| bad(format!("level: {e}")))?)),
        None => (s, None),
    };
    match (name.to_ascii_lowercase().as_str(), level) {
        ("zstd", l) => {
            let level = l.unwrap_or(DEFAULT_ZSTD_LEVEL);
            ZstdLevel::try_new(level).map_err(|e| bad(e.to_string()))?;
            Ok(IpcCompression::Zstd { level })
        }
        ("lz4", None) => Ok(IpcCompression::Lz4),
        ("none" | "uncompressed", None) => Ok(IpcCompression::None),
        ("snappy" | "gzip", _) => {
            Err(bad("Arrow IPC files are compressed with zstd, lz4 or none; snappy and gzip are for --format parquet"
                .into()))
        }
        _ => Err(bad("expected zstd, zstd:LEVEL, lz4 or none for --format arrow".into())),
    }
}

/// Parses `--compression`.
pub fn parse_compression(s: &str) -> Result<Compression, UsageError> {
    let bad = |reason: String| UsageError::Invalid { what: "--compression", value: s.to_string(), reason };
    let (name, level) = match s.split_once(':') {
        Some((n, l)) => (n, Some(l.parse::<i32>().map_err(|e| bad(format!("level: {e}")))?)),
        None => (s, None),
    };
    match (name.to_ascii_lowercase().as_str(), level) {
        ("zstd", l) => {
            Ok(Compression::ZSTD(ZstdLevel::try_new(l.unwrap_or(DEFAULT_ZSTD_LEVEL)).map_err(|e| bad(e.to_string()))?))
        }
        ("snappy", None) => Ok(Compression::SNAPPY),
        ("gzip", l) => {
            Ok(Compression::GZIP(GzipLevel::try_new(l.unwrap_or(6) as u32).map_err(|e| bad(e.to_string()))?))
        }
        ("none" | "uncompressed", None) => Ok(Compression::UNCOMPRESSED),
        _ => Err(bad("expected zstd, zstd:LEVEL, snappy, gzip, gzip:LEVEL or none".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_values() {
        assert!(matches!(parse_compression("zstd:3"), Ok(Compression::ZSTD(_))));
        assert!(matches!(parse_compression("none"), Ok(Compression::UNCOMPRESSED)));
        let err = parse_compression("brotli").unwrap_err().to_string();
        assert!(err.contains("\"brotli\""), "{err}");
    }

    #[test]
    fn arrow_compression_values() {
        let opts = write_options(FileFormat::Arrow, "zstd:3").unwrap();
        assert_eq!((opts.format, opts.ipc_compression), (FileFormat::Arrow, IpcCompression::Zstd { level: 3 }));
        assert_eq!(write_options(FileFormat::Arrow, "lz4").unwrap().ipc_compression, IpcCompression::Lz4);
        assert_eq!(write_options(FileFormat::Arrow, "none").unwrap().ipc_compression, IpcCompression::None);
        for refused in ["snappy", "gzip", "gzip:6"] {
            let err = write_options(FileFormat::Arrow, refused).unwrap_err().to_string();
            assert!(err.contains(&format!("{refused:?}")) && err.contains("--format parquet"), "{err}");
        }
        assert!(write_options(FileFormat::Parquet, "lz4").is_err());
        assert_eq!(write_options(FileFormat::Parquet, "snappy").unwrap().format, FileFormat::Parquet);
    }
}
