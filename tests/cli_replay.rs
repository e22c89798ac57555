//! Replaying a recording made by another tool: a CSV or JSON-lines file of
//! prompts and outputs (and optionally a probability), matched to the probes by
//! their text, each output's first word read as the decision. The group levels
//! are recomputed here from the file the test wrote, not from probity's output.

mod common;

use common::mini::record_tiny_audit;
use common::{probity, write};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Records an audit of the tiny model: the prompts another tool would have sent.
fn recorded() -> (tempfile::TempDir, PathBuf, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let lines = record_tiny_audit(&root, 6, "", 199);
    (dir, root, lines)
}

fn replay_spec(root: &Path, recording: &str, extra: &str) -> PathBuf {
    let spec = root.join("replay.toml");
    write(
        &spec,
        &format!(
            "[audit]\nname = \"replay\"\nseed = 5\nout = \"replay\"\n\n[model]\nkind = \"replay\"\npath = \"{recording}\"\nlabel = \"another tool's model\"\n{extra}\n[[probes]]\npath = \"probes/mini.toml\"\n\n[scoring]\nn_boot = 199\nmin_scenarios = 2\n"
        ),
    );
    spec
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn results(root: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root.join("replay/results.json")).unwrap())
        .unwrap()
}

#[test]
fn a_csv_of_prompts_and_outputs_is_replayed_and_its_rates_recomputed() {
    let (_dir, root, lines) = recorded();
    assert!(lines.len() >= 20);
    // Yes for two probes in three, an answer that is neither on line 5, and no
    // record at all for the eighth probe. Prompts carry the chat template's
    // newlines and quotes, so the CSV quoting is exercised.
    let mut csv = String::from("id,prompt,output\n");
    let mut decided: BTreeMap<(String, String, String, String), Vec<f64>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if i == 7 {
            continue;
        }
        let output = if i == 4 {
            "Perhaps, it depends.".to_string()
        } else if i % 3 == 0 {
            "No, I would not.".to_string()
        } else {
            "YES. \"Certainly\", with reservations".to_string()
        };
        csv.push_str(&format!(
            "{i},{},{}\n",
            csv_field(l["prompt"].as_str().unwrap()),
            csv_field(&output)
        ));
        if i != 4 {
            decided
                .entry((
                    l["variant"].as_str().unwrap().to_string(),
                    l["axis"].as_str().unwrap().to_string(),
                    l["group"].as_str().unwrap().to_string(),
                    l["scenario"].as_str().unwrap().to_string(),
                ))
                .or_default()
                .push(if i % 3 == 0 { 0.0 } else { 1.0 });
        }
    }
    write(&root.join("recording.csv"), &csv);
    let spec = replay_spec(&root, "recording.csv", "");
    let a = probity().arg("audit").arg(&spec).assert();
    let code = a.get_output().status.code().unwrap();
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    assert!(
        stderr.contains("2 of")
            && stderr.contains("1 of them because the recorded output answers neither way"),
        "{stderr}"
    );
    let r = results(&root);
    assert_eq!(r["summary"]["n_missing"], 2);
    assert_eq!(
        r["summary"]["n_probes"].as_u64().unwrap() as usize,
        lines.len() - 2
    );
    // Each group's level: the mean over scenarios of its share of yes.
    let mut expected: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    for ((variant, axis, group, _), v) in &decided {
        expected
            .entry((variant.clone(), axis.clone(), group.clone()))
            .or_default()
            .push(v.iter().sum::<f64>() / v.len() as f64);
    }
    let mut checked = 0;
    for g in r["groups"].as_array().unwrap() {
        if g["metric"] != "p_norm" {
            continue;
        }
        let key = (
            g["variant"].as_str().unwrap().to_string(),
            g["axis"].as_str().unwrap().to_string(),
            g["group"].as_str().unwrap().to_string(),
        );
        let shares = &expected[&key];
        let want = shares.iter().sum::<f64>() / shares.len() as f64;
        assert!(
            (g["estimate"].as_f64().unwrap() - want).abs() < 1e-12,
            "{key:?}: {} vs {want}",
            g["estimate"]
        );
        checked += 1;
    }
    assert!(checked >= 4, "{checked} groups checked");
    // The outputs are kept, and shown escaped in the report.
    let replayed = std::fs::read_to_string(root.join("replay/responses.jsonl")).unwrap();
    assert!(replayed.contains("with reservations"));
    probity()
        .arg("verify")
        .arg(root.join("replay"))
        .assert()
        .code(0);
}

#[test]
fn a_jsonl_with_its_own_field_names_and_probabilities_is_replayed() {
    let (_dir, root, lines) = recorded();
    let mut jsonl = String::new();
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let p = ((i * 37) % 100) as f64 / 100.0;
        // Only the question, without the chat template: matched all the same.
        let prompt = l["prompt"].as_str().unwrap();
        jsonl.push_str(
            &serde_json::json!({"input": prompt, "completion": "whatever", "prob": p}).to_string(),
        );
        jsonl.push('\n');
        want.insert(l["probe_id"].as_str().unwrap().to_string(), p);
    }
    write(&root.join("rec.jsonl"), &jsonl);
    let spec = replay_spec(
        &root,
        "rec.jsonl",
        "prompt_field = \"input\"\noutput_field = \"completion\"\np_yes_field = \"prob\"\n",
    );
    let a = probity().arg("audit").arg(&spec).assert();
    let code = a.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1);
    let replayed = std::fs::read_to_string(root.join("replay/responses.jsonl")).unwrap();
    let mut n = 0;
    for line in replayed.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let p = want[v["probe_id"].as_str().unwrap()];
        assert_eq!(v["p_norm"].as_f64().unwrap(), p);
        assert_eq!(v["output"], "whatever");
        n += 1;
    }
    assert_eq!(n, lines.len());
    assert!(results(&root)["summary"].get("n_missing").is_none());
}

#[test]
fn bad_foreign_recordings_exit_2_naming_the_file_and_line() {
    let (_dir, root, lines) = recorded();
    let prompt = csv_field(lines[0]["prompt"].as_str().unwrap());
    let expect = |recording: &str, content: &str, extra: &str, needles: &[&str]| {
        write(&root.join(recording), content);
        let spec = replay_spec(&root, recording, extra);
        let a = probity().arg("audit").arg(&spec).assert().code(2);
        let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        for n in needles {
            assert!(stderr.contains(n), "expected `{n}` in: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    expect(
        "a.csv",
        "prompt,answer\n\"x\",\"Yes\"\n",
        "",
        &["a.csv:1:", "`prompt` and `output`", "answer"],
    );
    expect(
        "b.csv",
        &format!("prompt,output,p_yes\n{prompt},Yes,1.7\n"),
        "",
        &["b.csv:2:", "p_yes", "1.7"],
    );
    // The second record starts after the first one's lines (its prompt has
    // line breaks).
    let second = format!("c.csv:{}:", 3 + prompt.matches('\n').count());
    expect(
        "c.csv",
        &format!("prompt,output\n{prompt},Yes\n{prompt},No\n"),
        "",
        &[&second, "answered twice (first on line 2)"],
    );
    // A first record that cannot be scored still counts: a second one is refused.
    expect(
        "c2.csv",
        &format!("prompt,output\n{prompt},Maybe\n{prompt},Yes\n"),
        "",
        &[
            &second.replace("c.csv", "c2.csv"),
            "answered twice (first on line 2)",
        ],
    );
    // probity's own recording with impossible scores names the line and the field.
    let mut impossible = lines[1].clone();
    impossible["p_norm"] = serde_json::json!(1.7);
    expect(
        "g.jsonl",
        &format!("{}\n{}\n", lines[0], impossible),
        "",
        &["g.jsonl:2:", "p_norm 1.7 is not a probability"],
    );
    let mut disagrees = lines[0].clone();
    disagrees["p_norm"] = serde_json::json!(0.5);
    disagrees["logit"] = serde_json::json!(3.0);
    expect(
        "g2.jsonl",
        &format!("{disagrees}\n"),
        "",
        &["g2.jsonl:1:", "disagrees with logit 3"],
    );
    expect(
        "d.jsonl",
        "{\"prompt\": \"a\", \"output\": \"Yes\"}\n{\"prompt\": 3, \"output\": \"No\"}\n",
        "",
        &["d.jsonl:2:", "`prompt` is not a string"],
    );
    expect(
        "e.csv",
        &format!("prompt,output\n{prompt},Yes,extra field\n"),
        "",
        &["e.csv:2:", "not a CSV row"],
    );
    // A recording none of whose prompts is a probe of this audit.
    expect(
        "h.csv",
        "prompt,output\nWhat is the capital of France?,Paris\n",
        "",
        &["h.csv", "no record answers a probe"],
    );
    let mut bytes = b"prompt,output\n\"fine\",Yes\n".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(root.join("f.csv"), &bytes).unwrap();
    let spec = replay_spec(&root, "f.csv", "");
    let a = probity().arg("audit").arg(&spec).assert().code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("f.csv:3:") && stderr.contains("UTF-8"),
        "{stderr}"
    );
    // The field names belong to a replay only.
    write(
        &root.join("g.toml"),
        "[audit]\nname = \"x\"\nseed = 1\nout = \"o\"\n\n[model]\nkind = \"gguf\"\npath = \"tiny.gguf\"\nprompt_field = \"q\"\n\n[[probes]]\npath = \"probes/mini.toml\"\n",
    );
    let a = probity()
        .arg("audit")
        .arg(root.join("g.toml"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("model.prompt_field"), "{stderr}");
}
