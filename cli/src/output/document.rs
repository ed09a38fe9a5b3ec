//! The document forms of `ank get state` and `ank get events`: YAML (the default, which
//! `ank set state` reads back) or JSON.
//!
//! YAML is written by serde_norway (the maintained fork of serde_yaml), not by serde-saphyr,
//! which reads all our YAML: serde-saphyr quotes with `"` and quotes more scalars (timestamps,
//! `yes`), which would change every document users' scripts and our snapshots already read.

use std::io::{self, Write};

use serde::Serialize;

/// `-o/--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// YAML, which `ank set state` reads back.
    #[default]
    Yaml,
    /// JSON: pretty-printed for `get state`, one object per line for `get events`.
    Json,
}

/// Writes one whole document: YAML, or pretty-printed JSON.
pub fn write_document<W: Write + ?Sized>(
    out: &mut W,
    value: &impl Serialize,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Yaml => {
            let text = serde_norway::to_string(value).map_err(io::Error::other)?;
            out.write_all(text.as_bytes())
        }
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, value).map_err(io::Error::other)?;
            writeln!(out)
        }
    }
}

/// Writes one document of a stream: YAML documents separated by `---`, JSON one object per line
/// (so that `jq` or a line reader can follow it live).
pub fn write_stream_item<W: Write + ?Sized>(
    out: &mut W,
    value: &impl Serialize,
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Yaml => {
            let text = serde_norway::to_string(value).map_err(io::Error::other)?;
            writeln!(out, "---")?;
            out.write_all(text.as_bytes())?;
        }
        Format::Json => {
            serde_json::to_writer(&mut *out, value).map_err(io::Error::other)?;
            writeln!(out)?;
        }
    }
    out.flush()
}
