//! The index file, format version 3. All integers little-endian.
//!
//! Version 3 stores 32-bit word hashes (the low half of each word's XXH3-64) and
//! indexes the n-gram starting at every `stride`-th word of each work (the stride
//! is in the header); the token section comes first, so it is written while the
//! works are read. Version 2 (64-bit word hashes, every n-gram)
//! and version 1 (an older shingle hash and MinHash family) are refused with a
//! request to rebuild the index.
//!
//! ```text
//! offset size  header (256 bytes)
//!   0     8    magic "PRBCORP\0"
//!   8     4    format version (3)
//!  12     4    header length (256)
//!  16     4    n of the n-gram index (words)
//!  20     4    words per shingle (5)
//!  24     4    MinHash values per signature (128)
//!  28     4    LSH bands
//!  32     4    LSH rows per band
//!  36     4    stride s: the n-grams of a work start at its words 0, s, 2s, …
//!  40     8    works W
//!  48     8    tokens T (words of every work)
//!  56     8    n-grams G (Σ over works of ⌊(L − n)/s⌋ + 1 for L ≥ n words)
//!  64   128    8 sections × (offset u64, length u64), offsets from the file start
//! 192    32    sha256 of the body (every byte after the header)
//! 224    32    reserved (0)
//! body, sections in this order, each starting on a multiple of 8:
//!   0 tokens    T × u32 word hashes (low 32 bits of XXH3-64), the works one
//!               after another
//!   1 ngram     G × u64 n-gram hashes, ascending (ties by position)
//!   2 position  G × u32: the token (index into section 0) each n-gram starts at
//!   3 works     W × 96-byte records: token start u64, token count u64, title
//!               (offset u64, length u64 in the strings section), source (offset
//!               u64, length u64), jsonl line u64 (0 for a whole file), bytes u64,
//!               sha256 [32]
//!   4 strings   UTF-8 titles and source paths
//!   5 minhash   W × 128 × u32 signatures
//!   6 lsh keys  bands × W × u64: band b's keys, ascending (ties by work)
//!   7 lsh works bands × W × u32: the work of each key
//! ```

use super::CorpusError;
use crate::provenance::texthash::MinHash;
use memmap2::Mmap;
use sha2::{Digest, Sha256};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: [u8; 8] = *b"PRBCORP\0";
pub const VERSION: u32 = 3;
pub const HEADER_LEN: usize = 256;
pub const WORK_RECORD: usize = 96;
const SECTIONS: usize = 8;
pub(crate) const S_TOKENS: usize = 0;
pub(crate) const S_NGRAM: usize = 1;
pub(crate) const S_POS: usize = 2;
pub(crate) const S_WORKS: usize = 3;
pub(crate) const S_STRINGS: usize = 4;
pub(crate) const S_MINHASH: usize = 5;
pub(crate) const S_LSH_KEYS: usize = 6;
pub(crate) const S_LSH_WORKS: usize = 7;

/// The counts and parameters in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub ngram: usize,
    /// The corpus n-grams start every `stride` words of each work.
    pub stride: usize,
    pub shingle: usize,
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    pub works: usize,
    pub tokens: usize,
    pub ngrams: usize,
}

/// One work, as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WorkInfo {
    pub id: usize,
    pub title: String,
    pub sha256: String,
    /// The file it was read from, relative to the corpus folder.
    pub source: String,
    /// The line of a `.jsonl` file it was on (absent for a whole file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Size of its text in bytes.
    pub bytes: u64,
    /// Words.
    pub tokens: usize,
}

/// A work's record before writing.
pub(crate) struct WorkRecord {
    pub title: String,
    pub source: String,
    pub line: Option<usize>,
    pub bytes: u64,
    pub sha256: [u8; 32],
    pub token_start: u64,
    pub token_count: u64,
}

fn pad8(len: usize) -> usize {
    len.div_ceil(8) * 8
}

/// `values` as little-endian bytes.
pub(crate) fn u32_bytes(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Writes an index file section by section, in file order, as the build produces
/// them: the body goes to a thread that writes it to a temporary file in the
/// destination folder and hashes it (sha256), so the token section is written
/// while later works are still being hashed. [`IndexWriter::finish`] writes the
/// header and renames the file into place; dropping the writer before that
/// removes the temporary file.
pub(crate) struct IndexWriter {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    tx: Option<std::sync::mpsc::Sender<Vec<u8>>>,
    worker: Option<std::thread::JoinHandle<std::io::Result<[u8; 32]>>>,
    written: usize,
    sections: [(u64, u64); SECTIONS],
    /// The section being written, and the ones before it are done.
    current: Option<usize>,
}

impl IndexWriter {
    pub(crate) fn create(path: &Path) -> Result<IndexWriter, CorpusError> {
        let io = |e| CorpusError::io(path, e);
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(io)?;
        }
        let mut file = tmp.as_file().try_clone().map_err(io)?;
        file.seek(SeekFrom::Start(HEADER_LEN as u64)).map_err(io)?;
        // Unbounded, so the build never waits for the disk or the hash: what is
        // queued is at most the token section (4 bytes a word), which a build
        // without streaming would hold in memory anyway.
        let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
        let worker = std::thread::spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in rx {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
            }
            Ok(hasher.finalize().into())
        });
        Ok(IndexWriter {
            path: path.to_path_buf(),
            tmp,
            tx: Some(tx),
            worker: Some(worker),
            written: HEADER_LEN,
            sections: [(0, 0); SECTIONS],
            current: None,
        })
    }

    fn io(&self, e: std::io::Error) -> CorpusError {
        CorpusError::io(&self.path, e)
    }

    /// The worker's error after it stopped (a failed write).
    fn stopped(&mut self) -> CorpusError {
        self.tx = None;
        let e = match self.worker.take().map(|w| w.join()) {
            Some(Ok(Err(e))) => e,
            Some(Err(_)) => std::io::Error::other("the index writing thread panicked"),
            _ => std::io::Error::other("the index writing thread stopped"),
        };
        self.io(e)
    }

    /// Appends bytes to the current section.
    pub(crate) fn put(&mut self, bytes: Vec<u8>) -> Result<(), CorpusError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.written += bytes.len();
        let sent = self.tx.as_ref().map(|tx| tx.send(bytes));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(self.stopped()),
        }
    }

    /// Appends values in pieces of 64 KB (no whole-section copy).
    pub(crate) fn put_all<T: Copy, const N: usize>(
        &mut self,
        values: &[T],
        enc: impl Fn(T) -> [u8; N],
    ) -> Result<(), CorpusError> {
        const VALUES: usize = 1 << 13;
        for chunk in values.chunks(VALUES) {
            let mut buf = Vec::with_capacity(N * chunk.len());
            for &v in chunk {
                buf.extend_from_slice(&enc(v));
            }
            self.put(buf)?;
        }
        Ok(())
    }

    /// Ends the current section and starts section `i` (the next one) on a
    /// multiple of 8 bytes.
    pub(crate) fn begin(&mut self, i: usize) -> Result<(), CorpusError> {
        assert_eq!(self.current.map_or(0, |c| c + 1), i, "sections in order");
        self.end_current();
        let pad = pad8(self.written) - self.written;
        self.put(vec![0u8; pad])?;
        self.sections[i].0 = self.written as u64;
        self.current = Some(i);
        Ok(())
    }

    fn end_current(&mut self) {
        if let Some(c) = self.current {
            self.sections[c].1 = self.written as u64 - self.sections[c].0;
        }
    }

    /// Ends the last section, writes the header (with the body's sha256) and
    /// renames the file to the destination.
    pub(crate) fn finish(mut self, p: &Params) -> Result<(), CorpusError> {
        assert_eq!(self.current, Some(SECTIONS - 1), "every section written");
        self.end_current();
        let pad = pad8(self.written) - self.written;
        self.put(vec![0u8; pad])?;
        self.tx = None;
        let digest = match self.worker.take().map(|w| w.join()) {
            Some(Ok(Ok(d))) => d,
            Some(Ok(Err(e))) => return Err(self.io(e)),
            _ => return Err(self.io(std::io::Error::other("the index writing thread panicked"))),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&MAGIC);
        for v in [
            VERSION,
            HEADER_LEN as u32,
            p.ngram as u32,
            p.shingle as u32,
            p.num_perm as u32,
            p.bands as u32,
            p.rows as u32,
            p.stride as u32,
        ] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        for v in [p.works as u64, p.tokens as u64, p.ngrams as u64] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        for (offset, len) in self.sections {
            header.extend_from_slice(&offset.to_le_bytes());
            header.extend_from_slice(&len.to_le_bytes());
        }
        header.extend_from_slice(&digest);
        header.resize(HEADER_LEN, 0);
        let file = self.tmp.as_file_mut();
        // Not synced to disk: an index is derived from its works and can be
        // rebuilt, and a file torn by a crash fails the body sha256 on opening.
        let r = file
            .seek(SeekFrom::Start(0))
            .and_then(|_| file.write_all(&header));
        r.map_err(|e| CorpusError::io(&self.path, e))?;
        let path = self.path.clone();
        self.tmp
            .persist(&path)
            .map_err(|e| CorpusError::io(&path, e.error))?;
        Ok(())
    }
}

/// The works and strings sections of `works`.
pub(crate) fn work_sections(works: &[WorkRecord]) -> (Vec<u8>, Vec<u8>) {
    let mut strings = Vec::new();
    let mut records = Vec::with_capacity(works.len() * WORK_RECORD);
    for w in works {
        let title = (strings.len() as u64, w.title.len() as u64);
        strings.extend_from_slice(w.title.as_bytes());
        let source = (strings.len() as u64, w.source.len() as u64);
        strings.extend_from_slice(w.source.as_bytes());
        for v in [
            w.token_start,
            w.token_count,
            title.0,
            title.1,
            source.0,
            source.1,
            w.line.unwrap_or(0) as u64,
            w.bytes,
        ] {
            records.extend_from_slice(&v.to_le_bytes());
        }
        records.extend_from_slice(&w.sha256);
    }
    (records, strings)
}

/// An open, memory-mapped index.
pub struct CorpusIndex {
    path: PathBuf,
    map: Mmap,
    params: Params,
    sections: [(usize, usize); SECTIONS],
    body_sha256: String,
    minhash: MinHash,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl CorpusIndex {
    /// Opens and memory-maps an index, checks its header and the bounds of every
    /// section, then (when `verify` is set) the sha256 of its body.
    pub fn open_with(path: &Path, verify: bool) -> Result<CorpusIndex, CorpusError> {
        let bad = |message: String| CorpusError::BadIndex {
            file: path.to_path_buf(),
            message,
        };
        let file = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        // SAFETY: the map is read-only and private to this process; an index is not
        // expected to change while it is read (as with any file a command reads).
        let map = unsafe { Mmap::map(&file) }.map_err(|e| CorpusError::io(path, e))?;
        let b = &map[..];
        if b.len() < 8 || b[..8] != MAGIC {
            return Err(bad("no index magic number at the start".into()));
        }
        if b.len() < HEADER_LEN {
            return Err(bad(format!(
                "truncated: {} bytes, shorter than the {HEADER_LEN}-byte header",
                b.len()
            )));
        }
        let version = u32_at(b, 8);
        if version != VERSION {
            return Err(bad(format!(
                "unsupported format version {version} (this probity reads version {VERSION}); \
                 rebuild the index with `probity corpus index`"
            )));
        }
        if u32_at(b, 12) as usize != HEADER_LEN {
            return Err(bad(format!("header length {}", u32_at(b, 12))));
        }
        let params = Params {
            ngram: u32_at(b, 16) as usize,
            stride: u32_at(b, 36) as usize,
            shingle: u32_at(b, 20) as usize,
            num_perm: u32_at(b, 24) as usize,
            bands: u32_at(b, 28) as usize,
            rows: u32_at(b, 32) as usize,
            works: u64_at(b, 40) as usize,
            tokens: u64_at(b, 48) as usize,
            ngrams: u64_at(b, 56) as usize,
        };
        if params.ngram == 0
            || params.stride == 0
            || params.shingle != super::SHINGLE_WORDS
            || params.num_perm != super::text::NUM_PERM
            || params.bands == 0
            || params.rows == 0
            || params.bands.saturating_mul(params.rows) > params.num_perm
            || params.tokens > u32::MAX as usize
        {
            return Err(bad(format!("unsupported parameters {params:?}")));
        }
        let mut sections = [(0usize, 0usize); SECTIONS];
        let mut end = HEADER_LEN;
        let w = params.works;
        let bw = params.bands.checked_mul(w);
        let expected: [Option<usize>; SECTIONS] = [
            params.tokens.checked_mul(4),
            params.ngrams.checked_mul(8),
            params.ngrams.checked_mul(4),
            w.checked_mul(WORK_RECORD),
            None,
            w.checked_mul(params.num_perm * 4),
            bw.and_then(|x| x.checked_mul(8)),
            bw.and_then(|x| x.checked_mul(4)),
        ];
        for (i, section) in sections.iter_mut().enumerate() {
            let offset = u64_at(b, 64 + 16 * i) as usize;
            let len = u64_at(b, 72 + 16 * i) as usize;
            if !offset.is_multiple_of(8) || offset < end || offset.checked_add(len).is_none() {
                return Err(bad(format!("section {i} has a bad offset")));
            }
            if let Some(exp) = expected[i] {
                if exp != len {
                    return Err(bad(format!(
                        "section {i} is {len} bytes; its counts say {exp}"
                    )));
                }
            }
            end = offset + len;
            if end > b.len() {
                return Err(bad(format!(
                    "truncated: {} bytes, section {i} ends at byte {end}",
                    b.len()
                )));
            }
            *section = (offset, len);
        }
        let body_sha256 = hex::encode(&b[192..224]);
        if verify {
            let actual = hex::encode(Sha256::digest(&b[HEADER_LEN..]));
            if actual != body_sha256 {
                return Err(bad(format!(
                    "corrupt: body sha256 is {actual}, the header says {body_sha256}"
                )));
            }
        }
        let index = CorpusIndex {
            path: path.to_path_buf(),
            map,
            params,
            sections,
            body_sha256,
            minhash: MinHash::new(params.num_perm),
        };
        index.check_works().map_err(bad)?;
        Ok(index)
    }

    /// [`CorpusIndex::open_with`] with the body checked.
    pub fn open(path: &Path) -> Result<CorpusIndex, CorpusError> {
        CorpusIndex::open_with(path, true)
    }

    /// Every work's tokens lie within the token section, in order; every string is
    /// in bounds and UTF-8; the works' lengths give the header's n-gram count.
    fn check_works(&self) -> Result<(), String> {
        let mut next = 0u64;
        let (n, stride) = (self.params.ngram as u64, self.params.stride as u64);
        let mut ngrams = 0u64;
        let strings = self.section(S_STRINGS);
        for id in 0..self.params.works {
            let r = self.record(id);
            let start = u64_at(r, 0);
            let count = u64_at(r, 8);
            if start != next {
                return Err(format!("work {id} starts at token {start}, not {next}"));
            }
            next = start
                .checked_add(count)
                .filter(|&e| e <= self.params.tokens as u64)
                .ok_or_else(|| format!("work {id} runs past the token section"))?;
            if count >= n {
                ngrams += (count - n) / stride + 1;
            }
            for at in [16, 32] {
                let (o, l) = (u64_at(r, at) as usize, u64_at(r, at + 8) as usize);
                let s = o
                    .checked_add(l)
                    .and_then(|e| strings.get(o..e))
                    .ok_or_else(|| format!("work {id}: a string out of bounds"))?;
                std::str::from_utf8(s).map_err(|_| format!("work {id}: a string not UTF-8"))?;
            }
        }
        if next != self.params.tokens as u64 {
            return Err(format!(
                "works cover {next} tokens; the header says {}",
                self.params.tokens
            ));
        }
        if ngrams != self.params.ngrams as u64 {
            return Err(format!(
                "the works hold {ngrams} n-grams at stride {stride}; the header says {}",
                self.params.ngrams
            ));
        }
        Ok(())
    }

    fn section(&self, i: usize) -> &[u8] {
        let (o, l) = self.sections[i];
        &self.map[o..o + l]
    }

    fn record(&self, id: usize) -> &[u8] {
        &self.section(S_WORKS)[id * WORK_RECORD..(id + 1) * WORK_RECORD]
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn params(&self) -> Params {
        self.params
    }

    /// sha256 of the body, from the header (checked on open unless told not to).
    pub fn body_sha256(&self) -> &str {
        &self.body_sha256
    }

    pub(crate) fn minhash(&self) -> &MinHash {
        &self.minhash
    }

    pub fn num_works(&self) -> usize {
        self.params.works
    }

    fn string(&self, at: usize, r: &[u8]) -> String {
        let (o, l) = (u64_at(r, at) as usize, u64_at(r, at + 8) as usize);
        // Bounds and UTF-8 were checked on open.
        String::from_utf8_lossy(&self.section(S_STRINGS)[o..o + l]).into_owned()
    }

    pub fn work(&self, id: usize) -> WorkInfo {
        let r = self.record(id);
        let line = u64_at(r, 48) as usize;
        WorkInfo {
            id,
            title: self.string(16, r),
            sha256: hex::encode(&r[64..96]),
            source: self.string(32, r),
            line: (line > 0).then_some(line),
            bytes: u64_at(r, 56),
            tokens: u64_at(r, 8) as usize,
        }
    }

    /// Token range [start, end) of a work.
    pub(crate) fn work_tokens(&self, id: usize) -> (usize, usize) {
        let r = self.record(id);
        let start = u64_at(r, 0) as usize;
        (start, start + u64_at(r, 8) as usize)
    }

    /// The work whose tokens contain token `pos`.
    pub(crate) fn work_of(&self, pos: usize) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.params.works);
        // Last work whose start ≤ pos.
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.work_tokens(mid).0 <= pos {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let id = lo.checked_sub(1)?;
        (pos < self.work_tokens(id).1).then_some(id)
    }

    /// The stored 32-bit hash of token `pos` ([`super::text::token32`]).
    pub(crate) fn token(&self, pos: usize) -> Option<u32> {
        let s = self.section(S_TOKENS);
        (pos < self.params.tokens).then(|| u32_at(s, pos * 4))
    }

    fn ngram_hash(&self, i: usize) -> u64 {
        u64_at(self.section(S_NGRAM), i * 8)
    }

    pub(crate) fn ngram_pos(&self, i: usize) -> usize {
        u32_at(self.section(S_POS), i * 4) as usize
    }

    /// The range of n-gram table rows with hash `h`.
    pub(crate) fn ngram_range(&self, h: u64) -> std::ops::Range<usize> {
        let g = self.params.ngrams;
        let lower = partition(0, g, |i| self.ngram_hash(i) < h);
        let upper = partition(lower, g, |i| self.ngram_hash(i) <= h);
        lower..upper
    }

    pub(crate) fn signature(&self, id: usize) -> Vec<u32> {
        let k = self.params.num_perm;
        let s = &self.section(S_MINHASH)[id * k * 4..(id + 1) * k * 4];
        s.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect()
    }

    /// The works whose band `band` key is `key`.
    pub(crate) fn lsh_works(&self, band: usize, key: u64) -> Vec<usize> {
        let w = self.params.works;
        let keys = &self.section(S_LSH_KEYS)[band * w * 8..(band + 1) * w * 8];
        let works = &self.section(S_LSH_WORKS)[band * w * 4..(band + 1) * w * 4];
        let k = |i: usize| u64_at(keys, i * 8);
        let lower = partition(0, w, |i| k(i) < key);
        let upper = partition(lower, w, |i| k(i) <= key);
        (lower..upper)
            .map(|i| u32_at(works, i * 4) as usize)
            .filter(|&id| id < w)
            .collect()
    }
}

/// The first index in [lo, hi) where `below` is false (it must be true then false).
fn partition(mut lo: usize, mut hi: usize, below: impl Fn(usize) -> bool) -> usize {
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}
