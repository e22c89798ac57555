//! The report stage: renders `results.json` and `manifest.json` into documents.
//! It reads nothing else, so a report can be re-rendered and diffed without the
//! model. Templates live in `templates/` and are compiled into the binary; tera
//! escapes every value in `.html` templates, so model outputs, probe text and spec
//! strings are data, never markup.

mod cyclonedx;
pub mod escape;
mod junit;
mod markdown;
mod view;

use crate::provenance::{Manifest, ProvenanceError};
use crate::results::{Results, RESULTS_FILE};
use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

pub const REPORT_FILE: &str = "report.html";
const HTML_TEMPLATE: &str = include_str!("../../templates/report.html");

/// The formats `probity report` renders, all from `results.json` and
/// `manifest.json` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The self-contained HTML transparency report.
    Html,
    /// A Markdown summary for a pull-request comment or CI job summary.
    Md,
    /// JUnit XML: a test case per finding and threshold gate.
    Junit,
    /// A Hugging Face model card (Markdown with YAML front matter).
    ModelCard,
    /// A CycloneDX 1.6 ML-BOM (JSON).
    Cyclonedx,
}

impl Format {
    /// The file the format is written to in an out dir.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Html => REPORT_FILE,
            Format::Md => "report.md",
            Format::Junit => "junit.xml",
            Format::ModelCard => "model-card.md",
            Format::Cyclonedx => "bom.cdx.json",
        }
    }
}

#[cfg(test)]
mod derived_names {
    use super::Format;

    /// verify() exempts exactly the files `probity report` writes by default.
    #[test]
    fn verify_knows_every_report_file() {
        let names: Vec<&str> = [
            Format::Html,
            Format::Md,
            Format::Junit,
            Format::ModelCard,
            Format::Cyclonedx,
        ]
        .into_iter()
        .map(Format::file_name)
        .collect();
        assert_eq!(names, crate::provenance::DERIVED_REPORTS);
    }
}

/// Renders one format.
pub fn render(
    format: Format,
    results: &Results,
    manifest: &Manifest,
) -> Result<String, ReportError> {
    let unsuitable = |message: String| ReportError::Unsuitable { format, message };
    match format {
        Format::Html => render_html(results, manifest),
        Format::Md => Ok(markdown::summary(results, manifest)),
        Format::Junit => Ok(junit::render(results, manifest)),
        Format::ModelCard => markdown::model_card(results, manifest).map_err(unsuitable),
        Format::Cyclonedx => cyclonedx::render(results, manifest).map_err(unsuitable),
    }
}

/// Reads an out dir's `results.json` and `manifest.json`.
pub fn read_dir(dir: &Path) -> Result<(Results, Manifest), ReportError> {
    let results = Results::read(&dir.join(RESULTS_FILE)).map_err(ReportError::Results)?;
    let manifest = Manifest::read(dir)?;
    Ok((results, manifest))
}

/// Renders `format` from an out dir and writes it to `to` (default: the format's
/// file in the dir; `-` for standard output). Returns where it went.
pub fn render_dir(dir: &Path, format: Format, to: Option<&Path>) -> Result<String, ReportError> {
    let (results, manifest) = read_dir(dir)?;
    let text = render(format, &results, &manifest)?;
    match to {
        Some(p) if p == Path::new("-") => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|_| stdout.flush())
                .map_err(|source| ReportError::Io {
                    file: PathBuf::from("(standard output)"),
                    source,
                })?;
            Ok("standard output".into())
        }
        to => {
            let path = to
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.join(format.file_name()));
            crate::provenance::write_atomic(&path, text.as_bytes()).map_err(|source| {
                ReportError::Io {
                    file: path.clone(),
                    source,
                }
            })?;
            Ok(path.display().to_string())
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("--format {}: {message}", format.file_name())]
    Unsuitable { format: Format, message: String },
    #[error("{0}")]
    Results(String),
    #[error(transparent)]
    Manifest(#[from] ProvenanceError),
    #[error("rendering {template}: {message}")]
    Render { template: String, message: String },
    #[error("{}: {source}", file.display())]
    Io {
        file: PathBuf,
        source: std::io::Error,
    },
}

impl Classify for ReportError {
    fn kind(&self) -> FailureKind {
        match self {
            ReportError::Render { .. } => FailureKind::Runtime,
            _ => FailureKind::BadInput,
        }
    }
}

/// The self-contained HTML report (inline CSS and SVG, no network).
pub fn render_html(results: &Results, manifest: &Manifest) -> Result<String, ReportError> {
    let mut tera = tera::Tera::default();
    let render_err = |e: tera::Error| {
        // tera's top-level message hides the cause; walk the chain.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message.push_str(&format!(": {s}"));
            source = s.source();
        }
        ReportError::Render {
            template: "templates/report.html".into(),
            message,
        }
    };
    tera.add_raw_template("report.html", HTML_TEMPLATE)
        .map_err(render_err)?;
    let view = view::ReportView::build(results, manifest);
    let context = tera::Context::from_serialize(&view).map_err(render_err)?;
    tera.render("report.html", &context).map_err(render_err)
}

/// Renders `DIR/report.html` from the given results and manifest, atomically.
pub fn write_html(
    dir: &Path,
    results: &Results,
    manifest: &Manifest,
) -> Result<PathBuf, ReportError> {
    let html = render_html(results, manifest)?;
    let path = dir.join(REPORT_FILE);
    crate::provenance::write_atomic(&path, html.as_bytes()).map_err(|source| ReportError::Io {
        file: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Re-renders the report of an out dir from its `results.json` and `manifest.json`.
pub fn rerender(dir: &Path) -> Result<PathBuf, ReportError> {
    let (results, manifest) = read_dir(dir)?;
    write_html(dir, &results, &manifest)
}
