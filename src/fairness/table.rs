//! Streaming a CSV of decisions into confusion counts per group.
//!
//! The file is read record by record with the csv crate (byte records, so a
//! non-UTF-8 file is reported at the first field we need rather than as an
//! opaque csv error), and each valid row adds one to the confusion cell of its
//! finest group key: the tuple of values of all group columns. Every coarser
//! grouping (each single column, each intersection of two or more columns) is
//! a sum of these cells, so memory is bounded by the number of distinct keys
//! ([`MAX_KEYS`]), not by the number of rows. The one exception is a score
//! column: its values are kept (8 bytes a row, bucketed by key and label)
//! because the median of all scores is needed for LL144's scoring rate and,
//! without a threshold, for the decision itself.
//!
//! Group values are trimmed and otherwise kept verbatim. A value that
//! [`is_unknown_value`] ("", "NA", "N/A", "NaN", "null", "unknown", "missing",
//! "?", any case) is still its own category, counted and reported, never
//! dropped; it is only marked unknown, which excludes it from being the
//! default reference group and from LL144 impact ratios.
//!
//! Decision and label cells accept `0`/`1` (also `0.0`/`1.0` and
//! `true`/`false`, as pandas and spreadsheets write them); a score must be a
//! finite number. A row that breaks this, or is too short to have a needed
//! column, is a bad row: with [`OnBadRow::Skip`] it is counted (the first
//! [`MAX_BAD_ROW_MESSAGES`] are kept), with [`OnBadRow::Fail`] it stops the
//! read with an error naming file, line and column. Encoding errors always
//! stop the read: they mean the whole file is in another encoding.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::metrics::Cells;
use super::FairnessError;

/// How many bad-row messages a report keeps.
pub const MAX_BAD_ROW_MESSAGES: usize = 20;
/// Most distinct finest group keys (tuples); a column with more distinct
/// values than this is almost certainly an identifier, not a demographic.
pub const MAX_KEYS: usize = 10_000;
/// Most group columns: every subset of two or more is an intersection, so
/// the number of groupings is 2^k − 1.
pub const MAX_GROUP_COLUMNS: usize = 6;

/// What to do with a bad row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBadRow {
    Skip,
    Fail,
}

/// Where the 0/1 decision comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// A 0/1 column (1 = selected, the favourable outcome).
    Prediction { column: String },
    /// A numeric score. With a threshold, selected means `score >= threshold`;
    /// without, selected means strictly above the median of all valid scores
    /// (LL144's "scoring rate" definition, applied to every metric).
    Score {
        column: String,
        threshold: Option<f64>,
    },
}

impl Decision {
    pub fn column(&self) -> &str {
        match self {
            Decision::Prediction { column } | Decision::Score { column, .. } => column,
        }
    }
}

/// What to read from the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TableOptions {
    pub group_columns: Vec<String>,
    pub decision: Decision,
    /// True outcome column (0/1); enables the error-rate metrics.
    pub label: Option<String>,
    pub on_bad_row: OnBadRow,
}

/// One rejected row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadRow {
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column `{}`: {}",
            self.line, self.column, self.message
        )
    }
}

/// The aggregated file: confusion counts per finest group key.
#[derive(Debug, Clone)]
pub struct GroupTable {
    pub file: PathBuf,
    pub columns: Vec<String>,
    pub decision: Decision,
    pub label_column: Option<String>,
    pub has_label: bool,
    /// Finest keys (one value per group column), sorted.
    pub keys: Vec<Vec<String>>,
    /// Decision × label counts per key (see [`Cells`] for the no-label case).
    pub cells: Vec<Cells>,
    /// Per key, how many rows count as selected for LL144: the decision
    /// itself for a prediction column, scoring above the median for scores.
    pub ll144_selected: Vec<u64>,
    pub median_score: Option<f64>,
    pub rows_read: u64,
    pub rows_used: u64,
    pub rows_skipped: u64,
    pub bad_rows: Vec<BadRow>,
}

/// True for the values treated as an unknown category (after trimming,
/// any case): "", "NA", "N/A", "NaN", "null", "unknown", "missing", "?".
/// "none" is deliberately not on the list: it is a real answer to questions
/// such as disability status.
pub fn is_unknown_value(value: &str) -> bool {
    const UNKNOWN: [&str; 8] = ["", "na", "n/a", "nan", "null", "unknown", "missing", "?"];
    let v = value.trim();
    UNKNOWN.iter().any(|u| v.eq_ignore_ascii_case(u))
}

/// Reads and aggregates the CSV at `path`.
pub fn read_table(path: &Path, options: &TableOptions) -> Result<GroupTable, FairnessError> {
    let file = std::fs::File::open(path).map_err(|source| FairnessError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    read_table_from(std::io::BufReader::new(file), path, options)
}

/// Column positions resolved from the header.
struct Columns {
    groups: Vec<usize>,
    decision: usize,
    label: Option<usize>,
}

/// Per finest key while reading.
#[derive(Default)]
struct KeyAgg {
    cells: Cells,
    /// Scores by label (index 0 also holds every score when there is no
    /// label column), kept only when a median is needed.
    scores: [Vec<f64>; 2],
}

/// Reads and aggregates CSV text from `reader`; `file` is only used in
/// messages.
pub fn read_table_from<R: Read>(
    reader: R,
    file: &Path,
    options: &TableOptions,
) -> Result<GroupTable, FairnessError> {
    validate_options(options)?;
    let file_buf = file.to_path_buf();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header = rdr
        .byte_headers()
        .map_err(|e| csv_error(&file_buf, e))?
        .clone();
    if header.is_empty() {
        return Err(FairnessError::Empty { file: file_buf });
    }
    let mut names = Vec::with_capacity(header.len());
    for (i, raw) in header.iter().enumerate() {
        let name = std::str::from_utf8(raw).map_err(|_| FairnessError::Encoding {
            file: file_buf.clone(),
            line: 1,
            column: format!("#{}", i + 1),
        })?;
        names.push(name.trim().to_string());
    }
    let find = |column: &str| -> Result<usize, FairnessError> {
        let mut hits = names.iter().enumerate().filter(|(_, n)| *n == column);
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Ok(i),
            (Some(_), Some(_)) => Err(FairnessError::Invalid {
                file: file_buf.clone(),
                message: format!("line 1: the header names column `{column}` more than once"),
            }),
            (None, _) => Err(FairnessError::MissingColumn {
                file: file_buf.clone(),
                column: column.to_string(),
                columns: names.clone(),
            }),
        }
    };
    let cols = Columns {
        groups: options
            .group_columns
            .iter()
            .map(|c| find(c))
            .collect::<Result<_, _>>()?,
        decision: find(options.decision.column())?,
        label: options.label.as_deref().map(find).transpose()?,
    };

    let (keep_scores, threshold) = match &options.decision {
        Decision::Prediction { .. } => (false, None),
        Decision::Score { threshold, .. } => (true, *threshold),
    };
    let n_groups = cols.groups.len();
    let mut interned: Vec<HashMap<String, u32>> = vec![HashMap::new(); n_groups];
    let mut values: Vec<Vec<String>> = vec![Vec::new(); n_groups];
    let mut key_index: HashMap<Vec<u32>, usize> = HashMap::new();
    let mut aggs: Vec<KeyAgg> = Vec::new();
    let mut key_buf: Vec<u32> = Vec::with_capacity(n_groups);
    let mut bad_rows = Vec::new();
    let (mut rows_read, mut rows_used, mut rows_skipped) = (0u64, 0u64, 0u64);
    let mut record = csv::ByteRecord::new();

    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(&file_buf, e)),
        }
        rows_read += 1;
        let line = record.position().map_or(0, |p| p.line());
        let row = match parse_row(&record, &cols, keep_scores) {
            Ok(row) => row,
            Err(RowIssue::Encoding(col)) => {
                return Err(FairnessError::Encoding {
                    file: file_buf,
                    line,
                    column: names[col].clone(),
                })
            }
            Err(RowIssue::Bad(col, message)) => {
                if options.on_bad_row == OnBadRow::Fail {
                    return Err(FairnessError::BadRow {
                        file: file_buf,
                        line,
                        column: names[col].clone(),
                        message,
                    });
                }
                rows_skipped += 1;
                if bad_rows.len() < MAX_BAD_ROW_MESSAGES {
                    bad_rows.push(BadRow {
                        line,
                        column: names[col].clone(),
                        message,
                    });
                }
                continue;
            }
        };
        rows_used += 1;
        key_buf.clear();
        for (g, value) in row.groups[..n_groups].iter().enumerate() {
            let id = match interned[g].get(*value) {
                Some(&id) => id,
                None => {
                    let id = values[g].len() as u32;
                    interned[g].insert((*value).to_string(), id);
                    values[g].push((*value).to_string());
                    id
                }
            };
            key_buf.push(id);
        }
        let slot = match key_index.get(key_buf.as_slice()) {
            Some(&slot) => slot,
            None => {
                if aggs.len() >= MAX_KEYS {
                    let widest = (0..n_groups).max_by_key(|&g| values[g].len()).unwrap_or(0);
                    return Err(FairnessError::Invalid {
                        file: file_buf,
                        message: format!(
                            "line {line}: more than {MAX_KEYS} distinct groups; column `{}` has {} distinct values — is it an identifier rather than a demographic?",
                            options.group_columns[widest],
                            values[widest].len()
                        ),
                    });
                }
                key_index.insert(key_buf.clone(), aggs.len());
                aggs.push(KeyAgg::default());
                aggs.len() - 1
            }
        };
        let agg = &mut aggs[slot];
        let label = row.label.unwrap_or(false);
        if let Some(score) = row.score {
            agg.scores[usize::from(label)].push(score);
            if let Some(t) = threshold {
                agg.cells.add(score >= t, label);
            }
        } else {
            agg.cells.add(row.predicted, label);
        }
    }

    if rows_used == 0 {
        return Err(FairnessError::NoRows {
            file: file_buf,
            skipped: rows_skipped,
        });
    }

    // Median of all valid scores, numpy.median's definition (mean of the two
    // middle values for an even count), on a temporary copy so the buckets
    // keep their order-free grouping.
    let median_score = keep_scores.then(|| {
        let mut all: Vec<f64> = aggs
            .iter()
            .flat_map(|a| a.scores.iter().flatten().copied())
            .collect();
        median_in_place(&mut all)
    });

    let mut keyed: Vec<(Vec<String>, Cells, u64)> = key_index
        .into_iter()
        .map(|(ids, slot)| {
            let key: Vec<String> = ids
                .iter()
                .enumerate()
                .map(|(g, &id)| values[g][id as usize].clone())
                .collect();
            let agg = &mut aggs[slot];
            let mut cells = agg.cells;
            let mut selected = cells.selected();
            if let Some(m) = median_score {
                let above0 = agg.scores[0].iter().filter(|&&s| s > m).count() as u64;
                let above1 = agg.scores[1].iter().filter(|&&s| s > m).count() as u64;
                selected = above0 + above1;
                if threshold.is_none() {
                    cells = Cells {
                        tp: above1,
                        fn_: agg.scores[1].len() as u64 - above1,
                        fp: above0,
                        tn: agg.scores[0].len() as u64 - above0,
                    };
                }
                agg.scores = [Vec::new(), Vec::new()];
            }
            (key, cells, selected)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut table = GroupTable {
        file: file_buf,
        columns: options.group_columns.clone(),
        decision: options.decision.clone(),
        label_column: options.label.clone(),
        has_label: options.label.is_some(),
        keys: Vec::with_capacity(keyed.len()),
        cells: Vec::with_capacity(keyed.len()),
        ll144_selected: Vec::with_capacity(keyed.len()),
        median_score,
        rows_read,
        rows_used,
        rows_skipped,
        bad_rows,
    };
    for (key, cells, selected) in keyed {
        table.keys.push(key);
        table.cells.push(cells);
        table.ll144_selected.push(selected);
    }
    Ok(table)
}

fn validate_options(options: &TableOptions) -> Result<(), FairnessError> {
    let k = options.group_columns.len();
    if k == 0 {
        return Err(FairnessError::Options(
            "at least one group column is needed".into(),
        ));
    }
    if k > MAX_GROUP_COLUMNS {
        return Err(FairnessError::Options(format!(
            "at most {MAX_GROUP_COLUMNS} group columns (got {k}): every intersection is audited"
        )));
    }
    let mut seen: Vec<&str> = options.group_columns.iter().map(String::as_str).collect();
    seen.push(options.decision.column());
    seen.extend(options.label.as_deref());
    for (i, a) in seen.iter().enumerate() {
        if seen[..i].contains(a) {
            return Err(FairnessError::Options(format!(
                "column `{a}` is named twice"
            )));
        }
    }
    if let Decision::Score {
        threshold: Some(t), ..
    } = &options.decision
    {
        if !t.is_finite() {
            return Err(FairnessError::Options(format!(
                "threshold {t} is not a finite number"
            )));
        }
    }
    Ok(())
}

fn csv_error(file: &Path, e: csv::Error) -> FairnessError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(source) => FairnessError::Io {
            file: file.to_path_buf(),
            source,
        },
        other => FairnessError::Csv {
            file: file.to_path_buf(),
            line,
            message: format!("{:?}", other),
        },
    }
}

/// One valid row, borrowing the record's group values.
struct Row<'r> {
    groups: [&'r str; MAX_GROUP_COLUMNS],
    predicted: bool,
    label: Option<bool>,
    score: Option<f64>,
}

enum RowIssue {
    /// Field index, message.
    Bad(usize, String),
    Encoding(usize),
}

fn field(record: &csv::ByteRecord, col: usize) -> Result<&str, RowIssue> {
    let raw = record.get(col).ok_or_else(|| {
        RowIssue::Bad(
            col,
            format!("missing: the row has only {} fields", record.len()),
        )
    })?;
    std::str::from_utf8(raw)
        .map(str::trim)
        .map_err(|_| RowIssue::Encoding(col))
}

fn parse_row<'r>(
    record: &'r csv::ByteRecord,
    cols: &Columns,
    score_column: bool,
) -> Result<Row<'r>, RowIssue> {
    let mut groups = [""; MAX_GROUP_COLUMNS];
    for (slot, &col) in groups.iter_mut().zip(&cols.groups) {
        *slot = field(record, col)?;
    }
    let raw = field(record, cols.decision)?;
    let (predicted, score) = if score_column {
        match raw.parse::<f64>() {
            Ok(s) if s.is_finite() => (false, Some(s)),
            _ => {
                return Err(RowIssue::Bad(
                    cols.decision,
                    format!("score {raw:?} is not a finite number"),
                ))
            }
        }
    } else {
        let p = parse_binary(raw).ok_or_else(|| {
            RowIssue::Bad(cols.decision, format!("prediction {raw:?} is not 0 or 1"))
        })?;
        (p, None)
    };
    let label = match cols.label {
        Some(col) => {
            let raw = field(record, col)?;
            Some(
                parse_binary(raw)
                    .ok_or_else(|| RowIssue::Bad(col, format!("label {raw:?} is not 0 or 1")))?,
            )
        }
        None => None,
    };
    Ok(Row {
        groups,
        predicted,
        label,
        score,
    })
}

fn parse_binary(raw: &str) -> Option<bool> {
    match raw {
        "1" | "1.0" => Some(true),
        "0" | "0.0" => Some(false),
        _ if raw.eq_ignore_ascii_case("true") => Some(true),
        _ if raw.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// numpy.median of a non-empty slice (reorders it).
fn median_in_place(values: &mut [f64]) -> f64 {
    let n = values.len();
    let mid = n / 2;
    let (lower, upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if n % 2 == 1 {
        upper
    } else {
        let below = lower.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        below + (upper - below) / 2.0
    }
}

/// One way of grouping rows: a subset of the group columns, its keys and,
/// for each finest key, which of its groups it falls in.
#[derive(Debug, Clone)]
pub struct Grouping {
    /// Indices into [`GroupTable::columns`].
    pub columns: Vec<usize>,
    /// Sorted keys, one value per column of this grouping.
    pub keys: Vec<Vec<String>>,
    /// Whether any value of the key is unknown.
    pub unknown: Vec<bool>,
    /// `member[i]` = group of finest key `i`.
    pub member: Vec<usize>,
}

impl Grouping {
    /// Cells of each group: sums of its finest keys' cells.
    pub fn aggregate(&self, finest: &[Cells]) -> Vec<Cells> {
        let mut out = vec![Cells::default(); self.keys.len()];
        for (&g, c) in self.member.iter().zip(finest) {
            out[g] += *c;
        }
        out
    }

    /// Like [`Self::aggregate`] for plain counts.
    pub fn aggregate_counts(&self, finest: &[u64]) -> Vec<u64> {
        let mut out = vec![0; self.keys.len()];
        for (&g, &c) in self.member.iter().zip(finest) {
            out[g] += c;
        }
        out
    }
}

impl GroupTable {
    /// Builds a table directly from counts (finest keys need not be sorted
    /// or unique: duplicates are summed). Used by tests and by callers that
    /// already hold aggregated data.
    pub fn from_counts(
        columns: Vec<String>,
        decision: Decision,
        label_column: Option<String>,
        rows: Vec<(Vec<String>, Cells, u64)>,
    ) -> Result<Self, FairnessError> {
        let mut merged: std::collections::BTreeMap<Vec<String>, (Cells, u64)> = Default::default();
        for (key, cells, sel) in rows {
            if key.len() != columns.len() {
                return Err(FairnessError::Options(format!(
                    "key {key:?} has {} values for {} columns",
                    key.len(),
                    columns.len()
                )));
            }
            let e = merged.entry(key).or_default();
            e.0 += cells;
            e.1 += sel;
        }
        let used: u64 = merged.values().map(|(c, _)| c.n()).sum();
        if used == 0 {
            return Err(FairnessError::NoRows {
                file: PathBuf::from("<counts>"),
                skipped: 0,
            });
        }
        let (keys, rest): (Vec<_>, Vec<_>) = merged.into_iter().unzip();
        let (cells, ll144_selected) = rest.into_iter().unzip();
        Ok(Self {
            file: PathBuf::from("<counts>"),
            columns,
            decision,
            has_label: label_column.is_some(),
            label_column,
            keys,
            cells,
            ll144_selected,
            median_score: None,
            rows_read: used,
            rows_used: used,
            rows_skipped: 0,
            bad_rows: Vec::new(),
        })
    }

    /// All rows as one group.
    pub fn overall(&self) -> Cells {
        self.cells.iter().fold(Cells::default(), |a, &c| a + c)
    }

    /// Every single column, then every intersection of two or more columns
    /// (by size, then column order). With one column that is one grouping.
    pub fn groupings(&self) -> Vec<Grouping> {
        let k = self.columns.len();
        let mut subsets: Vec<Vec<usize>> = (1u32..(1 << k))
            .map(|mask| (0..k).filter(|&c| mask & (1 << c) != 0).collect())
            .collect();
        subsets.sort_by(|a: &Vec<usize>, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        subsets
            .into_iter()
            .map(|cols| self.grouping(cols))
            .collect()
    }

    fn grouping(&self, columns: Vec<usize>) -> Grouping {
        let projected: Vec<Vec<String>> = self
            .keys
            .iter()
            .map(|key| columns.iter().map(|&c| key[c].clone()).collect())
            .collect();
        let mut keys = projected.clone();
        keys.sort();
        keys.dedup();
        let member = projected
            .iter()
            .map(|p| keys.binary_search(p).unwrap_or(0))
            .collect();
        let unknown = keys
            .iter()
            .map(|k| k.iter().any(|v| is_unknown_value(v)))
            .collect();
        Grouping {
            columns,
            keys,
            unknown,
            member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(decision: Decision, label: Option<&str>, on_bad_row: OnBadRow) -> TableOptions {
        TableOptions {
            group_columns: vec!["sex".into(), "race".into()],
            decision,
            label: label.map(String::from),
            on_bad_row,
        }
    }

    fn pred() -> Decision {
        Decision::Prediction {
            column: "pred".into(),
        }
    }

    fn read(text: &[u8], options: &TableOptions) -> Result<GroupTable, FairnessError> {
        read_table_from(text, Path::new("in.csv"), options)
    }

    #[test]
    fn aggregates_counts_per_key_and_grouping() {
        let csv = b"sex,race,pred,y\nF,A,1,1\nF,A,0,1\nM,B,1,0\nM,,0,0\n F ,A,1,0\n";
        let t = read(csv, &opts(pred(), Some("y"), OnBadRow::Fail)).unwrap();
        assert_eq!(t.rows_used, 5);
        assert_eq!(
            t.keys,
            vec![vec!["F", "A"], vec!["M", ""], vec!["M", "B"]]
                .into_iter()
                .map(|k| k.into_iter().map(String::from).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        );
        assert_eq!(
            t.cells[0],
            Cells {
                tp: 1,
                fp: 1,
                fn_: 1,
                tn: 0
            }
        );
        let gs = t.groupings();
        assert_eq!(
            gs.iter().map(|g| g.columns.clone()).collect::<Vec<_>>(),
            vec![vec![0], vec![1], vec![0, 1]]
        );
        let race = &gs[1];
        assert_eq!(
            race.keys,
            vec![vec![String::new()], vec!["A".into()], vec!["B".into()]]
        );
        assert_eq!(race.unknown, vec![true, false, false]);
        let cells = race.aggregate(&t.cells);
        assert_eq!(
            cells.iter().map(|c| c.n()).collect::<Vec<_>>(),
            vec![1, 3, 1]
        );
    }

    #[test]
    fn unknown_values() {
        for v in ["", " NA ", "n/a", "NaN", "NULL", "Unknown", "missing", "?"] {
            assert!(is_unknown_value(v), "{v}");
        }
        for v in ["none", "F", "0", "N"] {
            assert!(!is_unknown_value(v), "{v}");
        }
    }

    #[test]
    fn bad_rows_skip_and_fail() {
        let csv = b"sex,race,pred,y\nF,A,1,1\nF,A,2,1\nM,B\nM,B,1,yes\nM,B,true,0.0\n";
        let t = read(csv, &opts(pred(), Some("y"), OnBadRow::Skip)).unwrap();
        assert_eq!((t.rows_read, t.rows_used, t.rows_skipped), (5, 2, 3));
        assert_eq!(t.bad_rows[0].line, 3);
        assert_eq!(t.bad_rows[0].column, "pred");
        assert_eq!(t.bad_rows[1].line, 4);
        assert_eq!(t.bad_rows[1].column, "pred");
        assert!(t.bad_rows[1].message.contains("missing"));
        assert_eq!(t.bad_rows[2].column, "y");
        let err = read(csv, &opts(pred(), Some("y"), OnBadRow::Fail)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("in.csv, line 3, column `pred`"), "{msg}");
        assert!(msg.contains("\"2\" is not 0 or 1"), "{msg}");
    }

    #[test]
    fn file_level_errors() {
        let o = opts(pred(), None, OnBadRow::Skip);
        let e = read(b"", &o).unwrap_err();
        assert!(matches!(e, FairnessError::Empty { .. }), "{e}");
        assert!(e.to_string().contains("in.csv: the file is empty"));
        let e = read(b"\n\n", &o).unwrap_err();
        assert!(matches!(e, FairnessError::Empty { .. }), "{e}");
        // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of a name.
        let t = read(b"\xef\xbb\xbfsex,race,pred\nF,A,1\n", &o).unwrap();
        assert_eq!(t.rows_used, 1);
        let e = read(b"sex,race,pred\n", &o).unwrap_err();
        assert!(matches!(e, FairnessError::NoRows { skipped: 0, .. }), "{e}");
        let e = read(b"sex,race,pred\nF,A,x\n", &o).unwrap_err();
        assert!(matches!(e, FairnessError::NoRows { skipped: 1, .. }), "{e}");
        let e = read(b"sex,ethnicity,pred\nF,A,1\n", &o).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("no column `race`"), "{msg}");
        assert!(msg.contains("sex, ethnicity, pred"), "{msg}");
        let e = read(b"sex,race,pred\nF,\xe9,1\n", &o).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, FairnessError::Encoding { line: 2, .. }),
            "{msg}"
        );
        assert!(msg.contains("column `race`"), "{msg}");
        let e = read(b"sex,race,pred,pred\nF,A,1,1\n", &o).unwrap_err();
        assert!(e.to_string().contains("more than once"));
        let e = read(b"sex,race,pred\nF,\"A,1\n", &o).unwrap_err();
        assert!(
            matches!(e, FairnessError::NoRows { .. } | FairnessError::Csv { .. }),
            "{e}"
        );
        let mut bad = o.clone();
        bad.group_columns.clear();
        assert!(matches!(
            read(b"a\n1\n", &bad),
            Err(FairnessError::Options(_))
        ));
        let missing = read_table(Path::new("/nonexistent/x.csv"), &o).unwrap_err();
        assert!(missing.to_string().contains("/nonexistent/x.csv"));
    }

    #[test]
    fn scores_threshold_and_median() {
        let csv = b"sex,race,s,y\nF,A,0.1,0\nF,A,0.9,1\nM,A,0.5,1\nM,A,0.7,0\nM,A,nan,0\n";
        let t = read(
            csv,
            &opts(
                Decision::Score {
                    column: "s".into(),
                    threshold: None,
                },
                Some("y"),
                OnBadRow::Skip,
            ),
        )
        .unwrap();
        assert_eq!(t.rows_skipped, 1);
        assert_eq!(t.median_score, Some(0.6));
        // F: 0.9 (y=1) above; M: 0.7 (y=0) above.
        assert_eq!(
            t.cells[0],
            Cells {
                tp: 1,
                fp: 0,
                fn_: 0,
                tn: 1
            }
        );
        assert_eq!(
            t.cells[1],
            Cells {
                tp: 0,
                fp: 1,
                fn_: 1,
                tn: 0
            }
        );
        assert_eq!(t.ll144_selected, vec![1, 1]);
        let t = read(
            csv,
            &opts(
                Decision::Score {
                    column: "s".into(),
                    threshold: Some(0.5),
                },
                Some("y"),
                OnBadRow::Skip,
            ),
        )
        .unwrap();
        // Threshold decides the cells (>= 0.5); LL144 still uses the median.
        assert_eq!(
            t.cells[1],
            Cells {
                tp: 1,
                fp: 1,
                fn_: 0,
                tn: 0
            }
        );
        assert_eq!(t.ll144_selected, vec![1, 1]);
        let mut odd = vec![3.0, 1.0, 2.0];
        assert_eq!(median_in_place(&mut odd), 2.0);
    }

    /// Reading speed for the notes (run with `--ignored --nocapture`).
    #[test]
    #[ignore]
    fn timing_read_one_million_rows() {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut w = std::io::BufWriter::new(&mut f);
        writeln!(w, "sex,race,s,y").unwrap();
        for i in 0..1_000_000u64 {
            let sex = ["F", "M", "X"][(i % 3) as usize];
            let race = ["A", "B", "C", ""][(i % 7 % 4) as usize];
            writeln!(
                w,
                "{sex},{race},{},{}",
                (i * 7919 % 10007) as f64 / 10007.0,
                i % 2
            )
            .unwrap();
        }
        drop(w);
        let o = opts(
            Decision::Score {
                column: "s".into(),
                threshold: None,
            },
            Some("y"),
            OnBadRow::Fail,
        );
        let start = std::time::Instant::now();
        let t = read_table(f.path(), &o).unwrap();
        eprintln!("read {} rows in {:.2?}", t.rows_used, start.elapsed());
    }

    #[test]
    fn too_many_keys_is_an_error() {
        let mut csv = String::from("sex,race,pred\n");
        for i in 0..=MAX_KEYS {
            csv.push_str(&format!("F,{i},1\n"));
        }
        let e = read(csv.as_bytes(), &opts(pred(), None, OnBadRow::Fail)).unwrap_err();
        assert!(e.to_string().contains("column `race`"), "{e}");
    }
}
