//! The report stage: renders `results.json` and `manifest.json` into documents.
//! It reads nothing else, so a report can be re-rendered and diffed without the
//! model. Templates live in `templates/` and are compiled into the binary; tera
//! escapes every value in `.html` templates, so model outputs, probe text and spec
//! strings are data, never markup.

mod view;

use crate::provenance::{Manifest, ProvenanceError};
use crate::results::{Results, RESULTS_FILE};
use crate::{Classify, FailureKind};
use std::path::{Path, PathBuf};

pub const REPORT_FILE: &str = "report.html";
const HTML_TEMPLATE: &str = include_str!("../../templates/report.html");

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
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
    let results = Results::read(&dir.join(RESULTS_FILE)).map_err(ReportError::Results)?;
    let manifest = Manifest::read(dir)?;
    write_html(dir, &results, &manifest)
}
