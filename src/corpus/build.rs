//! Building an index: the works are read one batch at a time (about 32 MB of
//! text), each batch's works are tokenised and hashed on every core while the next
//! batch is read, and the results are appended in corpus order, so the file is the
//! same byte for byte whatever the number of threads.

use super::format::{self, IndexWriter, Params, WorkRecord};
use super::text;
use super::{CorpusError, LSH_BANDS, LSH_ROWS, SHINGLE_WORDS};
use crate::provenance::texthash::MinHash;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::io::BufRead;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// n of the verbatim n-gram index, in words.
    pub ngram: usize,
    /// The corpus side indexes the n-gram starting at every `stride`-th word of
    /// each work (offsets 0, s, 2s, …): every span of at least n + s − 1 words
    /// shared with an output is found. 1 indexes every n-gram.
    pub stride: usize,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            ngram: super::DEFAULT_NGRAM,
            stride: super::DEFAULT_STRIDE,
        }
    }
}

impl BuildOptions {
    /// The shortest span length every check is guaranteed to find: n + s − 1.
    pub fn guaranteed_span(&self) -> usize {
        self.ngram + self.stride - 1
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildSummary {
    pub files: usize,
    pub works: usize,
    /// Bytes of text read.
    pub bytes: u64,
    pub tokens: usize,
    pub ngrams: usize,
    pub ngram: usize,
    /// The corpus n-grams indexed start every `stride` words of a work.
    pub stride: usize,
    /// n + stride − 1: every shared span of at least this many words is found.
    pub guaranteed_span: usize,
    pub bands: usize,
    pub rows: usize,
    /// Size of the index file.
    pub index_bytes: u64,
}

/// Batches are cut after this many bytes of text; the first one after
/// `FIRST_BATCH_BYTES`, so the cores start hashing sooner.
const BATCH_BYTES: usize = 32 << 20;
const FIRST_BATCH_BYTES: usize = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Jsonl,
}

/// A corpus file, found by walking the folder.
struct Source {
    rel: String,
    path: PathBuf,
    kind: Kind,
    /// Its size when the folder was walked (to cut batches).
    len: u64,
}

/// One work as read, before parsing.
struct RawWork {
    source: usize,
    /// 1-based line of a `.jsonl` file; 0 for a whole file.
    line: usize,
    /// The line, or the file; empty for a whole file the reader left to the
    /// worker that hashes it.
    bytes: Vec<u8>,
}

/// One work, tokenised and hashed.
struct Processed {
    record: WorkRecord,
    /// 32-bit word hashes, as stored (little-endian bytes).
    tokens: Vec<u8>,
    /// Hashes of the n-grams starting at offsets 0, s, 2s, … of the work.
    ngrams: Vec<u64>,
    signature: Vec<u32>,
}

/// The corpus files under `dir` (recursively, hidden entries skipped), in byte
/// order of their path relative to `dir`.
fn walk(dir: &Path) -> Result<Vec<Source>, CorpusError> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| CorpusError::io(&folder, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| CorpusError::io(&folder, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let meta = std::fs::metadata(&path).map_err(|e| CorpusError::io(&path, e))?;
            if meta.is_dir() {
                stack.push((path, rel));
                continue;
            }
            let ext = name
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .unwrap_or_default();
            let kind = match ext.as_str() {
                "txt" | "md" => Kind::Text,
                "jsonl" => Kind::Jsonl,
                _ => continue,
            };
            out.push(Source {
                rel,
                path,
                kind,
                len: meta.len(),
            });
        }
    }
    out.sort_by(|a, b| a.rel.as_bytes().cmp(b.rel.as_bytes()));
    Ok(out)
}

/// Reads works in order, a batch at a time.
struct Reader<'a> {
    sources: &'a [Source],
    /// Whole files (`.txt`, `.md`) are not read here but by the worker that
    /// hashes them, into a buffer it reuses.
    defer_files: bool,
    next_source: usize,
    /// The open `.jsonl` file and its last line number.
    open: Option<(std::io::BufReader<std::fs::File>, usize)>,
}

impl Reader<'_> {
    fn next_batch(&mut self, limit: usize) -> Result<Vec<RawWork>, CorpusError> {
        let mut batch = Vec::new();
        let mut size = 0usize;
        while size < limit {
            if let Some((reader, line)) = &mut self.open {
                let src = self.next_source - 1;
                let path = &self.sources[src].path;
                let mut buf = Vec::new();
                let n = reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| CorpusError::io(path, e))?;
                if n == 0 {
                    self.open = None;
                    continue;
                }
                *line += 1;
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                size += buf.len();
                batch.push(RawWork {
                    source: src,
                    line: *line,
                    bytes: buf,
                });
                continue;
            }
            let Some(source) = self.sources.get(self.next_source) else {
                break;
            };
            self.next_source += 1;
            let path = &source.path;
            match source.kind {
                Kind::Text if self.defer_files => {
                    size += source.len as usize;
                    batch.push(RawWork {
                        source: self.next_source - 1,
                        line: 0,
                        bytes: Vec::new(),
                    });
                }
                Kind::Text => {
                    let bytes = std::fs::read(path).map_err(|e| CorpusError::io(path, e))?;
                    size += bytes.len();
                    batch.push(RawWork {
                        source: self.next_source - 1,
                        line: 0,
                        bytes,
                    });
                }
                Kind::Jsonl => {
                    let file = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
                    self.open = Some((std::io::BufReader::with_capacity(1 << 20, file), 0));
                }
            }
        }
        Ok(batch)
    }
}

fn bad_work(source: &Source, line: usize, message: String) -> CorpusError {
    CorpusError::BadWork {
        file: source.path.clone(),
        line: (line > 0).then_some(line),
        message,
    }
}

/// The title and text of a work.
/// A whole file's title: its name.
fn file_name(source: &Source) -> String {
    source
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| source.rel.clone())
}

fn parse(source: &Source, raw: RawWork) -> Result<(String, String), CorpusError> {
    let file_name = file_name(source);
    match source.kind {
        Kind::Text => {
            let text = String::from_utf8(raw.bytes).map_err(|e| {
                bad_work(
                    source,
                    0,
                    format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
                )
            })?;
            Ok((file_name, text))
        }
        Kind::Jsonl => {
            let bad = |m: String| bad_work(source, raw.line, m);
            let value: serde_json::Value = serde_json::from_slice(&raw.bytes)
                .map_err(|e| bad(format!("not a JSON object: {e}")))?;
            let serde_json::Value::Object(mut object) = value else {
                return Err(bad("not a JSON object".into()));
            };
            let text = match object.remove("text") {
                Some(serde_json::Value::String(s)) => s,
                Some(_) => return Err(bad("`text` is not a string".into())),
                None => return Err(bad("no `text` field".into())),
            };
            let title = match object.remove("title") {
                Some(serde_json::Value::String(s)) => s,
                None | Some(serde_json::Value::Null) => format!("{file_name}:{}", raw.line),
                Some(_) => return Err(bad("`title` is not a string".into())),
            };
            Ok((title, text))
        }
    }
}

std::thread_local! {
    /// Each worker's buffers, reused from work to work: a whole file's bytes and
    /// a work's 64-bit word hashes.
    static FILE_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    static HASH_BUF: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn process(
    sources: &[Source],
    raw: RawWork,
    n: usize,
    stride: usize,
    minhash: &MinHash,
) -> Result<Processed, CorpusError> {
    let source = &sources[raw.source];
    let line = raw.line;
    if source.kind == Kind::Text && raw.bytes.is_empty() {
        // A whole file left to this worker: read into its buffer.
        return FILE_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            buf.clear();
            let path = &source.path;
            std::fs::File::open(path)
                .and_then(|mut f| std::io::Read::read_to_end(&mut f, &mut buf))
                .map_err(|e| CorpusError::io(path, e))?;
            let text = std::str::from_utf8(&buf).map_err(|e| {
                bad_work(
                    source,
                    0,
                    format!("not UTF-8 text (byte {})", e.valid_up_to()),
                )
            })?;
            Ok(hash_work(
                source,
                file_name(source),
                0,
                text,
                n,
                stride,
                minhash,
            ))
        });
    }
    let (title, text) = parse(source, raw)?;
    Ok(hash_work(source, title, line, &text, n, stride, minhash))
}

/// Tokenises and hashes one work's text.
fn hash_work(
    source: &Source,
    title: String,
    line: usize,
    text: &str,
    n: usize,
    stride: usize,
    minhash: &MinHash,
) -> Processed {
    HASH_BUF.with(|hashes| {
        let mut hashes = hashes.borrow_mut();
        // One tokenising pass: the word hashes give the n-grams and the shingles.
        text::token_hashes_into(text, &mut hashes);
        let mut ngrams = Vec::new();
        text::strided_ngram_hashes_into(&hashes, n, stride, &mut ngrams);
        let signature = text::signature_of_tokens_chunked(minhash, &hashes);
        let mut tokens = Vec::with_capacity(hashes.len() * 4);
        for &h in hashes.iter() {
            tokens.extend_from_slice(&text::token32(h).to_le_bytes());
        }
        Processed {
            record: WorkRecord {
                title,
                source: source.rel.clone(),
                line: (line > 0).then_some(line),
                bytes: text.len() as u64,
                sha256: Sha256::digest(text.as_bytes()).into(),
                token_start: 0,
                token_count: hashes.len() as u64,
            },
            tokens,
            ngrams,
            signature,
        }
    })
}

/// The n-gram keys (hash << 32 | position) are kept in 4096 buckets by the
/// hash's top 12 bits, each in position order as appended; sorting each bucket
/// (a few thousand keys, cache-sized) on its own, the buckets shared among the
/// threads, sorts the whole table.
const BUCKET_BITS: u32 = 12;

fn bucket_of(hash: u64) -> usize {
    (hash >> (64 - BUCKET_BITS)) as usize
}

/// Sorts one bucket (keys sharing the hash's top 12 bits): a stable scatter by
/// the next 8 bits, then each piece (about a dozen keys) sorted.
fn sort_bucket(s: &mut [u128], tmp: &mut Vec<u128>) {
    // The hash is bits 32..96 of a key.
    const SHIFT: u32 = 96 - BUCKET_BITS - 8;
    if s.len() < 256 {
        s.sort_unstable();
        return;
    }
    let sub = |k: u128| (k >> SHIFT) as usize & 0xff;
    let mut counts = [0usize; 256];
    for &k in s.iter() {
        counts[sub(k)] += 1;
    }
    let mut next = [0usize; 256];
    let mut start = 0;
    for (n, &c) in next.iter_mut().zip(&counts) {
        *n = start;
        start += c;
    }
    tmp.clear();
    tmp.resize(s.len(), 0);
    for &k in s.iter() {
        let b = sub(k);
        tmp[next[b]] = k;
        next[b] += 1;
    }
    s.copy_from_slice(tmp);
    let mut at = 0;
    for c in counts {
        s[at..at + c].sort_unstable();
        at += c;
    }
}

/// Builds the index of the works under `dir` and writes it to `out`.
pub fn build_index(
    dir: &Path,
    out: &Path,
    options: &BuildOptions,
) -> Result<BuildSummary, CorpusError> {
    let n = options.ngram;
    if n == 0 || n > 1000 {
        return Err(CorpusError::Invalid {
            message: format!("--ngram {n}: use 1 to 1000 words"),
        });
    }
    let stride = options.stride;
    if stride == 0 || stride > 1000 {
        return Err(CorpusError::Invalid {
            message: format!("--stride {stride}: use 1 to 1000 words"),
        });
    }
    let meta = std::fs::metadata(dir).map_err(|e| CorpusError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(CorpusError::Invalid {
            message: format!("{}: not a folder", dir.display()),
        });
    }
    let sources = walk(dir)?;
    let minhash = MinHash::new(text::NUM_PERM);
    let mut reader = Reader {
        sources: &sources,
        defer_files: true,
        next_source: 0,
        open: None,
    };

    // The token section is written as the works are hashed.
    let mut writer = IndexWriter::create(out)?;
    writer.begin(format::S_TOKENS)?;
    let mut records: Vec<WorkRecord> = Vec::new();
    let mut token_count = 0usize;
    let mut keys: Vec<Vec<u128>> = vec![Vec::new(); 1 << BUCKET_BITS];
    let mut ngram_count = 0usize;
    let mut signatures: Vec<u32> = Vec::new();
    let mut bytes = 0u64;

    let mut batch = reader.next_batch(FIRST_BATCH_BYTES)?;
    while !batch.is_empty() {
        // Hash this batch on every core while the next one is read.
        let (processed, next) = rayon::join(
            || {
                batch
                    .into_par_iter()
                    .map(|raw| process(&sources, raw, n, stride, &minhash))
                    .collect::<Vec<_>>()
            },
            || reader.next_batch(BATCH_BYTES),
        );
        for p in processed {
            let mut p = p?;
            let start = token_count;
            if start + p.record.token_count as usize > u32::MAX as usize {
                return Err(CorpusError::Invalid {
                    message: format!(
                        "{}: more than {} words in all; format version {} stores 32-bit positions",
                        dir.display(),
                        u32::MAX,
                        format::VERSION
                    ),
                });
            }
            p.record.token_start = start as u64;
            bytes += p.record.bytes;
            token_count += p.record.token_count as usize;
            writer.put(p.tokens)?;
            for (i, &h) in p.ngrams.iter().enumerate() {
                keys[bucket_of(h)].push((u128::from(h) << 32) | (start + i * stride) as u128);
            }
            ngram_count += p.ngrams.len();
            signatures.extend_from_slice(&p.signature);
            records.push(p.record);
        }
        batch = next?;
    }
    if records.is_empty() || token_count == 0 {
        return Err(CorpusError::EmptyCorpus {
            dir: dir.to_path_buf(),
        });
    }
    // Each bucket sorted and encoded (its hashes, its positions), the buckets
    // shared among the cores.
    let (hash_bytes, pos_bytes): (Vec<Vec<u8>>, Vec<Vec<u8>>) = keys
        .into_par_iter()
        .map_init(Vec::new, |tmp, mut bucket| {
            sort_bucket(&mut bucket, tmp);
            let mut hashes = Vec::with_capacity(bucket.len() * 8);
            let mut positions = Vec::with_capacity(bucket.len() * 4);
            for k in bucket {
                hashes.extend_from_slice(&((k >> 32) as u64).to_le_bytes());
                positions.extend_from_slice(&(k as u32).to_le_bytes());
            }
            (hashes, positions)
        })
        .unzip();
    let k = text::NUM_PERM;
    let lsh: Vec<Vec<(u64, u32)>> = (0..LSH_BANDS)
        .into_par_iter()
        .map(|band| {
            let mut v: Vec<(u64, u32)> = signatures
                .chunks_exact(k)
                .enumerate()
                .map(|(id, sig)| {
                    let rows = &sig[band * LSH_ROWS..(band + 1) * LSH_ROWS];
                    (text::band_key(band, rows), id as u32)
                })
                .collect();
            v.sort_unstable();
            v
        })
        .collect();
    let params = Params {
        ngram: n,
        stride,
        shingle: SHINGLE_WORDS,
        num_perm: k,
        bands: LSH_BANDS,
        rows: LSH_ROWS,
        works: records.len(),
        tokens: token_count,
        ngrams: ngram_count,
    };
    writer.begin(format::S_NGRAM)?;
    for b in hash_bytes {
        writer.put(b)?;
    }
    writer.begin(format::S_POS)?;
    for b in pos_bytes {
        writer.put(b)?;
    }
    let (works, strings) = format::work_sections(&records);
    writer.begin(format::S_WORKS)?;
    writer.put(works)?;
    writer.begin(format::S_STRINGS)?;
    writer.put(strings)?;
    writer.begin(format::S_MINHASH)?;
    writer.put(format::u32_bytes(&signatures))?;
    writer.begin(format::S_LSH_KEYS)?;
    for band in &lsh {
        writer.put_all(band, |(k, _)| k.to_le_bytes())?;
    }
    writer.begin(format::S_LSH_WORKS)?;
    for band in &lsh {
        writer.put_all(band, |(_, w)| w.to_le_bytes())?;
    }
    writer.finish(&params)?;
    let index_bytes = std::fs::metadata(out)
        .map_err(|e| CorpusError::io(out, e))?
        .len();
    Ok(BuildSummary {
        files: sources.len(),
        works: records.len(),
        bytes,
        tokens: token_count,
        ngrams: ngram_count,
        ngram: n,
        stride,
        guaranteed_span: options.guaranteed_span(),
        bands: LSH_BANDS,
        rows: LSH_ROWS,
        index_bytes,
    })
}

/// The corpus files under `dir` (`*.txt`, `*.md`, `*.jsonl`, recursively, hidden
/// entries skipped) in index order, without reading them; none is
/// [`CorpusError::EmptyCorpus`].
pub fn corpus_files(dir: &Path) -> Result<Vec<PathBuf>, CorpusError> {
    let meta = std::fs::metadata(dir).map_err(|e| CorpusError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(CorpusError::Invalid {
            message: format!("{}: not a folder", dir.display()),
        });
    }
    let files: Vec<PathBuf> = walk(dir)?.into_iter().map(|s| s.path).collect();
    if files.is_empty() {
        return Err(CorpusError::EmptyCorpus {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// One work of a corpus folder with its text, for the memorisation probes.
#[derive(Debug, Clone)]
pub struct WorkText {
    pub title: String,
    /// The file it was read from, relative to the folder.
    pub source: String,
    /// Its path on disk.
    pub path: PathBuf,
    /// The `.jsonl` line it was on (absent for a whole file).
    pub line: Option<usize>,
    /// Hex sha256 of its text (a `.txt`/`.md` file's bytes, a `.jsonl` line's `text`).
    pub sha256: String,
    pub text: String,
}

/// Every work of a corpus folder, read and parsed by the rules of the index (same
/// files, same order, same titles), held in memory: for the small folders a
/// memorisation probe set names, not for corpora to index.
pub fn read_works(dir: &Path) -> Result<Vec<WorkText>, CorpusError> {
    let meta = std::fs::metadata(dir).map_err(|e| CorpusError::io(dir, e))?;
    if !meta.is_dir() {
        return Err(CorpusError::Invalid {
            message: format!("{}: not a folder", dir.display()),
        });
    }
    let sources = walk(dir)?;
    let mut reader = Reader {
        sources: &sources,
        defer_files: false,
        next_source: 0,
        open: None,
    };
    let mut works = Vec::new();
    loop {
        let batch = reader.next_batch(BATCH_BYTES)?;
        if batch.is_empty() {
            break;
        }
        for raw in batch {
            let source = &sources[raw.source];
            let line = raw.line;
            let (title, text) = parse(source, raw)?;
            if text.trim().is_empty() {
                continue;
            }
            works.push(WorkText {
                title,
                source: source.rel.clone(),
                path: source.path.clone(),
                line: (line > 0).then_some(line),
                sha256: hex::encode(Sha256::digest(text.as_bytes())),
                text,
            });
        }
    }
    if works.is_empty() {
        return Err(CorpusError::EmptyCorpus {
            dir: dir.to_path_buf(),
        });
    }
    Ok(works)
}
