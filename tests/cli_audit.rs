//! `probity audit`, `report` and `verify` end to end on a tiny GGUF model that the
//! test writes itself (no download): the files an audit writes, determinism across
//! thread counts, resume and out-dir rules, verification, escaping, and bad input.

mod common;

use common::mini::{probe_set, LEXICON_AGE, LEXICON_GENDER};
use common::{probity, tiny_gguf::write_tiny_gguf, write};
use predicates::str::contains;
use std::path::{Path, PathBuf};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new(scenarios: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        write_tiny_gguf(&root.join("tiny.gguf"), 42);
        write(&root.join("probes/lexicon/gender.toml"), LEXICON_GENDER);
        write(&root.join("probes/lexicon/age.toml"), LEXICON_AGE);
        write(&root.join("probes/mini.toml"), &probe_set(scenarios));
        write(
            &root.join("audit.toml"),
            &spec("tiny audit <script>alert(1)</script>", ""),
        );
        Fixture { _dir: dir, root }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
}

fn spec(name: &str, model_extra: &str) -> String {
    format!(
        r#"[audit]
name = "{name}"
seed = 11
out = "out"

[model]
kind = "gguf"
path = "tiny.gguf"
{model_extra}

[[probes]]
path = "probes/mini.toml"

[scoring]
n_boot = 499

[[training_data]]
name = "Test corpus [click](http://evil.example) <b>bold</b>"
kind = "synthetic"
licence = "CC0-1.0"
"#
    )
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn audit(f: &Fixture, extra: &[&str]) -> assert_cmd::assert::Assert {
    probity()
        .arg("audit")
        .arg(f.path("audit.toml"))
        .args(extra)
        .assert()
}

fn exit_code(a: &assert_cmd::assert::Assert) -> i32 {
    a.get_output().status.code().unwrap()
}

#[test]
fn audit_writes_results_manifest_and_report() {
    let f = Fixture::new(6);
    let a = audit(&f, &[]);
    let code = exit_code(&a);
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let out = f.path("out");
    let results: serde_json::Value =
        serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(results["schema"], "probity.results/v1");
    // 6 scenarios × (2 explicit gender + 4 names + 2 explicit age) = 48 probes.
    assert_eq!(results["summary"]["n_probes"], 48);
    assert_eq!(read(&out.join("responses.jsonl")).lines().count(), 48);
    // explicit gender, explicit age, implicit gender: one comparison each.
    let findings = results["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    for f in findings {
        for key in [
            "probe_set",
            "kind",
            "variant",
            "metric",
            "axis",
            "group",
            "reference",
            "estimate",
            "ci_low",
            "ci_high",
            "p_value",
            "p_adjusted",
            "n",
            "n_scenarios",
            "threshold",
            "rule",
            "verdict",
        ] {
            assert!(f.get(key).is_some(), "finding lacks {key}");
        }
        let p = f["p_value"].as_f64().unwrap();
        assert!(f["p_adjusted"].as_f64().unwrap() >= p);
        // 6 scenarios: the exact sign-flip p is a multiple of 1/64.
        assert!(((p * 64.0) - (p * 64.0).round()).abs() < 1e-9, "p = {p}");
        assert!(f["ci_low"].as_f64().unwrap() <= f["estimate"].as_f64().unwrap());
    }
    let verdict = results["summary"]["verdict"].as_str().unwrap();
    assert_eq!(code == 1, verdict == "breach");
    // No absolute paths, timestamps or thread counts in results.json.
    let text = read(&out.join("results.json"));
    assert!(!text.contains(f.root.to_str().unwrap()));
    // The manifest lists inputs and outputs; its id is what `verify` recomputes.
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&out.join("manifest.json"))).unwrap();
    let roles: Vec<&str> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        [
            "model",
            "spec",
            "probe_set",
            "lexicon",
            "lexicon",
            "output",
            "output"
        ]
    );
    assert_eq!(manifest["precision"], "f32");
    probity()
        .arg("verify")
        .arg(&out)
        .assert()
        .code(0)
        .stdout(contains("7 files match"));
    // The report escapes the spec's strings.
    let html = read(&out.join("report.html"));
    assert!(
        !html.contains("<script>alert"),
        "unescaped script in the report"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    assert!(!html.contains("<b>bold</b>"));
    for section in [
        "id=\"verdict\"",
        "id=\"model\"",
        "id=\"training-data\"",
        "id=\"findings\"",
        "id=\"method\"",
        "id=\"provenance\"",
        "id=\"reproducibility\"",
    ] {
        assert!(html.contains(section), "report lacks {section}");
    }
    assert!(html.contains("not documented"));
}

#[test]
fn results_are_byte_identical_across_runs_and_thread_counts() {
    let f = Fixture::new(7);
    let one = f.path("one");
    let two = f.path("two");
    audit(&f, &["--out", one.to_str().unwrap(), "--threads", "1"]);
    audit(&f, &["--out", two.to_str().unwrap(), "--threads", "2"]);
    for file in ["results.json", "responses.jsonl"] {
        assert_eq!(
            read(&one.join(file)),
            read(&two.join(file)),
            "{file} differs"
        );
    }
    // A different seed changes the resampling, not the responses.
    let three = f.path("three");
    audit(&f, &["--out", three.to_str().unwrap(), "--seed", "12"]);
    assert_eq!(
        read(&one.join("responses.jsonl")),
        read(&three.join("responses.jsonl"))
    );
    assert_ne!(
        read(&one.join("results.json")),
        read(&three.join("results.json"))
    );
}

#[test]
fn rerun_resumes_and_another_audit_is_refused_without_force() {
    let f = Fixture::new(5);
    let first = audit(&f, &[]);
    let results = read(&f.path("out/results.json"));
    // Interrupted run: drop the last lines and tear one in half; the re-run resumes.
    let responses = read(&f.path("out/responses.jsonl"));
    let lines: Vec<&str> = responses.lines().collect();
    let torn = format!("{}\n{}", lines[..10].join("\n"), &lines[10][..20]);
    std::fs::write(f.path("out/responses.jsonl"), torn).unwrap();
    let again = audit(&f, &[]);
    assert_eq!(exit_code(&first), exit_code(&again));
    assert_eq!(read(&f.path("out/results.json")), results);
    assert_eq!(read(&f.path("out/responses.jsonl")), responses);
    // Another audit into the same dir.
    write(&f.path("other.toml"), &spec("another audit", ""));
    probity()
        .arg("audit")
        .arg(f.path("other.toml"))
        .assert()
        .code(2)
        .stderr(contains("holds another audit"))
        .stderr(contains("--force"));
    let forced = probity()
        .arg("audit")
        .arg(f.path("other.toml"))
        .arg("--force")
        .assert();
    assert!(matches!(exit_code(&forced), 0 | 1));
    let manifest = read(&f.path("out/manifest.json"));
    assert!(manifest.contains("another audit"));
}

#[test]
fn verify_names_changed_and_missing_files() {
    let f = Fixture::new(5);
    audit(&f, &[]);
    let out = f.path("out");
    // Edit the seventh line of responses.jsonl: verify names that line.
    let responses = read(&out.join("responses.jsonl"));
    let mut lines: Vec<String> = responses.lines().map(str::to_string).collect();
    lines[6] = lines[6].replacen("\"p_norm\":", "\"p_norm\": ", 1);
    std::fs::write(out.join("responses.jsonl"), lines.join("\n") + "\n").unwrap();
    std::fs::remove_file(f.path("probes/lexicon/age.toml")).unwrap();
    let a = probity().arg("verify").arg(&out).assert().code(1);
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(stdout.contains("responses.jsonl: changed"), "{stdout}");
    assert!(
        stdout.contains("responses.jsonl: line 7 changed"),
        "{stdout}"
    );
    assert!(stdout.contains("age.toml: missing"), "{stdout}");
    assert!(!stdout.contains("results.json"), "{stdout}");
    assert!(!stdout.contains("unexpected"), "{stdout}");
    // A file the audit did not write is named; derived reports are not.
    write(&out.join("extra/notes.txt"), "added later");
    probity()
        .arg("report")
        .arg(&out)
        .args(["--format", "md"])
        .assert()
        .code(0);
    let a = probity().arg("verify").arg(&out).assert().code(1);
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(
        stdout.contains("extra/notes.txt: unexpected (in the out dir, not in the manifest)"),
        "{stdout}"
    );
    assert!(!stdout.contains("report.md"), "{stdout}");
    std::fs::remove_dir_all(out.join("extra")).unwrap();
    // A derived report is not hashed: deleting and re-rendering it is fine.
    std::fs::remove_file(out.join("report.html")).unwrap();
    probity().arg("report").arg(&out).assert().code(0);
    assert!(out.join("report.html").is_file());
    // An edited manifest is caught by its id.
    let manifest = read(&out.join("manifest.json")).replace("\"seed\": 11", "\"seed\": 12");
    std::fs::write(out.join("manifest.json"), manifest).unwrap();
    probity()
        .arg("verify")
        .arg(&out)
        .assert()
        .code(1)
        .stdout(contains("manifest was edited"));
}

#[test]
fn a_manifest_of_an_unknown_schema_version_is_refused_with_exit_2() {
    let f = Fixture::new(3);
    audit(&f, &[]);
    let out = f.path("out");
    let manifest = read(&out.join("manifest.json"));
    assert!(manifest.contains("\"probity.manifest/v1\""), "{manifest}");
    std::fs::write(
        out.join("manifest.json"),
        manifest.replace("\"probity.manifest/v1\"", "\"probity.manifest/v9\""),
    )
    .unwrap();
    for command in [vec!["verify"], vec!["report"]] {
        let a = probity().args(&command).arg(&out).assert().code(2);
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(stderr.contains("manifest.json"), "{command:?}: {stderr}");
        assert!(
            stderr.contains("unknown manifest schema `probity.manifest/v9`"),
            "{command:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn bad_input_exits_2_with_the_file_named() {
    let f = Fixture::new(4);
    // Malformed TOML.
    write(&f.path("bad.toml"), "[audit]\nname = \"x\"\nseed = = 3\n");
    probity()
        .arg("audit")
        .arg(f.path("bad.toml"))
        .assert()
        .code(2)
        .stderr(contains("bad.toml, line 3"));
    // Unknown key.
    write(&f.path("unknown.toml"), &spec("x", "temperature = 0.7"));
    probity()
        .arg("audit")
        .arg(f.path("unknown.toml"))
        .assert()
        .code(2)
        .stderr(contains("unknown.toml, line 9"))
        .stderr(contains("model.temperature"));
    // Missing model file.
    write(
        &f.path("missing.toml"),
        &spec("x", "").replace("tiny.gguf", "nowhere.gguf"),
    );
    probity()
        .arg("audit")
        .arg(f.path("missing.toml"))
        .assert()
        .code(2)
        .stderr(contains("nowhere.gguf"));
    // sha256 mismatch.
    write(
        &f.path("pin.toml"),
        &spec("x", &format!("sha256 = \"{}\"", "0".repeat(64))),
    );
    probity()
        .arg("audit")
        .arg(f.path("pin.toml"))
        .assert()
        .code(2)
        .stderr(contains("sha256 mismatch"))
        .stderr(contains("tiny.gguf"));
    // Truncated GGUF.
    let bytes = std::fs::read(f.path("tiny.gguf")).unwrap();
    std::fs::write(f.path("cut.gguf"), &bytes[..bytes.len() - 100]).unwrap();
    write(
        &f.path("cut.toml"),
        &spec("x", "").replace("tiny.gguf", "cut.gguf"),
    );
    probity()
        .arg("audit")
        .arg(f.path("cut.toml"))
        .assert()
        .code(2)
        .stderr(contains("cut.gguf"))
        .stderr(contains("truncated"));
    // Empty probe set.
    write(&f.path("probes/mini.toml"), &probe_set(0));
    probity()
        .arg("audit")
        .arg(f.path("audit.toml"))
        .assert()
        .code(2)
        .stderr(contains("mini.toml"))
        .stderr(contains("no scenarios"));
    // A template slot with no value.
    write(
        &f.path("probes/mini.toml"),
        &probe_set(2).replace("with record", "earning {income} with record"),
    );
    probity()
        .arg("audit")
        .arg(f.path("audit.toml"))
        .assert()
        .code(2)
        .stderr(contains("mini.toml, line"))
        .stderr(contains("{income}"));
    // Nothing above panicked or left an out dir with results.
    assert!(!f.path("out/results.json").exists());
}

#[test]
fn model_info_and_score_on_the_tiny_model() {
    let f = Fixture::new(1);
    let model = f.path("tiny.gguf");
    probity()
        .args(["model", "info"])
        .arg(&model)
        .assert()
        .code(0)
        .stdout(contains("architecture:  llama"))
        .stdout(contains("vocabulary:    269"))
        .stdout(contains("Q4_1"));
    let out = probity()
        .args(["model", "score"])
        .arg(&model)
        .args([
            "--prompt",
            "<|im_start|>user\nhi<|im_end|>\n",
            "--continuation",
            "Yes",
            "--continuation",
            "ab",
            "--json",
        ])
        .assert()
        .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let conts = v["continuations"].as_array().unwrap();
    assert_eq!(conts.len(), 2);
    // "Yes" is one merged token; "ab" two byte tokens.
    assert_eq!(conts[0]["tokens"].as_array().unwrap().len(), 1);
    let ab = conts[1]["tokens"].as_array().unwrap();
    assert_eq!(ab.len(), 2);
    let sum: f64 = ab.iter().map(|t| t["logprob"].as_f64().unwrap()).sum();
    assert!((sum - conts[1]["logprob"].as_f64().unwrap()).abs() < 1e-9);
    // The second token of "ab" is scored as if "a" had been part of the prompt.
    let out2 = probity()
        .args(["model", "score"])
        .arg(&model)
        .args([
            "--prompt",
            "<|im_start|>user\nhi<|im_end|>\na",
            "--continuation",
            "b",
            "--json",
        ])
        .assert()
        .code(0);
    let v2: serde_json::Value = serde_json::from_slice(&out2.get_output().stdout).unwrap();
    let b = v2["continuations"][0]["logprob"].as_f64().unwrap();
    assert!(
        (b - ab[1]["logprob"].as_f64().unwrap()).abs() < 1e-4,
        "{b} vs {}",
        ab[1]["logprob"]
    );
    // --prompts: one JSON line per prompt, in order.
    write(
        &f.path("prompts.jsonl"),
        "{\"id\": \"p1\", \"prompt\": \"hello\"}\n{\"id\": \"p2\", \"prompt\": \"world\"}\n",
    );
    let lines = probity()
        .args(["model", "score"])
        .arg(&model)
        .arg("--prompts")
        .arg(f.path("prompts.jsonl"))
        .args(["--continuation", "No", "--chat"])
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&lines.get_output().stdout).to_string();
    let ids: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(ids, ["p1", "p2"]);
    // A malformed prompts line is bad input with its line number.
    write(
        &f.path("bad.jsonl"),
        "{\"id\": 1, \"prompt\": \"x\"}\nnot json\n",
    );
    probity()
        .args(["model", "score"])
        .arg(&model)
        .arg("--prompts")
        .arg(f.path("bad.jsonl"))
        .args(["--continuation", "No"])
        .assert()
        .code(2)
        .stderr(contains("bad.jsonl: line 2"));
}

#[test]
fn quantized_precision_is_recorded() {
    let f = Fixture::new(5);
    write(
        &f.path("audit.toml"),
        &spec("q", "precision = \"quantized\""),
    );
    audit(&f, &[]);
    let manifest = read(&f.path("out/manifest.json"));
    assert!(manifest.contains("\"precision\": \"quantized\""));
    let results = read(&f.path("out/results.json"));
    assert!(results.contains("\"precision\": \"quantized\""));
}

#[test]
fn a_hugging_face_folder_is_audited_and_listed_file_by_file() {
    let f = Fixture::new(6);
    let folder = common::repo().join("tests/fixtures/tiny_archs/tiny-hf-llama");
    let text = read(&f.path("audit.toml")).replace(
        "kind = \"gguf\"\npath = \"tiny.gguf\"",
        &format!(
            "kind = \"safetensors\"\npath = {:?}",
            folder.display().to_string()
        ),
    );
    write(&f.path("audit.toml"), &text);
    let a = audit(&f, &[]);
    let code = exit_code(&a);
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let out = f.path("out");
    let results: serde_json::Value =
        serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(results["model"]["architecture"], "llama");
    assert_eq!(results["summary"]["n_probes"], 48);
    // The manifest lists each file of the folder that was read.
    let manifest = read(&out.join("manifest.json"));
    for name in [
        "config.json",
        "tokenizer.json",
        "model.safetensors.index.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ] {
        assert!(manifest.contains(name), "manifest lacks {name}");
    }
    probity().arg("verify").arg(&out).assert().code(0);
    // A folder that is not there: exit 2 naming it.
    let text = read(&f.path("audit.toml")).replace("tiny-hf-llama", "no-such-folder");
    write(&f.path("audit.toml"), &text);
    audit(&f, &["--force"])
        .code(2)
        .stderr(contains("no-such-folder"));
}

#[test]
fn a_chat_template_file_replaces_the_models() {
    let f = Fixture::new(6);
    write(
        &f.path("mine.jinja"),
        "[MINE]{% for m in messages %}<<{{ m.role }}: {{ m.content }}>>{% endfor %}{% if add_generation_prompt %}<<assistant:{% endif %}",
    );
    let text = read(&f.path("audit.toml"))
        .replace(
            "path = \"tiny.gguf\"",
            "path = \"tiny.gguf\"\nchat_template = \"mine.jinja\"",
        )
        .replace("[scoring]\n", "[scoring]\nchat = true\n");
    write(&f.path("audit.toml"), &text);
    let a = audit(&f, &[]);
    assert!(
        exit_code(&a) <= 1,
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let first = read(&f.path("out/responses.jsonl"));
    let first: serde_json::Value = serde_json::from_str(first.lines().next().unwrap()).unwrap();
    let prompt = first["prompt"].as_str().unwrap();
    assert!(prompt.starts_with("[MINE]<<user: "), "{prompt}");
    // A template that does not parse is named.
    write(&f.path("mine.jinja"), "{% for %}");
    audit(&f, &["--force"])
        .code(2)
        .stderr(contains("mine.jinja"));
}

#[test]
fn the_previous_audit_id_chains_into_the_manifest() {
    let f = Fixture::new(5);
    let prev = "ab".repeat(32);
    let text =
        read(&f.path("audit.toml")).replace("seed = 11", &format!("seed = 11\nprev = \"{prev}\""));
    write(&f.path("audit.toml"), &text);
    assert!(exit_code(&audit(&f, &[])) <= 1);
    let manifest: serde_json::Value =
        serde_json::from_str(&read(&f.path("out/manifest.json"))).unwrap();
    assert_eq!(manifest["prev"], prev.as_str());
    // The responses' Merkle tree: one leaf per line.
    let lines = read(&f.path("out/responses.jsonl")).lines().count();
    assert_eq!(
        manifest["responses_tree"]["leaves"]
            .as_array()
            .unwrap()
            .len(),
        lines
    );
    // Not an audit id: exit 2 naming the field.
    write(&f.path("audit.toml"), &text.replace(&prev, "not-an-id"));
    audit(&f, &["--force"])
        .code(2)
        .stderr(contains("audit.prev"));
}

#[test]
fn signed_manifests_verify_only_with_the_right_key() {
    let f = Fixture::new(5);
    probity()
        .args(["keygen", "-o"])
        .arg(f.path("key"))
        .assert()
        .code(0);
    probity()
        .args(["keygen", "-o"])
        .arg(f.path("other"))
        .assert()
        .code(0);
    assert!(exit_code(&audit(&f, &["--sign", f.path("key").to_str().unwrap()])) <= 1);
    let out = f.path("out");
    let verify = |key: &str| {
        probity()
            .arg("verify")
            .arg(&out)
            .args(["--key", f.path(key).to_str().unwrap()])
            .assert()
    };
    verify("key.pub").code(0).stdout(contains("signed by"));
    verify("other.pub")
        .code(1)
        .stdout(contains("not by the key given"));
    // A tampered signature fails even without --key.
    let manifest = read(&out.join("manifest.json"));
    let v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
    let sig = v["signature"]["signature"].as_str().unwrap();
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    std::fs::write(out.join("manifest.json"), manifest.replace(sig, &flipped)).unwrap();
    probity()
        .arg("verify")
        .arg(&out)
        .assert()
        .code(1)
        .stdout(contains("does not verify"));
    // A key file that is not a key: exit 2 naming it.
    write(&f.path("bad.pub"), "not a key");
    verify("bad.pub").code(2).stderr(contains("bad.pub"));
}

#[test]
fn a_quantized_audit_measures_and_reports_its_chunking_sensitivity() {
    let f = Fixture::new(6);
    write(
        &f.path("quantized.toml"),
        &spec("quantized audit", "precision = \"quantized\""),
    );
    let a = probity()
        .arg("audit")
        .arg(f.path("quantized.toml"))
        .arg("--out")
        .arg(f.path("q"))
        .assert();
    assert!(matches!(exit_code(&a), 0 | 1));
    let results: serde_json::Value =
        serde_json::from_str(&read(&f.path("q/results.json"))).unwrap();
    let model = &results["model"];
    assert_eq!(model["precision"], "quantized");
    let c = &model["chunk_sensitivity"];
    assert_eq!(c["scenarios"], 6, "{c}");
    assert_eq!(c["top_k"], 20);
    let (mean, max) = (
        c["mean_abs_logprob_diff"].as_f64().unwrap(),
        c["max_abs_logprob_diff"].as_f64().unwrap(),
    );
    eprintln!(
        "tiny model, quantized: chunking moves log p by {mean:.2e} on average, {max:.2e} at most"
    );
    assert!(
        mean.is_finite() && max.is_finite() && 0.0 <= mean && mean <= max,
        "{c}"
    );
    let html = read(&f.path("q/report.html"));
    assert!(
        html.contains("measured on this audit's prompts (6 scenarios"),
        "report lacks the figure"
    );
    // f32 is chunk-stable: nothing to measure, nothing recorded.
    audit(&f, &[]);
    let results: serde_json::Value =
        serde_json::from_str(&read(&f.path("out/results.json"))).unwrap();
    assert!(results["model"].get("chunk_sensitivity").is_none());
}
