//! `probity fingerprint index` and `probity trace` end to end on two audit out dirs
//! written by hand, and every class of bad input (exit 2, naming the file).

mod common;

use common::{probity, write};
use predicates::str::contains;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const VOCAB: &[&str] = &[
    "the",
    "applicant",
    "nurse",
    "engineer",
    "said",
    "that",
    "she",
    "he",
    "they",
    "would",
    "arrive",
    "late",
    "because",
    "of",
    "traffic",
    "near",
    "bridge",
    "manager",
    "approved",
    "loan",
    "after",
    "reviewing",
    "records",
    "with",
    "care",
    "every",
    "teacher",
    "doctor",
    "worked",
    "long",
    "hours",
    "in",
    "small",
    "town",
    "city",
    "weekend",
    "report",
    "found",
    "no",
    "problems",
    "and",
    "praised",
    "team",
    "for",
    "its",
    "patience",
    "kindness",
    "skill",
];

/// A reproducible text of `n` words (a 64-bit LCG picks them).
fn text(seed: u64, n: usize) -> String {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            VOCAB[(s >> 33) as usize % VOCAB.len()]
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The exact Jaccard index of two texts' 5-word shingle sets, computed here on
/// plain ASCII text: lower case, words = runs of ASCII letters and digits.
fn jaccard5(a: &str, b: &str) -> f64 {
    let set = |t: &str| -> HashSet<String> {
        let lower = t.to_ascii_lowercase();
        let ws: Vec<&str> = lower
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        ws.windows(5).map(|w| w.join(" ")).collect()
    };
    let (x, y) = (set(a), set(b));
    x.intersection(&y).count() as f64 / x.union(&y).count() as f64
}

fn line(probe: &str, output: Option<&str>) -> String {
    let mut v = serde_json::json!({"probe_id": probe, "prompt": "Describe the person."});
    if let Some(o) = output {
        v["output"] = o.into();
    }
    v.to_string()
}

/// An out dir with the manifest fields `fingerprint index` reads (audit_id,
/// model.name, model.sha256), a generation file and a decision file without
/// outputs.
fn audit(root: &Path, name: &str, id: &str, model: &str, outputs: &[String]) -> PathBuf {
    let dir = root.join(name);
    let manifest = serde_json::json!({
        "schema": "probity.manifest/v1",
        "audit_id": id,
        "model": {"name": model, "sha256": format!("{model}-sha")},
        "files": [],
    });
    write(&dir.join("manifest.json"), &manifest.to_string());
    let gen: Vec<String> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| line(&format!("gen-{i}"), Some(o)))
        .collect();
    write(&dir.join("responses-gen.jsonl"), &(gen.join("\n") + "\n"));
    let decisions = [
        line("d-1", None),
        r#"{"probe_id":"d-2","prompt":"x","output":null}"#.to_string(),
    ];
    write(&dir.join("responses.jsonl"), &(decisions.join("\n") + "\n"));
    dir
}

struct Setup {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    index: PathBuf,
    a: Vec<String>,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let a: Vec<String> = (0..6).map(|i| text(i, 60 + 10 * i as usize)).collect();
    let mut b: Vec<String> = (100..105).map(|i| text(i, 80)).collect();
    b.push(a[2].clone());
    let dir_a = audit(&root, "out-a", "audit-a", "model-a", &a);
    let dir_b = audit(&root, "out-b", "audit-b", "model-b", &b);
    let index = root.join("fp.idx");
    probity()
        .args(["fingerprint", "index"])
        .arg(&dir_a)
        .arg(&dir_b)
        .arg("-o")
        .arg(&index)
        .assert()
        .success()
        .stdout(contains(
            "indexed 12 text(s); 4 line(s) without an output text",
        ));
    Setup {
        _tmp: tmp,
        root,
        index,
        a,
    }
}

fn trace_json(index: &Path, text: &str, code: i32) -> serde_json::Value {
    let out = probity()
        .arg("trace")
        .arg(text)
        .arg("--index")
        .arg(index)
        .arg("--json")
        .assert()
        .code(code);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn exact_near_and_unrelated() {
    let s = setup();
    // Exact, after whitespace changes: audit, model, probe, file and line.
    let spaced = format!("  {}\n", s.a[4].replace(' ', "  \t"));
    let v = trace_json(&s.index, &spaced, 0);
    let m = &v["matches"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["kind"], "exact");
    assert_eq!(m[0]["audit_id"], "audit-a");
    assert_eq!(m[0]["model_name"], "model-a");
    assert_eq!(m[0]["model_sha256"], "model-a-sha");
    assert_eq!(m[0]["probe_id"], "gen-4");
    assert_eq!(m[0]["line"], 5);
    assert!(m[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("out-a/responses-gen.jsonl"));

    // The same text in both audits: both named.
    let v = trace_json(&s.index, &s.a[2], 0);
    let audits: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["audit_id"].as_str().unwrap())
        .collect();
    assert_eq!(audits, ["audit-a", "audit-b"]);

    // A lightly edited text: a near match with the estimate close to the truth.
    let mut words: Vec<&str> = s.a[3].split(' ').collect();
    words[10] = "zebra";
    words[40] = "ocean";
    words.insert(60, "quietly");
    let edited = words.join(" ");
    let j = jaccard5(&s.a[3], &edited);
    assert!(j > 0.6 && j < 0.9, "{j}");
    let v = trace_json(&s.index, &edited, 0);
    let m = &v["matches"][0];
    assert_eq!(m["kind"], "near");
    assert_eq!(m["probe_id"], "gen-3");
    assert_eq!(m["audit_id"], "audit-a");
    let est = m["jaccard_estimate"].as_f64().unwrap();
    let tol = 4.0 * (j * (1.0 - j) / 128.0).sqrt() + 0.02;
    assert!((est - j).abs() <= tol, "estimate {est}, true {j}");
    let all: Vec<f64> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["jaccard_estimate"].as_f64().unwrap())
        .collect();
    assert!(all.windows(2).all(|w| w[0] >= w[1]), "sorted: {all:?}");
    assert!(all.iter().all(|&x| x >= 0.5));

    // Text output and --file.
    let file = s.root.join("suspect.txt");
    write(&file, &edited);
    probity()
        .arg("trace")
        .arg("--file")
        .arg(&file)
        .arg("--index")
        .arg(&s.index)
        .assert()
        .success()
        .stdout(contains("near match"))
        .stdout(contains("probe gen-3"));

    // Unrelated: not found, exit 1.
    let unrelated =
        "Quarterly rainfall in the northern valley exceeded every forecast this spring.";
    let v = trace_json(&s.index, unrelated, 1);
    assert_eq!(v["found"], false);
    assert!(v["matches"].as_array().unwrap().is_empty());
    probity()
        .arg("trace")
        .arg(unrelated)
        .arg("--index")
        .arg(&s.index)
        .assert()
        .code(1)
        .stdout(contains("not found"));
}

#[test]
fn index_is_the_same_bytes_for_the_same_audits() {
    let s = setup();
    let again = s.root.join("again.idx");
    probity()
        .args(["fingerprint", "index"])
        .arg(s.root.join("out-b"))
        .arg(s.root.join("out-a"))
        .arg("-o")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&s.index).unwrap(),
        std::fs::read(&again).unwrap()
    );
}

fn trace_fails(index: &Path, needle: &str) {
    probity()
        .args(["trace", "some words to look for here"])
        .arg("--index")
        .arg(index)
        .assert()
        .code(2)
        .stderr(contains(index.display().to_string()))
        .stderr(contains(needle));
}

#[test]
fn corrupt_truncated_and_unknown_indexes() {
    let s = setup();
    let bytes = std::fs::read(&s.index).unwrap();

    let bad_magic = s.root.join("magic.idx");
    let mut b = bytes.clone();
    b[0] = b'X';
    std::fs::write(&bad_magic, &b).unwrap();
    trace_fails(&bad_magic, "magic");

    let bad_body = s.root.join("body.idx");
    let mut b = bytes.clone();
    let last = b.len() - 1;
    b[last] ^= 0x20;
    std::fs::write(&bad_body, &b).unwrap();
    trace_fails(&bad_body, "sha256");

    let truncated = s.root.join("truncated.idx");
    std::fs::write(&truncated, &bytes[..bytes.len() - 100]).unwrap();
    trace_fails(&truncated, "truncated");
    let header_only = s.root.join("header.idx");
    std::fs::write(&header_only, &bytes[..40]).unwrap();
    trace_fails(&header_only, "truncated");

    let version = s.root.join("version.idx");
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&3u32.to_le_bytes());
    std::fs::write(&version, &b).unwrap();
    trace_fails(&version, "unsupported format version 3");
    // Version 1 hashed shingles and MinHash slots differently: rebuild.
    b[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&version, &b).unwrap();
    trace_fails(
        &version,
        "unsupported format version 1 (this probity reads version 2); rebuild the index",
    );

    trace_fails(&s.root.join("missing.idx"), "cannot read");
}

#[test]
fn bad_audit_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let index_fails = |dir: &Path, needles: &[&str]| {
        let mut a = probity()
            .args(["fingerprint", "index"])
            .arg(dir)
            .arg("-o")
            .arg(root.join("x.idx"))
            .assert()
            .code(2);
        for n in needles {
            a = a.stderr(contains(*n));
        }
    };

    let no_manifest = root.join("no-manifest");
    write(&no_manifest.join("responses.jsonl"), &line("p", Some("hi")));
    index_fails(&no_manifest, &["no-manifest/manifest.json"]);

    let no_id = audit(root, "no-id", "x", "m", &[]);
    write(&no_id.join("manifest.json"), r#"{"model": {"name": "m"}}"#);
    index_fails(&no_id, &["no-id/manifest.json", "audit_id"]);

    let bad_json = audit(root, "bad-json", "id", "m", &["one two".into()]);
    write(
        &bad_json.join("responses-gen.jsonl"),
        &format!("{}\n{{\"probe_id\": \"p\", \n", line("p", Some("ok"))),
    );
    index_fails(
        &bad_json,
        &["bad-json/responses-gen.jsonl, line 2", "not JSON"],
    );

    let bad_output = audit(root, "bad-output", "id", "m", &[]);
    write(
        &bad_output.join("responses-gen.jsonl"),
        "\n{\"probe_id\": \"p\", \"output\": 3}\n",
    );
    index_fails(
        &bad_output,
        &["responses-gen.jsonl, line 2", "`output` is not a string"],
    );

    let no_probe = audit(root, "no-probe", "id", "m", &[]);
    write(&no_probe.join("responses.jsonl"), "{\"output\": \"x\"}\n");
    index_fails(&no_probe, &["no-probe/responses.jsonl, line 1", "probe_id"]);
    assert!(!root.join("x.idx").exists(), "no index written on error");
}

#[test]
fn bad_trace_arguments() {
    let s = setup();
    let run = |args: &[&str]| {
        probity()
            .arg("trace")
            .args(args)
            .arg("--index")
            .arg(&s.index)
            .assert()
    };
    run(&[" \n "]).code(2).stderr(contains("empty"));
    run(&["some text", "--min-jaccard", "1.5"])
        .code(2)
        .stderr(contains("--min-jaccard"));
    run(&[]).code(2);
    run(&["--file", "/nonexistent/suspect.txt"])
        .code(2)
        .stderr(contains("/nonexistent/suspect.txt"));
}
