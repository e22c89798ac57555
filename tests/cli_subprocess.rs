//! The subprocess backend end to end: an audit scored by a Python child speaking
//! the JSON-lines protocol, and every way a child can fail — crash, hang, bad
//! output, refusal, a command that does not exist — each a clear error with the
//! child's stderr, the completed probes kept.

mod common;

use common::mini::{probe_set, LEXICON_AGE, LEXICON_GENDER};
use common::{probity, write};
use predicates::str::contains;
use std::path::PathBuf;

/// A scorer: log p(c) = −(0.5 + 0.1 · (len(prompt) mod 5)) for "yes" in any case
/// or spacing, −1 for anything else. `MODE` makes it misbehave on request 3.
const SCORER: &str = r#"
import json, sys, time
MODE = sys.argv[1] if len(sys.argv) > 1 else "ok"
for n, line in enumerate(sys.stdin, 1):
    req = json.loads(line)
    if n == 3 and MODE == "crash":
        print("boom: the scorer fell over", file=sys.stderr, flush=True)
        sys.exit(7)
    if n == 3 and MODE == "hang":
        time.sleep(60)
    if n == 3 and MODE == "garbage":
        print("this is not json", flush=True)
        continue
    if n == 3 and MODE == "refuse":
        print(json.dumps({"id": req["id"], "error": "out of quota"}), flush=True)
        continue
    rows = [[-(0.5 + 0.1 * (len(p) % 5)) if c.strip().lower() == "yes" else -1.0
             for c in req["continuations"]] for p in req["prompts"]]
    print(json.dumps({"id": req["id"], "scores": rows}), flush=True)
"#;

fn fixture(mode: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    write(&root.join("probes/lexicon/gender.toml"), LEXICON_GENDER);
    write(&root.join("probes/lexicon/age.toml"), LEXICON_AGE);
    write(&root.join("probes/mini.toml"), &probe_set(6));
    write(&root.join("scorer.py"), SCORER);
    let spec = root.join("audit.toml");
    write(
        &spec,
        &format!(
            "[audit]\nname = \"child\"\nseed = 3\nout = \"out\"\n\n[model]\nkind = \"subprocess\"\ncommand = [\"python3\", \"scorer.py\", \"{mode}\"]\nlabel = \"a scorer\"\n{extra}\n[[probes]]\npath = \"probes/mini.toml\"\n\n[scoring]\nchat = false\nn_boot = 199\n"
        ),
    );
    (dir, spec)
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_child_process_scores_the_audit() {
    let (dir, spec) = fixture("ok", "");
    let a = probity().arg("audit").arg(&spec).assert();
    let code = a.get_output().status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let out = dir.path().join("out");
    let responses = lines(&out.join("responses.jsonl"));
    assert_eq!(responses.len(), 48);
    for r in &responses {
        // The scorer gave each of the four surface forms of "yes" the same value.
        let prompt = r["prompt"].as_str().unwrap();
        let v = -(0.5 + 0.1 * (prompt.chars().count() % 5) as f64);
        let expected_yes = v + 4f64.ln();
        let expected_no = -1.0 + 4f64.ln();
        assert!((r["logp_yes"].as_f64().unwrap() - expected_yes).abs() < 1e-12);
        assert!((r["logp_no"].as_f64().unwrap() - expected_no).abs() < 1e-12);
    }
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["model"]["architecture"], "subprocess");
    assert_eq!(results["model"]["name"], "a scorer");
    // The script the command runs is the audited "model" in the manifest.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("scorer.py"));
    probity().arg("verify").arg(&out).assert().code(0);
}

#[test]
fn a_crashed_child_is_exit_3_with_its_stderr_and_the_work_kept() {
    let (dir, spec) = fixture("crash", "");
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(3)
        .stderr(contains("boom: the scorer fell over"))
        .stderr(contains("exit"));
    // Two scenarios (8 probes each) were answered before the crash, and kept.
    assert_eq!(lines(&dir.path().join("out/responses.jsonl")).len(), 16);
    // A second run with a working scorer resumes from them.
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("\"crash\"", "\"ok\"");
    write(&spec, &text);
    let a = probity().arg("audit").arg(&spec).assert();
    assert!(a.get_output().status.code().unwrap() <= 1);
    assert_eq!(lines(&dir.path().join("out/responses.jsonl")).len(), 48);
}

#[test]
fn a_hung_child_times_out() {
    let (_dir, spec) = fixture("hang", "timeout_seconds = 1\n");
    let started = std::time::Instant::now();
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(3)
        .stderr(contains("no answer to request 3 within 1 s"));
    // It did not wait for the child's 60 s sleep.
    assert!(started.elapsed().as_secs() < 30);
}

#[test]
fn garbage_and_refusals_are_named() {
    let (_dir, spec) = fixture("garbage", "");
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(3)
        .stderr(contains("not JSON"))
        .stderr(contains("this is not json"));
    let (_dir, spec) = fixture("refuse", "");
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(3)
        .stderr(contains("out of quota"));
}

#[test]
fn bad_commands_are_bad_input() {
    let (dir, spec) = fixture("ok", "");
    // No such program or file.
    let text = std::fs::read_to_string(&spec).unwrap().replace(
        "[\"python3\", \"scorer.py\", \"ok\"]",
        "[\"./no-such-scorer\"]",
    );
    write(&spec, &text);
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(contains("no-such-scorer"));
    // No command at all.
    let text = text.replace("command = [\"./no-such-scorer\"]\n", "");
    write(&spec, &text);
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(contains("model.command"));
    // Chat wrapping asked for, no template to do it with.
    let (_d2, spec) = fixture("ok", "");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("chat = false", "chat = true");
    write(&spec, &text);
    probity()
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(contains("chat_template"));
    drop(dir);
}
