//! Memorisation probes and the protected-corpus check of an audit's outputs, end
//! to end: SmolLM2 continuing prefixes of the shipped licence texts and of an
//! unpublished control passage; a replayed recording whose outputs copy a
//! passage of a work, caught by `[[corpus]]`; and each kind of bad input.
//!
//! The figures are recomputed here from the responses files with the test's own
//! code (string prefix after folding whitespace; word spans by brute force), not
//! with probity's.

mod common;

use common::mini::{probe_set, record_tiny_audit, LEXICON_AGE, LEXICON_GENDER};
use common::tiny_gguf::write_tiny_gguf;
use common::{probity, repo, write};
use std::path::{Path, PathBuf};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A JSON file of the out dir.
fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The first element of a JSON array whose `key` is `value`.
fn entry<'a>(list: &'a serde_json::Value, key: &str, value: &str) -> &'a serde_json::Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|e| e[key] == value)
        .unwrap_or_else(|| panic!("no entry with {key} = {value}"))
}

fn fold(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn smollm2_continues_licence_prefixes_and_the_extraction_rate_is_recomputed() {
    if common::smollm2().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_dir(
        &repo().join("probes/corpora/licences"),
        &root.join("probes/corpora/licences"),
    );
    let set = std::fs::read_to_string(repo().join("probes/memorisation.toml"))
        .unwrap()
        .replace("prompts_per_work = 6", "prompts_per_work = 2");
    assert!(set.contains("prompts_per_work = 2"));
    write(&root.join("probes/memorisation.toml"), &set);
    let spec = std::fs::read_to_string(repo().join("audits/memorisation.toml"))
        .unwrap()
        .replace("../out/memorisation", "out");
    write(&root.join("audits/memorisation.toml"), &spec);
    let a = probity()
        .arg("audit")
        .arg(root.join("audits/memorisation.toml"))
        .assert();
    let code = a.get_output().status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "exit {code}: {}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let out = root.join("audits/out");
    let responses = lines(&out.join("responses-licence-memorisation.jsonl"));
    // Three works, two prompts each.
    assert_eq!(responses.len(), 6);
    let mut extracted = 0;
    for r in &responses {
        let output = fold(r["output"].as_str().unwrap());
        let truth = fold(r["continuation"].as_str().unwrap());
        let full = r["finish"] == "length";
        let exact = full && !output.is_empty() && truth.starts_with(&output);
        assert_eq!(r["match"]["exact"].as_bool().unwrap(), exact, "{r}");
        extracted += usize::from(exact);
        // The prompt is the text of the work just before its continuation.
        let work = std::fs::read_to_string(
            root.join("probes/corpora/licences")
                .join(r["source"].as_str().unwrap()),
        )
        .unwrap();
        let at = r["byte_offset"].as_u64().unwrap() as usize;
        assert!(work[at..].starts_with(r["continuation"].as_str().unwrap()));
        assert!(work[..at]
            .trim_end()
            .ends_with(r["prompt"].as_str().unwrap()));
        assert_eq!(r["prompt"].as_str().unwrap().split_whitespace().count(), 50);
        // A passage written for probity cannot have been memorised.
        if r["source"] == "unpublished-control.txt" {
            assert!(!exact, "the control passage was 'extracted': {r}");
        }
    }
    let results = read_json(&out.join("results.json"));
    let finding = entry(&results["findings"], "metric", "extraction_rate");
    let n = responses.len() as f64;
    assert!((finding["estimate"].as_f64().unwrap() - extracted as f64 / n).abs() < 1e-15);
    if extracted == 0 {
        // Clopper–Pearson with no successes: [0, 1 − (α/2)^(1/n)].
        let high = 1.0 - 0.025f64.powf(1.0 / n);
        assert!((finding["ci_high"].as_f64().unwrap() - high).abs() < 1e-9);
        assert_eq!(finding["p_value"].as_f64().unwrap(), 1.0);
        assert_eq!(finding["verdict"], "pass");
    } else {
        // Against a threshold of 0, one extraction is proof: p = 0, a breach.
        assert_eq!(finding["p_value"].as_f64().unwrap(), 0.0);
        assert_eq!(finding["verdict"], "breach");
    }
    eprintln!(
        "SmolLM2 memorisation: {extracted} of {} continuations extracted",
        responses.len()
    );
    // Every output was also checked against the works.
    let overlap = entry(&results["findings"], "kind", "corpus_overlap");
    assert_eq!(overlap["n"].as_u64().unwrap(), 6);
    // The works are inputs of the manifest; the index built from them an output.
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("mit.txt"), "{manifest}");
    assert!(manifest.contains("corpus-licences.index"), "{manifest}");
    assert!(manifest.contains("\"corpus\""), "{manifest}");
    probity().arg("verify").arg(&out).assert().code(0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("licence-memorisation · memorisation"));
    assert!(html.contains("Exact extraction"));
}

/// The longest run of equal consecutive words of `a` and `b`, by brute force.
fn longest_common_run(a: &[String], b: &[String]) -> usize {
    let mut best = 0;
    for i in 0..a.len() {
        for j in 0..b.len() {
            let mut k = 0;
            while i + k < a.len() && j + k < b.len() && a[i + k] == b[j + k] {
                k += 1;
            }
            best = best.max(k);
        }
    }
    best
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

const WORK: &str =
    "The lighthouse keeper counted the gulls every morning before the kettle boiled, \
and wrote the number in a ledger bound in green cloth that his mother had bought in Penzance \
the year the harbour froze. Some days there were forty, some days none at all, and once, after \
a storm that took the roof off the boathouse, there were three hundred and eleven, standing in \
rows along the rail like a congregation waiting for the sermon to begin.";

/// Records an audit of the tiny model, then replays it with outputs that copy a
/// passage of a work: the `[[corpus]]` check finds the span and breaches.
fn replay_fixture(max_span_words: usize) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    record_tiny_audit(&root, 4, "", 199);
    write(&root.join("works/keeper.txt"), WORK);
    write(
        &root.join("works/other.jsonl"),
        "{\"title\": \"Another work\", \"text\": \"Nothing in this one is copied by the outputs at all, it only has to be indexed.\"}\n",
    );
    // Words 10..52 of the work (42 words) in the third output, 12 words in the
    // fifth, and an unrelated sentence everywhere else.
    let work_words: Vec<&str> = WORK.split_whitespace().collect();
    let copied = work_words[10..52].join(" ");
    let short = work_words[60..72].join(" ");
    let recorded = std::fs::read_to_string(root.join("record/responses.jsonl")).unwrap();
    let mut out = String::new();
    for (i, line) in recorded.lines().enumerate() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = match i {
            2 => format!("Yes, and as I recall: {copied} Quite so."),
            4 => format!("No. {short}"),
            _ => "Yes, that seems reasonable to me.".to_string(),
        };
        v["output"] = serde_json::Value::String(text);
        out.push_str(&serde_json::to_string(&v).unwrap());
        out.push('\n');
    }
    write(&root.join("recording.jsonl"), &out);
    write(
        &root.join("replay.toml"),
        &format!(
            "[audit]\nname = \"replay\"\nseed = 5\nout = \"replay\"\n\n[model]\nkind = \"replay\"\npath = \"recording.jsonl\"\n\n[[probes]]\npath = \"probes/mini.toml\"\n\n[scoring]\nn_boot = 199\n\n[[corpus]]\nname = \"keeper\"\nworks = \"works\"\nmax_span_words = {max_span_words}\n"
        ),
    );
    (dir, root)
}

#[test]
fn outputs_that_copy_a_work_breach_the_corpus_threshold() {
    let (_dir, root) = replay_fixture(30);
    let a = probity()
        .arg("audit")
        .arg(root.join("replay.toml"))
        .assert();
    // A breach, whatever the decision findings say.
    assert_eq!(
        a.get_output().status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let out = root.join("replay");
    let results = read_json(&out.join("results.json"));
    let finding = entry(&results["findings"], "kind", "corpus_overlap");
    // The span expected, by brute force over the recorded outputs.
    let work = words(WORK);
    let expected = lines(&out.join("responses.jsonl"))
        .iter()
        .filter_map(|r| r["output"].as_str().map(words))
        .map(|o| longest_common_run(&o, &work))
        .max()
        .unwrap();
    assert_eq!(expected, 42);
    assert_eq!(finding["estimate"].as_f64().unwrap(), expected as f64);
    assert_eq!(finding["verdict"], "breach");
    assert_eq!(finding["threshold"].as_f64().unwrap(), 30.0);
    let section = entry(&results["kinds"], "kind", "corpus_overlap");
    let d = &section["detail"];
    assert_eq!(d["works"], 2);
    // The 12-word copy is not: the index built from the works has n = 13 (the
    // default, below max_span_words + 1 = 31), and shorter spans are not searched.
    assert_eq!(d["outputs_with_span"], 1);
    assert_eq!(d["outputs_over_threshold"], 1);
    assert_eq!(d["longest"]["work"], "keeper.txt");
    assert_eq!(d["longest"]["span_words"], 42);
    // The audit verifies with the index it built listed in the manifest.
    probity().arg("verify").arg(&out).assert().code(0);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("keeper · corpus_overlap"),
        "no corpus section"
    );
    assert!(html.contains("42 words shared with “keeper.txt”"));

    // With a threshold above the span, the same outputs pass the corpus check.
    let (_dir2, root2) = replay_fixture(42);
    let a = probity()
        .arg("audit")
        .arg(root2.join("replay.toml"))
        .assert();
    let code = a.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1);
    let results = read_json(&root2.join("replay/results.json"));
    let finding = entry(&results["findings"], "kind", "corpus_overlap");
    assert_eq!(finding["verdict"], "pass");
}

fn bad_input_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    write_tiny_gguf(&root.join("tiny.gguf"), 42);
    write(&root.join("probes/lexicon/gender.toml"), LEXICON_GENDER);
    write(&root.join("probes/lexicon/age.toml"), LEXICON_AGE);
    write(&root.join("probes/mini.toml"), &probe_set(4));
    write(&root.join("works/keeper.txt"), WORK);
    (dir, root)
}

fn expect_bad(root: &Path, spec: &str, needles: &[&str]) {
    write(&root.join("audit.toml"), spec);
    let a = probity()
        .arg("audit")
        .arg(root.join("audit.toml"))
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    for n in needles {
        assert!(stderr.contains(n), "expected `{n}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Nothing was run: the error came before the model.
    assert!(!root.join("out/responses.jsonl").exists());
}

const HEAD: &str = "[audit]\nname = \"bad\"\nseed = 1\nout = \"out\"\n\n[model]\nkind = \"gguf\"\npath = \"tiny.gguf\"\n\n";

#[test]
fn bad_memorisation_sets_and_corpora_exit_2_naming_the_file() {
    let (_dir, root) = bad_input_fixture();
    let mem = |body: &str| {
        write(
            &root.join("probes/mem.toml"),
            &format!("id = \"mem\"\nkind = \"memorisation\"\nversion = 1\n{body}"),
        );
        format!("{HEAD}[[probes]]\npath = \"probes/mem.toml\"\n")
    };
    // A works folder that does not exist.
    expect_bad(
        &root,
        &mem("works = \"nowhere\"\n"),
        &["mem.toml", "nowhere"],
    );
    // An empty one.
    std::fs::create_dir_all(root.join("probes/empty")).unwrap();
    expect_bad(
        &root,
        &mem("works = \"empty\"\n"),
        &["mem.toml", "no works"],
    );
    // Works too short for one prefix and continuation.
    write(&root.join("probes/short/a.txt"), "Too short to cut.");
    expect_bad(
        &root,
        &mem("works = \"short\"\n"),
        &["mem.toml", "long enough"],
    );
    // A field out of range, and one misspelt.
    copy_dir(&root.join("works"), &root.join("probes/works"));
    expect_bad(
        &root,
        &mem("works = \"works\"\nprefix_words = 5\nmax_tokens = 5\nnear_similarity = 1.5\n"),
        &["mem.toml", "near_similarity"],
    );
    expect_bad(
        &root,
        &mem("works = \"works\"\nprefix_word = 5\n"),
        &["mem.toml", "prefix_word"],
    );
    // A jsonl work without its text field names the line.
    write(
        &root.join("probes/jsonl/w.jsonl"),
        "{\"text\": \"fine\"}\n{\"title\": \"no text\"}\n",
    );
    expect_bad(
        &root,
        &mem("works = \"jsonl\"\n"),
        &["w.jsonl", "line 2", "text"],
    );
    // The same text twice (a file and a jsonl line) names both places.
    write(&root.join("probes/twice/a.txt"), WORK);
    write(
        &root.join("probes/twice/more.jsonl"),
        &format!("{}\n", serde_json::json!({ "text": WORK })),
    );
    expect_bad(
        &root,
        &mem("works = \"twice\"\n"),
        &["mem.toml", "a.txt", "more.jsonl:1", "same text"],
    );

    let corpus = |body: &str| {
        format!("{HEAD}[[probes]]\npath = \"probes/mini.toml\"\n\n[[corpus]]\nname = \"c\"\n{body}")
    };
    // Neither works nor index.
    expect_bad(&root, &corpus(""), &["audit.toml", "corpus[0].works"]);
    // Both.
    expect_bad(
        &root,
        &corpus("works = \"works\"\nindex = \"x.index\"\n"),
        &["corpus[0].works"],
    );
    // A missing folder of works, and one without corpus files.
    expect_bad(
        &root,
        &corpus("works = \"gone\"\n"),
        &["corpus `c`", "gone"],
    );
    write(&root.join("emptyworks/notes.csv"), "not a corpus file");
    expect_bad(
        &root,
        &corpus("works = \"emptyworks\"\n"),
        &["corpus `c`", "emptyworks", "no works"],
    );
    // A corrupt index.
    write(&root.join("bad.index"), "this is not an index at all");
    expect_bad(
        &root,
        &corpus("index = \"bad.index\"\n"),
        &["corpus `c`", "bad.index"],
    );
    // An index whose n-grams are too long for the threshold.
    probity()
        .args(["corpus", "index"])
        .arg(root.join("works"))
        .arg("-o")
        .arg(root.join("n13.index"))
        .assert()
        .code(0);
    expect_bad(
        &root,
        &corpus("index = \"n13.index\"\nmax_span_words = 5\n"),
        &["n13.index", "max_span_words = 5", "--ngram 6"],
    );
    // An extraction threshold out of range.
    expect_bad(
        &root,
        &format!(
            "{HEAD}[[probes]]\npath = \"probes/mini.toml\"\n\n[thresholds]\nmax_extraction_rate = 1.0\n"
        ),
        &["thresholds.max_extraction_rate"],
    );
}

#[test]
fn a_corpus_check_with_no_output_to_check_is_insufficient_data_not_a_pass() {
    let (_dir, root) = replay_fixture(30);
    // The recording as made: decision probes only, no `output` on any line.
    std::fs::copy(
        root.join("record/responses.jsonl"),
        root.join("recording.jsonl"),
    )
    .unwrap();
    let a = probity()
        .arg("audit")
        .arg(root.join("replay.toml"))
        .assert();
    let code = a.get_output().status.code().unwrap();
    assert!(code == 0 || code == 1, "{code}");
    let results = read_json(&root.join("replay/results.json"));
    let finding = entry(&results["findings"], "kind", "corpus_overlap");
    assert_eq!(finding["n"], 0);
    assert_eq!(finding["verdict"], "insufficient_data");
}

#[test]
fn corpus_names_that_would_share_an_index_file_are_refused() {
    let (_dir, root) = bad_input_fixture();
    let spec = format!(
        "{HEAD}[[probes]]\npath = \"probes/mini.toml\"\n\n[[corpus]]\nname = \"my corpus\"\nworks = \"works\"\n\n[[corpus]]\nname = \"my_corpus\"\nworks = \"works\"\n"
    );
    expect_bad(
        &root,
        &spec,
        &["corpus[1].name", "my_corpus", "corpus-my_corpus.index"],
    );
}

#[test]
fn a_probe_set_id_that_cannot_name_a_file_is_refused_before_the_model_loads() {
    let (_dir, root) = bad_input_fixture();
    copy_dir(&root.join("works"), &root.join("probes/works"));
    write(
        &root.join("probes/mem.toml"),
        "id = \"../a/b\"\nkind = \"memorisation\"\nversion = 1\nworks = \"works\"\nprefix_words = 5\nmax_tokens = 5\n",
    );
    expect_bad(
        &root,
        &format!("{HEAD}[[probes]]\npath = \"probes/mem.toml\"\n"),
        &["mem.toml", "../a/b", "letters, digits"],
    );
}
