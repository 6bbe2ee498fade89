//! The JSON-lines form of the log, shared by archived segments and the feed (`audit tail`).
//!
//! A row is `{"seq":N,"prev_hash":"…","hash":"…","record":{…}}`, with `record` the row's JSON
//! byte for byte (the hash covers those bytes; a record that is not JSON is kept as a string in
//! `record_text`). A checkpoint is `{"checkpoint":{…}}` ([`SignedCheckpoint`]). A segment is the
//! rows from one checkpoint to the next followed by that checkpoint's line, gzip-compressed, in
//! a file named by its range: `audit-<first_seq>-<last_seq>.jsonl.gz` (20 digits each, so names
//! sort by sequence).

use std::io::{BufRead, Read, Write};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::checkpoint::SignedCheckpoint;
use super::AuditRow;

const PREFIX: &str = "audit-";
const SUFFIX: &str = ".jsonl.gz";

/// One line of the JSON-lines form.
#[derive(Debug, Clone)]
pub enum Line {
    /// A row.
    Row(AuditRow),
    /// A signed checkpoint (after the rows it covers).
    Checkpoint(SignedCheckpoint),
}

#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prev_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint: Option<SignedCheckpoint>,
}

impl Line {
    /// The line's text (no newline).
    pub fn to_json(&self) -> String {
        let wire = match self {
            Line::Row(r) => {
                let raw = RawValue::from_string(r.record.clone()).ok();
                Wire {
                    seq: Some(r.seq),
                    prev_hash: Some(r.prev_hash.clone()),
                    hash: Some(r.hash.clone()),
                    record_text: if raw.is_none() { Some(r.record.clone()) } else { None },
                    record: raw,
                    checkpoint: None,
                }
            }
            Line::Checkpoint(c) => Wire {
                seq: None,
                prev_hash: None,
                hash: None,
                record: None,
                record_text: None,
                checkpoint: Some(c.clone()),
            },
        };
        // Strings, integers and raw JSON only: serialising cannot fail.
        serde_json::to_string(&wire).unwrap_or_default()
    }

    /// Parses one line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let w: Wire = serde_json::from_str(text).map_err(|e| format!("not a log line: {e}"))?;
        if let Some(c) = w.checkpoint {
            return Ok(Line::Checkpoint(c));
        }
        let record = match (w.record, w.record_text) {
            (Some(raw), None) => raw.get().to_string(),
            (None, Some(text)) => text,
            _ => return Err("a row needs exactly one of record and record_text".into()),
        };
        match (w.seq, w.prev_hash, w.hash) {
            (Some(seq), Some(prev_hash), Some(hash)) => Ok(Line::Row(AuditRow { seq, record, prev_hash, hash })),
            _ => Err("a row needs seq, prev_hash and hash".into()),
        }
    }
}

/// A segment's file name.
pub fn file_name(first_seq: i64, last_seq: i64) -> String {
    format!("{PREFIX}{first_seq:020}-{last_seq:020}{SUFFIX}")
}

/// The range a segment file name stands for.
pub fn parse_file_name(name: &str) -> Option<(i64, i64)> {
    let range = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let (a, b) = range.split_once('-')?;
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (a.len() == 20 && b.len() == 20 && first >= 1 && last >= first).then_some((first, last))
}

/// A closed segment: its rows and the checkpoint that signs them.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The rows, in order.
    pub rows: Vec<AuditRow>,
    /// The checkpoint over them.
    pub checkpoint: SignedCheckpoint,
}

impl Segment {
    /// The compressed file content (gzip, fixed header: the same segment always gives the same
    /// bytes, so a rerun rewrites a file identically).
    pub fn encode(&self) -> std::io::Result<Vec<u8>> {
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(6));
        for r in &self.rows {
            gz.write_all(Line::Row(r.clone()).to_json().as_bytes())?;
            gz.write_all(b"\n")?;
        }
        gz.write_all(Line::Checkpoint(self.checkpoint.clone()).to_json().as_bytes())?;
        gz.write_all(b"\n")?;
        gz.finish()
    }

    /// Reads a segment file's content: rows, then exactly one checkpoint as the last line.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).map_err(|e| format!("not gzip text: {e}"))?;
        let mut rows = Vec::new();
        let mut checkpoint = None;
        for (i, line) in text.as_bytes().lines().enumerate() {
            let line = line.map_err(|e| e.to_string())?;
            if checkpoint.is_some() {
                return Err(format!("line {}: after the checkpoint", i + 1));
            }
            match Line::parse(&line).map_err(|e| format!("line {}: {e}", i + 1))? {
                Line::Row(r) => rows.push(r),
                Line::Checkpoint(c) => checkpoint = Some(c),
            }
        }
        let checkpoint = checkpoint.ok_or("no checkpoint line at the end")?;
        Ok(Self { rows, checkpoint })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::tests::{chain_from, checkpoints};

    #[test]
    fn lines_and_segments_round_trip_byte_exactly() {
        let mut rows = chain_from(&[], 10, |_| "c".into());
        let cps = checkpoints(&rows, 10);
        // A record that is not JSON (a tampered row) is kept as it is.
        rows[3].record = "not json {".into();
        let segment = Segment { rows: rows.clone(), checkpoint: cps[0].clone() };
        let bytes = segment.encode().unwrap();
        assert_eq!(bytes, segment.encode().unwrap(), "the same segment, the same bytes");
        let back = Segment::decode(&bytes).unwrap();
        for (a, b) in back.rows.iter().zip(&rows) {
            assert_eq!((a.seq, &a.record, &a.prev_hash, &a.hash), (b.seq, &b.record, &b.prev_hash, &b.hash));
        }
        assert_eq!(back.checkpoint, cps[0]);
        let line = Line::Row(rows[0].clone()).to_json();
        assert!(line.starts_with(r#"{"seq":1,"prev_hash":"0000"#), "{line}");
        assert!(line.contains(r#""record":{"seq":1,"#), "{line}");
        assert!(Segment::decode(b"junk").is_err());
    }

    #[test]
    fn file_names_sort_by_range() {
        assert_eq!(file_name(1, 1000), "audit-00000000000000000001-00000000000000001000.jsonl.gz");
        assert_eq!(parse_file_name(&file_name(1001, 2000)), Some((1001, 2000)));
        assert_eq!(parse_file_name("audit-1-2.jsonl.gz"), None);
        assert_eq!(parse_file_name(".tmp-audit-00000000000000000001-00000000000000001000.jsonl.gz"), None);
    }
}
