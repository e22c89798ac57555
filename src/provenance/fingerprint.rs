//! The fingerprint index: every generated text of a set of audit out dirs, with
//! its normalised content sha256, SimHash and MinHash signature, in one binary
//! file (format in docs/provenance.md), read memory-mapped; and `trace`, which
//! finds where a text came from — exactly, or as near matches through MinHash LSH
//! verified by the signatures' Jaccard estimate.

use super::texthash::{self, MinHash, MINHASH_K, MINHASH_SEED, SHINGLE_WORDS, SIMHASH_WORDS};
use crate::{Classify, FailureKind};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"PRBFP\0\0\0";
/// Version 2 changed the shingle hash and the MinHash hash family
/// (docs/provenance.md); version 1 files are refused with a request to rebuild.
pub const FORMAT_VERSION: u32 = 2;
pub const HEADER_LEN: usize = 160;
pub const RECORD_LEN: usize = 64;
/// LSH bands × rows per band over the first 126 of the 128 MinHash slots:
/// candidate threshold (1/42)^(1/3) ≈ 0.29.
pub const BANDS: usize = 42;
pub const ROWS: usize = 3;
const ENTRY_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum FingerprintError {
    #[error("cannot read {}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        message: String,
    },
    #[error("cannot write {}: {source}", file.display())]
    Write {
        file: PathBuf,
        source: std::io::Error,
    },
}

impl Classify for FingerprintError {
    fn kind(&self) -> FailureKind {
        match self {
            FingerprintError::Write { .. } => FailureKind::Runtime,
            _ => FailureKind::BadInput,
        }
    }
}

fn invalid(file: &Path, line: Option<usize>, message: impl Into<String>) -> FingerprintError {
    FingerprintError::Invalid {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// What `index` read.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexStats {
    /// Out dirs read.
    pub audits: usize,
    /// `responses*.jsonl` files read.
    pub files: usize,
    /// Lines with an `output` text: one record each.
    pub indexed: usize,
    /// Lines with no `output` (decision probes without a recorded text, paired,
    /// multiple-choice and association lines): nothing to fingerprint.
    pub without_output: usize,
}

/// One indexed text, before the strings are interned.
struct Item {
    sha: [u8; 32],
    simhash: u64,
    signature: Vec<u32>,
    audit_id: String,
    model_name: String,
    model_sha256: String,
    probe_id: String,
    file: String,
    line: u32,
}

/// The audit id and model of an out dir: `manifest.json`'s `audit_id` (required),
/// `model.name` and `model.sha256` (empty when the audit has no model).
fn read_manifest(dir: &Path) -> Result<(String, String, String), FingerprintError> {
    let path = dir.join(super::MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| FingerprintError::Io {
        file: path.clone(),
        source,
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| invalid(&path, Some(e.line()), format!("not JSON: {e}")))?;
    let id = value
        .get("audit_id")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            invalid(
                &path,
                None,
                "no `audit_id` string: not the manifest of a finished audit",
            )
        })?;
    let field = |key: &str| -> Result<String, FingerprintError> {
        match value.get("model").and_then(|m| m.get(key)) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(invalid(
                &path,
                None,
                format!("`model.{key}` is not a string"),
            )),
        }
    };
    Ok((id.to_string(), field("name")?, field("sha256")?))
}

/// `responses.jsonl` and every `responses-<set>.jsonl` of `dir`, by name.
fn responses_files(dir: &Path) -> Result<Vec<PathBuf>, FingerprintError> {
    let entries = std::fs::read_dir(dir).map_err(|source| FingerprintError::Io {
        file: dir.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| FingerprintError::Io {
            file: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("responses") && name.ends_with(".jsonl") {
            files.push(dir.join(name));
        }
    }
    files.sort();
    Ok(files)
}

/// A line's probe id and output text, if it has one.
fn parse_line(
    file: &Path,
    n: usize,
    line: &str,
) -> Result<(String, Option<String>), FingerprintError> {
    let value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| invalid(file, Some(n), format!("not JSON: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| invalid(file, Some(n), "not a JSON object"))?;
    let probe = obj
        .get("probe_id")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid(file, Some(n), "no `probe_id` string"))?;
    let output = match obj.get("output") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid(file, Some(n), "`output` is not a string")),
    };
    Ok((probe.to_string(), output))
}

fn fingerprint(text: &str, minhash: &MinHash) -> ([u8; 32], u64, Vec<u32>) {
    let sha = Sha256::digest(texthash::normalise(text).as_bytes()).into();
    // One tokenising pass for both kinds of shingle.
    let words = texthash::word_hashes(text);
    let signature = minhash.signature_of(&texthash::shingle_hashes(&words, SHINGLE_WORDS));
    let simhash = texthash::simhash_of(&texthash::shingle_hashes(&words, SIMHASH_WORDS));
    (sha, simhash, signature)
}

/// The band keys of a signature: XXH3-64 of each band's `ROWS` slots as
/// little-endian u32s.
fn band_keys(signature: &[u32]) -> [u64; BANDS] {
    let mut keys = [0u64; BANDS];
    for (b, key) in keys.iter_mut().enumerate() {
        let mut bytes = [0u8; ROWS * 4];
        for r in 0..ROWS {
            bytes[r * 4..r * 4 + 4].copy_from_slice(&signature[b * ROWS + r].to_le_bytes());
        }
        *key = xxhash_rust::xxh3::xxh3_64(&bytes);
    }
    keys
}

/// Reads the out dirs and builds the index file's bytes.
pub fn build(dirs: &[PathBuf]) -> Result<(Vec<u8>, IndexStats), FingerprintError> {
    let minhash = MinHash::new(MINHASH_K);
    let mut stats = IndexStats::default();
    let mut items = Vec::new();
    for dir in dirs {
        let (audit_id, model_name, model_sha256) = read_manifest(dir)?;
        stats.audits += 1;
        for file in responses_files(dir)? {
            stats.files += 1;
            let text = std::fs::read_to_string(&file).map_err(|source| FingerprintError::Io {
                file: file.clone(),
                source,
            })?;
            let mut texts = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match parse_line(&file, i + 1, line)? {
                    (probe, Some(output)) => texts.push((i + 1, probe, output)),
                    (_, None) => stats.without_output += 1,
                }
            }
            let line_limit = u32::MAX as usize;
            if texts.last().is_some_and(|(n, _, _)| *n > line_limit) {
                return Err(invalid(&file, None, "more than 2^32 − 1 lines"));
            }
            let location = file.display().to_string();
            let fingerprints: Vec<_> = texts
                .par_iter()
                .map(|(_, _, output)| fingerprint(output, &minhash))
                .collect();
            for ((n, probe, _), (sha, simhash, signature)) in texts.into_iter().zip(fingerprints) {
                items.push(Item {
                    sha,
                    simhash,
                    signature,
                    audit_id: audit_id.clone(),
                    model_name: model_name.clone(),
                    model_sha256: model_sha256.clone(),
                    probe_id: probe,
                    file: location.clone(),
                    line: n as u32,
                });
            }
        }
    }
    stats.indexed = items.len();
    items.sort_by(|a, b| {
        (a.sha, &a.audit_id, &a.file, a.line).cmp(&(b.sha, &b.audit_id, &b.file, b.line))
    });
    Ok((encode(&items, &stats), stats))
}

/// Builds the index and writes it atomically to `out`.
pub fn write(dirs: &[PathBuf], out: &Path) -> Result<IndexStats, FingerprintError> {
    let (bytes, stats) = build(dirs)?;
    super::write_atomic(out, &bytes).map_err(|source| FingerprintError::Write {
        file: out.to_path_buf(),
        source,
    })?;
    Ok(stats)
}

fn encode(items: &[Item], stats: &IndexStats) -> Vec<u8> {
    // String table: every distinct string, sorted, so the file depends only on
    // what was indexed.
    let mut strings: BTreeMap<&str, u32> = BTreeMap::new();
    for it in items {
        for s in [
            &it.audit_id,
            &it.model_name,
            &it.model_sha256,
            &it.probe_id,
            &it.file,
        ] {
            strings.insert(s, 0);
        }
    }
    for (i, v) in strings.values_mut().enumerate() {
        *v = i as u32;
    }
    let n = items.len();
    let records_off = HEADER_LEN;
    let signatures_off = records_off + n * RECORD_LEN;
    let bands_off = signatures_off + n * MINHASH_K * 4;
    let string_offsets_off = bands_off + BANDS * n * ENTRY_LEN;
    let string_bytes_off = string_offsets_off + (strings.len() + 1) * 8;
    let blob_len: usize = strings.keys().map(|s| s.len()).sum();
    let file_len = string_bytes_off + blob_len;

    let mut out = Vec::with_capacity(file_len);
    out.resize(HEADER_LEN, 0);
    for it in items {
        out.extend_from_slice(&it.sha);
        out.extend_from_slice(&it.simhash.to_le_bytes());
        for s in [
            &it.audit_id,
            &it.model_name,
            &it.model_sha256,
            &it.probe_id,
            &it.file,
        ] {
            out.extend_from_slice(&strings[s.as_str()].to_le_bytes());
        }
        out.extend_from_slice(&it.line.to_le_bytes());
    }
    for it in items {
        for slot in &it.signature {
            out.extend_from_slice(&slot.to_le_bytes());
        }
    }
    let keys: Vec<[u64; BANDS]> = items.iter().map(|it| band_keys(&it.signature)).collect();
    for b in 0..BANDS {
        let mut band: Vec<(u64, u32)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k[b], i as u32))
            .collect();
        band.sort_unstable();
        for (key, record) in band {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&record.to_le_bytes());
        }
    }
    let mut offset = 0u64;
    for s in strings.keys() {
        out.extend_from_slice(&offset.to_le_bytes());
        offset += s.len() as u64;
    }
    out.extend_from_slice(&offset.to_le_bytes());
    for s in strings.keys() {
        out.extend_from_slice(s.as_bytes());
    }
    debug_assert_eq!(out.len(), file_len);

    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend_from_slice(&MAGIC);
    for v in [
        FORMAT_VERSION,
        HEADER_LEN as u32,
        MINHASH_K as u32,
        BANDS as u32,
        ROWS as u32,
        SHINGLE_WORDS as u32,
        SIMHASH_WORDS as u32,
        0,
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    for v in [
        MINHASH_SEED,
        n as u64,
        strings.len() as u64,
        stats.audits as u64,
        stats.without_output as u64,
        file_len as u64,
        records_off as u64,
        signatures_off as u64,
        bands_off as u64,
        string_offsets_off as u64,
        string_bytes_off as u64,
    ] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&Sha256::digest(&out[HEADER_LEN..]));
    debug_assert_eq!(h.len(), HEADER_LEN);
    out[..HEADER_LEN].copy_from_slice(&h);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Where a traced text was found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Match {
    pub audit_id: String,
    pub model_name: String,
    pub model_sha256: String,
    pub probe_id: String,
    /// The responses file, as its out dir was given to `fingerprint index`.
    pub file: String,
    /// 1-based line in `file`.
    pub line: u32,
    /// `exact` (same normalised sha256) or `near`.
    pub kind: &'static str,
    /// Share of equal MinHash slots (1 for an exact match).
    pub jaccard_estimate: f64,
    /// Hamming distance of the SimHashes.
    pub simhash_distance: u32,
}

/// What `trace` found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Trace {
    pub query_sha256: String,
    pub min_jaccard: f64,
    /// Records whose LSH bands met the query's (near search only).
    pub candidates: usize,
    /// Exact matches first; else near matches by decreasing estimate.
    pub matches: Vec<Match>,
}

/// A fingerprint index file, memory-mapped and checked.
pub struct FingerprintIndex {
    map: memmap2::Mmap,
    path: PathBuf,
    records: usize,
    strings: usize,
    signatures_off: usize,
    bands_off: usize,
    string_offsets_off: usize,
    string_bytes_off: usize,
    pub audits: u64,
    pub without_output: u64,
}

impl FingerprintIndex {
    /// Maps the file and checks its header, body hash and every offset, so that
    /// lookups cannot read out of bounds.
    pub fn open(path: &Path) -> Result<FingerprintIndex, FingerprintError> {
        let file = std::fs::File::open(path).map_err(|source| FingerprintError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        // SAFETY: the map is read-only; a file changed while it is mapped could
        // change what is read, never memory safety of the bounds checked below
        // (every access goes through a checked slice).
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| FingerprintError::Io {
            file: path.to_path_buf(),
            source,
        })?;
        let bad = |m: String| invalid(path, None, m);
        let b: &[u8] = &map;
        let head = b.len().min(MAGIC.len());
        if b.is_empty() || b[..head] != MAGIC[..head] {
            return Err(bad(
                "not a probity fingerprint index (no PRBFP magic bytes)".into(),
            ));
        }
        if b.len() < HEADER_LEN {
            return Err(bad(format!(
                "truncated: {} bytes, the header alone is {HEADER_LEN}",
                b.len()
            )));
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "unsupported format version {version} (this probity reads version {FORMAT_VERSION}); rebuild the index with `probity fingerprint index`"
            )));
        }
        let params = [
            (u32_at(b, 12) as usize, HEADER_LEN, "header length"),
            (u32_at(b, 16) as usize, MINHASH_K, "MinHash permutations"),
            (u32_at(b, 20) as usize, BANDS, "LSH bands"),
            (u32_at(b, 24) as usize, ROWS, "LSH rows"),
            (u32_at(b, 28) as usize, SHINGLE_WORDS, "shingle words"),
            (
                u32_at(b, 32) as usize,
                SIMHASH_WORDS,
                "SimHash shingle words",
            ),
        ];
        for (got, want, what) in params {
            if got != want {
                return Err(bad(format!(
                    "{what} {got}, format version {FORMAT_VERSION} has {want}"
                )));
            }
        }
        if u64_at(b, 40) != MINHASH_SEED {
            return Err(bad(format!(
                "MinHash seed {}, format version {FORMAT_VERSION} has {MINHASH_SEED}",
                u64_at(b, 40)
            )));
        }
        let to_usize = |v: u64, what: &str| {
            usize::try_from(v).map_err(|_| bad(format!("{what} {v} is out of range")))
        };
        let records = to_usize(u64_at(b, 48), "record count")?;
        let strings = to_usize(u64_at(b, 56), "string count")?;
        let file_len = u64_at(b, 80);
        if file_len > b.len() as u64 {
            return Err(bad(format!(
                "truncated: {} bytes, its header says {file_len}",
                b.len()
            )));
        }
        if file_len < b.len() as u64 {
            return Err(bad(format!(
                "corrupt: {} bytes, its header says {file_len}",
                b.len()
            )));
        }
        // The layout the counts imply (checked arithmetic: a forged count
        // cannot wrap around).
        let layout = (|| {
            let signatures_off = HEADER_LEN.checked_add(records.checked_mul(RECORD_LEN)?)?;
            let bands_off = signatures_off.checked_add(records.checked_mul(MINHASH_K * 4)?)?;
            let string_offsets_off =
                bands_off.checked_add(records.checked_mul(BANDS * ENTRY_LEN)?)?;
            let string_bytes_off =
                string_offsets_off.checked_add(strings.checked_add(1)?.checked_mul(8)?)?;
            Some([
                HEADER_LEN,
                signatures_off,
                bands_off,
                string_offsets_off,
                string_bytes_off,
            ])
        })()
        .ok_or_else(|| bad("corrupt: counts out of range".into()))?;
        for (i, want) in layout.iter().enumerate() {
            let got = u64_at(b, 88 + 8 * i);
            if got != *want as u64 {
                return Err(bad(format!(
                    "corrupt: section {i} at offset {got}, its counts put it at {want}"
                )));
            }
        }
        let string_bytes_off = layout[4];
        if string_bytes_off > b.len() {
            return Err(bad("corrupt: sections run past the end of the file".into()));
        }
        let body_hash: [u8; 32] = Sha256::digest(&b[HEADER_LEN..]).into();
        if body_hash[..] != b[128..160] {
            return Err(bad(
                "corrupt: the body's sha256 does not match its header (the file was changed or damaged)".into(),
            ));
        }
        let index = FingerprintIndex {
            path: path.to_path_buf(),
            records,
            strings,
            signatures_off: layout[1],
            bands_off: layout[2],
            string_offsets_off: layout[3],
            string_bytes_off,
            audits: u64_at(b, 64),
            without_output: u64_at(b, 72),
            map,
        };
        index.check_tables()?;
        Ok(index)
    }

    /// Every string offset in order and within the file, every string UTF-8,
    /// every string and record reference in range.
    fn check_tables(&self) -> Result<(), FingerprintError> {
        let b: &[u8] = &self.map;
        let blob = b.len() - self.string_bytes_off;
        let mut prev = 0u64;
        for i in 0..=self.strings {
            let off = u64_at(b, self.string_offsets_off + 8 * i);
            if off < prev || off > blob as u64 || (i == 0 && off != 0) {
                return Err(invalid(
                    &self.path,
                    None,
                    format!("corrupt: string {i} offset {off}"),
                ));
            }
            if i > 0 {
                let s =
                    &b[self.string_bytes_off + prev as usize..self.string_bytes_off + off as usize];
                if std::str::from_utf8(s).is_err() {
                    return Err(invalid(
                        &self.path,
                        None,
                        format!("corrupt: string {} is not UTF-8", i - 1),
                    ));
                }
            }
            prev = off;
        }
        if prev != blob as u64 {
            return Err(invalid(&self.path, None, "corrupt: string table length"));
        }
        for r in 0..self.records {
            let at = HEADER_LEN + r * RECORD_LEN + 40;
            for f in 0..5 {
                if u32_at(b, at + 4 * f) as usize >= self.strings {
                    return Err(invalid(
                        &self.path,
                        None,
                        format!("corrupt: record {r} names string out of range"),
                    ));
                }
            }
        }
        for e in 0..BANDS * self.records {
            if u32_at(b, self.bands_off + e * ENTRY_LEN + 8) as usize >= self.records {
                return Err(invalid(
                    &self.path,
                    None,
                    format!("corrupt: band entry {e} names record out of range"),
                ));
            }
        }
        Ok(())
    }

    /// Number of indexed texts.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    fn string(&self, i: u32) -> &str {
        let b: &[u8] = &self.map;
        let i = i as usize;
        let start = u64_at(b, self.string_offsets_off + 8 * i) as usize;
        let end = u64_at(b, self.string_offsets_off + 8 * (i + 1)) as usize;
        // Checked to be UTF-8 in `open`.
        std::str::from_utf8(&b[self.string_bytes_off + start..self.string_bytes_off + end])
            .unwrap_or("")
    }

    fn sha(&self, r: usize) -> &[u8] {
        &self.map[HEADER_LEN + r * RECORD_LEN..HEADER_LEN + r * RECORD_LEN + 32]
    }

    fn signature(&self, r: usize) -> Vec<u32> {
        let at = self.signatures_off + r * MINHASH_K * 4;
        (0..MINHASH_K)
            .map(|i| u32_at(&self.map, at + 4 * i))
            .collect()
    }

    fn record(&self, r: usize, kind: &'static str, jaccard: f64, query_simhash: u64) -> Match {
        let b: &[u8] = &self.map;
        let at = HEADER_LEN + r * RECORD_LEN;
        let s = |f: usize| self.string(u32_at(b, at + 40 + 4 * f)).to_string();
        Match {
            audit_id: s(0),
            model_name: s(1),
            model_sha256: s(2),
            probe_id: s(3),
            file: s(4),
            line: u32_at(b, at + 60),
            kind,
            jaccard_estimate: jaccard,
            simhash_distance: texthash::hamming(u64_at(b, at + 32), query_simhash),
        }
    }

    /// Records `[lo, hi)` of band `band` whose key is `key` (binary search).
    fn band_lookup(&self, band: usize, key: u64) -> impl Iterator<Item = usize> + '_ {
        let base = self.bands_off + band * self.records * ENTRY_LEN;
        let key_at = |i: usize| u64_at(&self.map, base + i * ENTRY_LEN);
        let lo = partition_point(self.records, |i| key_at(i) < key);
        let hi = partition_point(self.records, |i| key_at(i) <= key);
        (lo..hi).map(move |i| u32_at(&self.map, base + i * ENTRY_LEN + 8) as usize)
    }

    /// Finds `text`: every record with the same normalised sha256; when there is
    /// none, the records whose estimated Jaccard similarity to it is at least
    /// `min_jaccard` among the LSH candidates, most similar first.
    pub fn trace(&self, text: &str, min_jaccard: f64) -> Trace {
        let minhash = MinHash::new(MINHASH_K);
        let (sha, simhash, signature) = fingerprint(text, &minhash);
        let lo = partition_point(self.records, |r| self.sha(r) < &sha[..]);
        let hi = partition_point(self.records, |r| self.sha(r) <= &sha[..]);
        let mut trace = Trace {
            query_sha256: hex::encode(sha),
            min_jaccard,
            candidates: 0,
            matches: (lo..hi)
                .map(|r| self.record(r, "exact", 1.0, simhash))
                .collect(),
        };
        if !trace.matches.is_empty() || signature.iter().all(|&s| s == u32::MAX) {
            return trace;
        }
        let keys = band_keys(&signature);
        let candidates: BTreeSet<usize> = (0..BANDS)
            .flat_map(|b| self.band_lookup(b, keys[b]))
            .collect();
        trace.candidates = candidates.len();
        let mut near: Vec<Match> = candidates
            .into_iter()
            .filter_map(|r| {
                let j = texthash::jaccard_estimate(&signature, &self.signature(r));
                (j >= min_jaccard).then(|| self.record(r, "near", j, simhash))
            })
            .collect();
        near.sort_by(|a, b| {
            b.jaccard_estimate
                .total_cmp(&a.jaccard_estimate)
                .then(a.simhash_distance.cmp(&b.simhash_distance))
                .then_with(|| (&a.audit_id, &a.file, a.line).cmp(&(&b.audit_id, &b.file, b.line)))
        });
        trace.matches = near;
        trace
    }
}

/// The first index in `0..n` for which `pred` is false (`pred` true then false).
fn partition_point(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit_dir(root: &Path, name: &str, id: &str, outputs: &[Option<&str>]) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let manifest = serde_json::json!({"audit_id": id, "model": {"name": "m", "sha256": "ab"}});
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
        let lines: Vec<String> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let mut v = serde_json::json!({"probe_id": format!("p{i}"), "prompt": "q"});
                if let Some(o) = o {
                    v["output"] = serde_json::json!(o);
                }
                v.to_string()
            })
            .collect();
        std::fs::write(dir.join("responses-gen.jsonl"), lines.join("\n") + "\n").unwrap();
        dir
    }

    #[test]
    fn round_trip_is_deterministic_and_found() {
        let tmp = tempfile::tempdir().unwrap();
        let a = audit_dir(
            tmp.path(),
            "a",
            "id-a",
            &[Some("one two three four five six"), None, Some("x")],
        );
        let b = audit_dir(
            tmp.path(),
            "b",
            "id-b",
            &[Some("x"), Some("seven eight nine ten eleven")],
        );
        let (bytes, stats) = build(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(stats.indexed, 4);
        assert_eq!(stats.without_output, 1);
        assert_eq!(
            build(&[b, a]).unwrap().0,
            bytes,
            "independent of the dirs' order"
        );
        let path = tmp.path().join("idx");
        std::fs::write(&path, &bytes).unwrap();
        let index = FingerprintIndex::open(&path).unwrap();
        assert_eq!(index.len(), 4);
        let t = index.trace("  X ", 0.5);
        // Case is kept for the exact hash, folded for the shingles: a near match.
        assert!(t
            .matches
            .iter()
            .all(|m| m.kind == "near" && m.jaccard_estimate == 1.0));
        assert_eq!(t.matches.len(), 2);
        let t = index.trace("x", 0.5);
        let found: Vec<(&str, u32)> = t
            .matches
            .iter()
            .map(|m| (m.audit_id.as_str(), m.line))
            .collect();
        assert_eq!(found, [("id-a", 3), ("id-b", 1)]);
        assert_eq!(
            index.trace("one  two three four five six", 0.5).matches[0].probe_id,
            "p0"
        );
    }

    #[test]
    fn an_old_format_version_asks_for_a_rebuild() {
        let tmp = tempfile::tempdir().unwrap();
        let a = audit_dir(
            tmp.path(),
            "a",
            "id-a",
            &[Some("one two three four five six")],
        );
        let (mut bytes, _) = build(&[a]).unwrap();
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let path = tmp.path().join("idx");
        std::fs::write(&path, &bytes).unwrap();
        let err = FingerprintIndex::open(&path).err().unwrap().to_string();
        assert!(
            err.contains("unsupported format version 1 (this probity reads version 2)")
                && err.contains("rebuild the index")
                && err.contains("idx"),
            "{err}"
        );
    }

    #[test]
    fn partition_point_matches_std() {
        let v = [1, 3, 3, 3, 7, 9];
        for x in 0..11 {
            assert_eq!(
                partition_point(v.len(), |i| v[i] < x),
                v.partition_point(|&y| y < x)
            );
        }
        assert_eq!(partition_point(0, |_| true), 0);
    }
}
