//! `probity probes import`: converts a public bias dataset, in its own file format,
//! into a probity probe-set file of the matching kind (or, for HolisticBias, into a
//! folder of lexicon axis files). Nothing of any dataset ships with probity: the user
//! brings the file, and every output starts with a comment naming the source file,
//! its sha256 and the format, and saying that the data keeps the dataset's licence.
//!
//! | format        | input                              | output                          |
//! |---------------|------------------------------------|---------------------------------|
//! | crows-pairs   | `crows_pairs_anonymized.csv`       | `kind = "paired"`, `[[pair]]`   |
//! | bbq           | `data/<Category>.jsonl`            | `kind = "multiple-choice"`, `[[item]]` |
//! | stereoset     | `dev.json`                         | `kind = "paired"`, `[[pair]]`   |
//! | discrim-eval  | `explicit.jsonl`, `implicit.jsonl` | `kind = "decision"`, `[[filled]]` |
//! | holistic-bias | `descriptors.json`                 | one `<axis>.toml` lexicon file per axis |
//!
//! Malformed input is an error naming the file and the line (CSV: the record's
//! line; JSONL: the line; JSON: the line where it can be found, else the field's
//! path). With [`OnBadRow::Skip`] a bad row is skipped and counted instead.

mod bbq;
mod crows_pairs;
mod discrim_eval;
mod holistic_bias;
mod stereoset;

use super::ProbeError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The dataset formats `probity probes import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// CrowS-Pairs (Nangia et al. 2020): crows_pairs_anonymized.csv.
    CrowsPairs,
    /// BBQ (Parrish et al. 2022): one data/<Category>.jsonl file.
    Bbq,
    /// StereoSet (Nadeem et al. 2021): dev.json.
    Stereoset,
    /// DiscrimEval (Tamkin et al. 2023): explicit.jsonl or implicit.jsonl.
    DiscrimEval,
    /// HolisticBias (Smith et al. 2022): descriptors.json; the output is a folder.
    HolisticBias,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::CrowsPairs => "crows-pairs",
            Format::Bbq => "bbq",
            Format::Stereoset => "stereoset",
            Format::DiscrimEval => "discrim-eval",
            Format::HolisticBias => "holistic-bias",
        }
    }

    /// The dataset's name and citation, for the output's header comment.
    fn citation(self) -> &'static str {
        match self {
            Format::CrowsPairs => "CrowS-Pairs (Nangia et al. 2020, EMNLP)",
            Format::Bbq => "BBQ (Parrish et al. 2022, Findings of ACL)",
            Format::Stereoset => "StereoSet (Nadeem et al. 2021, ACL)",
            Format::DiscrimEval => "DiscrimEval (Tamkin et al. 2023, arXiv:2312.03689)",
            Format::HolisticBias => "HolisticBias (Smith et al. 2022, EMNLP)",
        }
    }
}

/// What to do with a malformed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnBadRow {
    /// Stop with an error naming the file and the line (the default).
    #[default]
    Fail,
    /// Skip the row; it is listed in [`ImportReport::skipped`].
    Skip,
}

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub on_bad_row: OnBadRow,
    /// The probe set's `id` (default: the output file's stem).
    pub id: Option<String>,
    /// HolisticBias only: `(axis, descriptor)` reference groups; an axis not listed
    /// takes its first descriptor.
    pub references: Vec<(String, String)>,
}

/// A row that was skipped, with where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line in the input file, when known.
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// The files written.
    pub written: Vec<PathBuf>,
    /// Pairs, items, filled prompts or lexicon groups written.
    pub entries: usize,
    /// What the entries are called ("pairs", "items", ...).
    pub unit: &'static str,
    pub skipped: Vec<SkippedRow>,
    /// Things left out by design (e.g. StereoSet's unrelated options), stated.
    pub notes: Vec<String>,
}

/// Converts `input` (in `format`) into a probe-set file at `output` (a folder for
/// HolisticBias) and reports what was written.
pub fn import(
    format: Format,
    input: &Path,
    output: &Path,
    options: &ImportOptions,
) -> Result<ImportReport, ProbeError> {
    let bytes = std::fs::read(input).map_err(|source| ProbeError::Io {
        file: input.to_path_buf(),
        source,
    })?;
    let source = Source {
        file: input.to_path_buf(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        format,
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let text = String::from_utf8_lossy(&e.into_bytes()[..offset]).into_owned();
        ProbeError::Invalid {
            file: input.to_path_buf(),
            line: Some(text.matches('\n').count() + 1),
            message: "the file is not valid UTF-8".into(),
        }
    })?;
    let mut rows = Rows {
        file: input.to_path_buf(),
        on_bad_row: options.on_bad_row,
        skipped: Vec::new(),
    };
    let id = || {
        options.id.clone().unwrap_or_else(|| {
            output
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| format.as_str().to_string())
        })
    };
    let mut notes = Vec::new();
    let (written, entries, unit) = match format {
        Format::CrowsPairs => {
            let pairs = crows_pairs::convert(&text, &mut rows)?;
            let n = pairs.len();
            let set = PairedSet::new(id(), &source, n, pairs);
            write_file(output, &source, &set)?;
            (vec![output.to_path_buf()], n, "pairs")
        }
        Format::Stereoset => {
            let (pairs, dropped) = stereoset::convert(&text, &mut rows)?;
            notes.push(format!(
                "{dropped} `unrelated` options dropped (StereoSet's language-modelling control; a pair compares the stereotype with the anti-stereotype only)"
            ));
            let n = pairs.len();
            let set = PairedSet::new(id(), &source, n, pairs);
            write_file(output, &source, &set)?;
            (vec![output.to_path_buf()], n, "pairs")
        }
        Format::Bbq => {
            let items = bbq::convert(&text, &mut rows)?;
            let n = items.len();
            let set = MultipleChoiceSet {
                header: Header::new(id(), "multiple-choice", &source, n, "items"),
                item: items,
            };
            write_file(output, &source, &set)?;
            (vec![output.to_path_buf()], n, "items")
        }
        Format::DiscrimEval => {
            let filled = discrim_eval::convert(&text, &mut rows)?;
            let n = filled.len();
            let set = discrim_eval::DecisionSet::new(
                Header::new(id(), "decision", &source, n, "filled prompts"),
                filled,
            );
            write_file(output, &source, &set)?;
            (vec![output.to_path_buf()], n, "filled prompts")
        }
        Format::HolisticBias => {
            let axes = holistic_bias::convert(&text, &options.references, &mut rows, &mut notes)?;
            std::fs::create_dir_all(output).map_err(|source| ProbeError::Io {
                file: output.to_path_buf(),
                source,
            })?;
            let mut written = Vec::new();
            let mut n = 0;
            for axis in &axes {
                let file = output.join(format!("{}.toml", axis.axis));
                let body = axis.to_toml().map_err(|e| serialise_error(&file, e))?;
                write_text(&file, &format!("{}{body}", source.header_comment()))?;
                n += axis.group_count();
                written.push(file);
            }
            (written, n, "lexicon groups")
        }
    };
    Ok(ImportReport {
        written,
        entries,
        unit,
        skipped: rows.skipped,
        notes,
    })
}

/// The input file, for the header comment of every output file.
pub(crate) struct Source {
    file: PathBuf,
    sha256: String,
    format: Format,
}

impl Source {
    fn header_comment(&self) -> String {
        format!(
            "# Imported by `probity probes import --format {}` from {}\n\
             # sha256 of the source file: {}\n\
             # Source dataset: {}.\n\
             # Licence: the data below is the dataset's and stays under the dataset's own\n\
             # licence (see where you obtained it); probity ships none of it.\n\n",
            self.format.as_str(),
            self.file.display(),
            self.sha256,
            self.format.citation(),
        )
    }
}

/// Collects bad rows: an error under [`OnBadRow::Fail`], a skip otherwise.
pub(crate) struct Rows {
    file: PathBuf,
    on_bad_row: OnBadRow,
    skipped: Vec<SkippedRow>,
}

impl Rows {
    /// Reports a bad row: `Err` under `Fail`, `Ok(())` (row skipped) under `Skip`.
    fn bad(&mut self, line: Option<usize>, message: String) -> Result<(), ProbeError> {
        match self.on_bad_row {
            OnBadRow::Fail => Err(self.error(line, message)),
            OnBadRow::Skip => {
                self.skipped.push(SkippedRow { line, message });
                Ok(())
            }
        }
    }

    /// An error that no skipping can get past (the file as a whole is unusable).
    fn error(&self, line: Option<usize>, message: String) -> ProbeError {
        ProbeError::Invalid {
            file: self.file.clone(),
            line,
            message,
        }
    }
}

/// The common header of every probe-set file. Written-out tables carry their own
/// sentences and free-text axes and use no lexicon, so `axes` is empty.
#[derive(Debug, Serialize)]
pub(crate) struct Header {
    id: String,
    kind: &'static str,
    version: u32,
    description: String,
    lexicon: String,
    axes: Vec<String>,
}

impl Header {
    fn new(id: String, kind: &'static str, source: &Source, n: usize, unit: &str) -> Header {
        Header {
            id,
            kind,
            version: 1,
            description: format!(
                "{n} {unit} imported from {} ({}, sha256 {}).",
                source.format.citation(),
                source
                    .file
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                &source.sha256[..16],
            ),
            lexicon: "lexicon".into(),
            axes: Vec::new(),
        }
    }
}

/// `kind = "paired"` with written-out pairs (docs/probes.md, "Paired likelihood").
#[derive(Debug, Serialize)]
pub(crate) struct PairedSet {
    #[serde(flatten)]
    header: Header,
    pair: Vec<Pair>,
}

impl PairedSet {
    fn new(id: String, source: &Source, n: usize, pair: Vec<Pair>) -> PairedSet {
        PairedSet {
            header: Header::new(id, "paired", source, n, "pairs"),
            pair,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Pair {
    pub id: String,
    pub axis: String,
    pub stereotyped: String,
    pub contrast: String,
    pub direction: String,
}

/// `kind = "multiple-choice"` with written-out items (docs/probes.md, "Multiple choice").
#[derive(Debug, Serialize)]
pub(crate) struct MultipleChoiceSet {
    #[serde(flatten)]
    header: Header,
    item: Vec<bbq::Item>,
}

fn serialise_error(file: &Path, e: toml::ser::Error) -> ProbeError {
    ProbeError::Invalid {
        file: file.to_path_buf(),
        line: None,
        message: format!("cannot write TOML: {e}"),
    }
}

fn write_file<T: Serialize>(output: &Path, source: &Source, set: &T) -> Result<(), ProbeError> {
    let body = toml::to_string(set).map_err(|e| serialise_error(output, e))?;
    write_text(output, &format!("{}{body}", source.header_comment()))
}

fn write_text(file: &Path, text: &str) -> Result<(), ProbeError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| ProbeError::Io {
            file: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(file, text).map_err(|source| ProbeError::Io {
        file: file.to_path_buf(),
        source,
    })
}

/// A lower-case identifier: ASCII letters and digits kept, `+` spelt `plus`, every
/// other run of characters one `_`.
pub(crate) fn slug(text: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c.to_ascii_lowercase());
        } else if c == '+' {
            if !out.is_empty() {
                out.push('_');
            }
            out.push_str("plus");
            gap = false;
        } else {
            gap = true;
        }
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// serde_json's message without its " at line L column C" (the caller knows the
/// line), with the column kept.
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    if e.column() > 0 {
        format!("{message} (column {})", e.column())
    } else {
        message
    }
}

/// Each non-blank line of a JSON-lines file with its 1-based number, parsed as
/// `T`; a line that does not parse is a bad row.
pub(crate) fn json_lines<T: serde::de::DeserializeOwned>(
    text: &str,
    rows: &mut Rows,
) -> Result<Vec<(usize, T)>, ProbeError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let mut de = serde_json::Deserializer::from_str(line);
        match serde_path_to_error::deserialize::<_, T>(&mut de) {
            Ok(row) => out.push((n, row)),
            Err(e) => {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let message = if inner.is_syntax() || inner.is_eof() {
                    format!("bad JSON: {}", json_message(&inner))
                } else if path == "." {
                    json_message(&inner)
                } else {
                    format!("field `{path}`: {}", json_message(&inner))
                };
                rows.bad(Some(n), message)?;
            }
        }
    }
    Ok(out)
}

/// Line of the first occurrence of `needle` in `text` (1-based).
pub(crate) fn line_of_str(text: &str, needle: &str) -> Option<usize> {
    text.find(needle)
        .map(|at| text[..at].matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Race-color"), "race_color");
        assert_eq!(slug("LGBTQ+"), "lgbtq_plus");
        assert_eq!(slug("  hard-of-hearing "), "hard_of_hearing");
        assert_eq!(slug("!!"), "x");
    }
}
