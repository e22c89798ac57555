//! Provenance: sha256 of every file an audit reads and writes, the manifest that
//! lists them, and its verification.
//!
//! The audit id is the sha256 of the manifest in RFC 8785 canonical JSON without its
//! own `audit_id` field, so changing any hash, size, seed or parameter changes the
//! id. Rendered reports are derived files: they are not listed, and can be
//! re-rendered from `results.json` and `manifest.json` at any time.

mod canonical;
mod error;
pub mod fingerprint;
pub mod merkle;
pub mod signing;
pub mod texthash;
pub mod watermark;

pub use canonical::canonical_json;
pub use error::ProvenanceError;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

pub const MANIFEST_SCHEMA: &str = "probity.manifest/v1";
pub const MANIFEST_FILE: &str = "manifest.json";

/// sha256 (hex) and size of a file, streamed.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes a file atomically: a temporary file in the same folder, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    // Temporary files are created private (0600); an audit's outputs are ordinary
    // files that others are meant to read.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// What a listed file is to the audit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRole {
    Model,
    Spec,
    ProbeSet,
    Lexicon,
    /// A decision table audited by `probity fairness`.
    Data,
    /// A protected corpus's file of works, or its index.
    Corpus,
    Output,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub role: FileRole,
    /// Relative to the out dir when the file shares a root with it, else absolute.
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolIdentity {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_id: Option<String>,
    pub audit_name: String,
    pub tool: ToolIdentity,
    pub seed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::backend::ModelInfo>,
    /// The spec's scoring and threshold settings, as applied.
    pub parameters: serde_json::Value,
    /// The spec's training-data documentation, carried for the report.
    pub training_data: serde_json::Value,
    /// The audit id of the previous audit of the same model line (`[audit] prev`):
    /// a hash chain across releases.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
    /// An Ed25519 signature of the audit id (`probity audit --sign KEY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<signing::ManifestSignature>,
    /// RFC 6962 Merkle tree over the lines of `responses.jsonl`, with every leaf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responses_tree: Option<merkle::LineTree>,
    /// The spec's `[training_summary]` (EU AI Act template sections 1 and 3).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub training_summary: serde_json::Value,
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// The audit id: sha256 of the canonical manifest without its id and signature.
    pub fn compute_id(&self) -> String {
        let mut without = self.clone();
        without.audit_id = None;
        without.signature = None;
        let value = serde_json::to_value(&without).expect("a manifest serialises");
        sha256_bytes(canonical_json(&value).as_bytes())
    }

    /// Fills in the id and writes `DIR/manifest.json` atomically (keys sorted, so
    /// the file is stable byte for byte).
    pub fn write(self, out_dir: &Path) -> Result<Manifest, ProvenanceError> {
        self.write_signed(out_dir, None)
    }

    /// As [`Manifest::write`], signing the audit id with the secret key at `key`.
    pub fn write_signed(
        mut self,
        out_dir: &Path,
        key: Option<&Path>,
    ) -> Result<Manifest, ProvenanceError> {
        let id = self.compute_id();
        self.signature = key.map(|k| signing::sign(&id, k)).transpose()?;
        self.audit_id = Some(id);
        let value = serde_json::to_value(&self).expect("a manifest serialises");
        let mut text = serde_json::to_string_pretty(&canonical::sorted(&value)).expect("json");
        text.push('\n');
        let path = out_dir.join(MANIFEST_FILE);
        write_atomic(&path, text.as_bytes()).map_err(|e| ProvenanceError::io(&path, e))?;
        Ok(self)
    }

    pub fn read(out_dir: &Path) -> Result<Manifest, ProvenanceError> {
        let path = out_dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| ProvenanceError::io(&path, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ProvenanceError::Malformed {
                file: path.clone(),
                message: e.to_string(),
            })?;
        let schema = value
            .get("schema")
            .and_then(|s| s.as_str())
            .unwrap_or("(none)");
        if schema != MANIFEST_SCHEMA {
            return Err(ProvenanceError::Malformed {
                file: path,
                message: format!(
                    "unknown manifest schema `{schema}` (this probity reads {MANIFEST_SCHEMA})"
                ),
            });
        }
        serde_json::from_value(value).map_err(|e| ProvenanceError::Malformed {
            file: path,
            message: e.to_string(),
        })
    }
}

/// Hashes a file into a manifest entry, recording its path relative to `out_dir`.
pub fn entry(role: FileRole, file: &Path, out_dir: &Path) -> Result<FileEntry, ProvenanceError> {
    let (sha256, size) = sha256_file(file).map_err(|e| ProvenanceError::io(file, e))?;
    Ok(FileEntry {
        role,
        path: relative_to(file, out_dir),
        sha256,
        size,
    })
}

/// `file` relative to `dir` when both resolve under a common root, else absolute.
pub fn relative_to(file: &Path, dir: &Path) -> String {
    let (Ok(file_abs), Ok(dir_abs)) = (std::path::absolute(file), std::path::absolute(dir)) else {
        return file.display().to_string();
    };
    let file_abs = normalise(&file_abs);
    let dir_abs = normalise(&dir_abs);
    let f: Vec<_> = file_abs.components().collect();
    let d: Vec<_> = dir_abs.components().collect();
    let common = f.iter().zip(&d).take_while(|(a, b)| a == b).count();
    // Only the root in common: an absolute path says more than a chain of `..`.
    if common <= 1 {
        return file_abs.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..d.len() {
        rel.push("..");
    }
    for c in &f[common..] {
        rel.push(c.as_os_str());
    }
    rel.to_string_lossy().replace('\\', "/")
}

fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verification {
    pub audit_id: String,
    pub checked: usize,
    pub problems: Vec<String>,
    /// The public key of a valid signature, when the manifest has one.
    pub signed_by: Option<String>,
}

/// Re-hashes every file the manifest lists; checks the audit id.
pub fn verify(out_dir: &Path) -> Result<Verification, ProvenanceError> {
    verify_with_key(out_dir, None)
}

/// As [`verify`]; with `key` (a public key file), the manifest must also carry a
/// valid signature by that key. A signature present without `key` is checked
/// against its own public key (integrity, not identity).
pub fn verify_with_key(
    out_dir: &Path,
    key: Option<&Path>,
) -> Result<Verification, ProvenanceError> {
    let manifest = Manifest::read(out_dir)?;
    let trusted = key.map(signing::read_public).transpose()?;
    let mut report = Verification {
        audit_id: manifest.audit_id.clone().unwrap_or_default(),
        ..Default::default()
    };
    let recomputed = manifest.compute_id();
    if manifest.audit_id.as_deref() != Some(recomputed.as_str()) {
        report.problems.push(format!(
            "manifest.json: its audit id {} does not match its content ({recomputed}): the manifest was edited",
            manifest.audit_id.as_deref().unwrap_or("(none)")
        ));
    }
    match (&manifest.signature, &trusted) {
        (None, Some(_)) => report
            .problems
            .push("manifest.json: not signed, and --key asks for a signature".into()),
        (Some(sig), trusted) => {
            if let Err(why) = signing::check(sig, &recomputed) {
                report.problems.push(format!("manifest.json: {why}"));
            } else if trusted.as_ref().is_some_and(|t| *t != sig.public_key) {
                report.problems.push(format!(
                    "manifest.json: signed by key {}, not by the key given",
                    sig.public_key
                ));
            }
            report.signed_by = Some(sig.public_key.clone());
        }
        (None, None) => {}
    }
    if let Some(tree) = &manifest.responses_tree {
        // A missing file is reported below with the other files.
        if let Ok(bytes) = std::fs::read(out_dir.join(&tree.file)) {
            report.problems.extend(tree.check(&bytes));
        }
    }
    for file in &manifest.files {
        let path = if Path::new(&file.path).is_absolute() {
            PathBuf::from(&file.path)
        } else {
            out_dir.join(&file.path)
        };
        report.checked += 1;
        match sha256_file(&path) {
            Err(_) => report.problems.push(format!("{}: missing", file.path)),
            Ok((sha, size)) if sha != file.sha256 => report.problems.push(format!(
                "{}: changed (sha256 {sha}, {size} bytes; the manifest says {}, {} bytes)",
                file.path, file.sha256, file.size
            )),
            Ok(_) => {}
        }
    }
    // Every other file in the out dir, but the manifest itself, the audit marker
    // and the derived reports, is unexpected: an audit's outputs are all listed.
    let listed: std::collections::BTreeSet<PathBuf> = manifest
        .files
        .iter()
        .map(|f| PathBuf::from(&f.path))
        .collect();
    let mut present = Vec::new();
    list_files(out_dir, Path::new(""), &mut present);
    present.sort();
    for rel in present {
        let name = rel.to_string_lossy();
        let exempt = rel.parent() == Some(Path::new(""))
            && (name == MANIFEST_FILE
                || name == AUDIT_MARKER
                || DERIVED_REPORTS.contains(&name.as_ref()));
        if !exempt && !listed.contains(&rel) {
            report.problems.push(format!(
                "{name}: unexpected (in the out dir, not in the manifest)"
            ));
        }
    }
    Ok(report)
}

/// The marker an audit leaves in its out dir (not an output of the audit).
pub const AUDIT_MARKER: &str = ".probity-audit.json";

/// Reports derived from results.json and the manifest (`probity report`): not
/// hashed, so neither checked nor unexpected.
pub const DERIVED_REPORTS: &[&str] = &[
    "report.html",
    "report.md",
    "junit.xml",
    "model-card.md",
    "bom.cdx.json",
];

/// Every regular file under `dir`, as paths relative to it.
fn list_files(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(root.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let path = rel.join(entry.file_name());
        match entry.file_type() {
            Ok(t) if t.is_dir() => list_files(root, &path, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_to(Path::new("/a/b/spec.toml"), Path::new("/a/out/x")),
            "../../b/spec.toml"
        );
        assert_eq!(
            relative_to(Path::new("/a/out/x/r.json"), Path::new("/a/out/x")),
            "r.json"
        );
        assert_eq!(
            relative_to(Path::new("/c/m.gguf"), Path::new("/a/out")),
            "/c/m.gguf"
        );
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
    }
}
