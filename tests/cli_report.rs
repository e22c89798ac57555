//! `probity report` in every format, from an audit replayed from a recording whose
//! outputs, probe text and spec strings carry markup: escaping in every format,
//! the JUnit and CycloneDX outputs against their published schemas, and the HTML
//! report in a real browser (headless Chromium: no console errors, every section
//! present, a PNG screenshot and a PDF print kept under `target/artefacts/`).
//! Also the replay backend's own rules: missing probes reported, bad recordings
//! named by file and line.

mod common;

use common::mini::record_tiny_audit;
use common::{probity, repo, write};
use predicates::str::contains;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Text that breaks every format it is not escaped for.
const HOSTILE: &str =
    "<script>alert(1)</script> </table> ]]> [click](http://evil.example) **bold** | pipe";

/// The sections a full model-audit report must have, by element id.
const SECTIONS: &[&str] = &[
    "verdict",
    "model",
    "uses",
    "training-data",
    "ethics",
    "findings",
    "limitations",
    "method",
    "provenance",
    "reproducibility",
];

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn path(&self, p: &str) -> PathBuf {
        self.root.join(p)
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Audits the tiny model once to get a recording, writes hostile outputs into it,
/// and replays it under a spec whose strings are hostile too. The replayed out
/// dir is `replay/`.
fn replayed_audit() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    record_tiny_audit(&root, 6, HOSTILE, 499);
    let hostile = toml_string(HOSTILE);
    let documented = format!(
        r#"
[audit.ethical_considerations]
bias = {hostile}

[training_summary]
provider = {hostile}

[[training_data]]
name = {hostile}
kind = "crawled"
crawler = "TestBot"
known_biases = {hostile}

[[training_data]]
name = "Generated answers"
kind = "synthetic"
generated_by = "another model"
"#
    );

    // Every recorded response gets a hostile output, as a recording made by
    // another tool might carry.
    let recorded = std::fs::read_to_string(root.join("record/responses.jsonl")).unwrap();
    let mut lines = String::new();
    for line in recorded.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        v["output"] = serde_json::Value::String(format!("Yes. {HOSTILE}"));
        lines.push_str(&serde_json::to_string(&v).unwrap());
        lines.push('\n');
    }
    write(&root.join("recording.jsonl"), &lines);
    write(
        &root.join("replay.toml"),
        &format!(
            "[audit]\nname = {hostile}\nseed = 5\nout = \"replay\"\nintended_use = {hostile}\n\n[model]\nkind = \"replay\"\npath = \"recording.jsonl\"\nlabel = {hostile}\n\n[[probes]]\npath = \"probes/mini.toml\"\n\n[scoring]\nn_boot = 499\n{documented}"
        ),
    );
    Fixture { _dir: dir, root }
}

fn run_replay(f: &Fixture) {
    let a = probity().arg("audit").arg(f.path("replay.toml")).assert();
    let code = a.get_output().status.code().unwrap();
    assert!(
        code == 0 || code == 1,
        "replay exited {code}: {}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
}

fn render(dir: &Path, format: &str) -> String {
    let out = probity()
        .args([
            "report",
            dir.to_str().unwrap(),
            "--format",
            format,
            "-o",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report --format {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn results(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[test]
fn replay_reproduces_the_recorded_audit() {
    let f = replayed_audit();
    run_replay(&f);
    let recorded = results(&f.path("record"));
    let replayed = results(&f.path("replay"));
    // Same responses, same seed: the same findings, figure for figure.
    assert_eq!(recorded["findings"], replayed["findings"]);
    assert_eq!(recorded["groups"], replayed["groups"]);
    assert_eq!(replayed["model"]["architecture"], "replay");
    assert_eq!(replayed["model"]["name"], HOSTILE);
    assert!(replayed["summary"].get("n_missing").is_none());
    // One example per finding, with the recorded output.
    let examples = replayed["examples"].as_array().unwrap();
    assert_eq!(
        examples.len(),
        replayed["findings"].as_array().unwrap().len()
    );
    assert!(examples[0]["output"].as_str().unwrap().contains("<script>"));
}

#[test]
fn every_format_escapes_untrusted_text() {
    let f = replayed_audit();
    run_replay(&f);
    let dir = f.path("replay");

    let html = render(&dir, "html");
    assert!(!html.contains("<script>alert"), "raw script in the HTML");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2F;script&gt;"));
    assert!(!html.contains("<strong>bold"));
    assert!(!html.contains("]]>"), "raw ]]> in the HTML");
    // Every table the template opens is closed once: no injected </table>.
    assert_eq!(
        html.matches("<table").count(),
        html.matches("</table>").count()
    );

    let md = render(&dir, "md");
    let card = render(&dir, "model-card");
    for (name, text) in [("md", &md), ("model-card body", &card)] {
        let body = if name == "md" {
            text.as_str()
        } else {
            text.splitn(3, "---\n").nth(2).unwrap()
        };
        assert!(!body.contains("<script>"), "{name}: raw <script>");
        assert!(!body.contains("](http"), "{name}: a live Markdown link");
        assert!(!body.contains("**bold**"), "{name}: live emphasis");
        assert!(
            body.contains(r"\<script\>"),
            "{name}: the text is shown escaped"
        );
    }
    // Table rows in the summary keep their seven cells: an escaped pipe is no border.
    for row in md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Variant"))
    {
        let cells = row.replace(r"\|", "").matches('|').count();
        assert_eq!(cells, 8, "{row}");
    }
    // In the card's front matter, hostile text only ever sits in a quoted scalar.
    let front = card.split("---\n").nth(1).unwrap();
    for line in front.lines().filter(|l| l.contains('<') || l.contains('[')) {
        let value = line.split_once(": ").map(|(_, v)| v).unwrap_or("");
        assert!(
            value.starts_with('"') && value.ends_with('"'),
            "unquoted YAML: {line}"
        );
    }

    let junit = render(&dir, "junit");
    assert!(!junit.contains("<script>"));
    assert!(!junit.contains("]]>"));
    assert!(junit.contains("&lt;script&gt;"));

    let bom = render(&dir, "cyclonedx");
    let bom: serde_json::Value = serde_json::from_str(&bom).expect("the ML-BOM is JSON");
    // JSON keeps the text as data, exactly.
    assert_eq!(bom["components"][0]["name"], HOSTILE);
    let sources: Vec<&str> = bom["components"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["type"] == "data")
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(sources.contains(&HOSTILE));
}

/// Runs `tests/schemas/validate.py`; `None` when its Python packages are missing
/// (a failure under CI=true, where `make test` installs them).
fn validate(kind: &str, file: &Path) -> Option<String> {
    let out = Command::new("python3")
        .arg(repo().join("tests/schemas/validate.py"))
        .arg(kind)
        .arg(file)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => Some(text),
        Some(2) if !std::env::var("CI").is_ok_and(|v| v == "true") => {
            eprintln!("skipped: {text}");
            None
        }
        _ => panic!("{kind} {}: {text}", file.display()),
    }
}

#[test]
fn junit_and_cyclonedx_validate_against_their_schemas() {
    let f = replayed_audit();
    run_replay(&f);
    let dir = f.path("replay");
    probity()
        .args(["report", dir.to_str().unwrap()])
        .args(["--format", "junit", "--format", "cyclonedx"])
        .assert()
        .code(0)
        .stdout(contains("junit.xml"))
        .stdout(contains("bom.cdx.json"));
    let r = results(&dir);
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    // One test case per finding and gate (one gate: the spec's rule).
    let n_findings = r["findings"].as_array().unwrap().len();
    assert_eq!(junit.matches("<testcase ").count(), n_findings);
    assert_eq!(
        junit.matches("<failure ").count(),
        r["summary"]["n_breaches"].as_u64().unwrap() as usize
    );
    if let Some(out) = validate("junit", &dir.join("junit.xml")) {
        assert!(out.contains("valid"), "{out}");
    }
    let bom: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bom.cdx.json")).unwrap()).unwrap();
    let metrics = bom["components"][0]["modelCard"]["quantitativeAnalysis"]["performanceMetrics"]
        .as_array()
        .unwrap();
    assert_eq!(metrics.len(), n_findings);
    for (m, f) in metrics.iter().zip(r["findings"].as_array().unwrap()) {
        let value: f64 = m["value"].as_str().unwrap().parse().unwrap();
        assert_eq!(value, f["estimate"].as_f64().unwrap());
        let low: f64 = m["confidenceInterval"]["lowerBound"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(low, f["ci_low"].as_f64().unwrap());
    }
    if let Some(out) = validate("cyclonedx", &dir.join("bom.cdx.json")) {
        assert!(out.contains("valid"), "{out}");
    }
    // Same inputs, same BOM: no timestamp, a serial number from the audit id.
    let again = render(&dir, "cyclonedx");
    assert_eq!(
        again,
        std::fs::read_to_string(dir.join("bom.cdx.json")).unwrap()
    );
}

#[test]
fn model_card_front_matter_carries_every_finding() {
    let f = replayed_audit();
    run_replay(&f);
    let dir = f.path("replay");
    let card = render(&dir, "model-card");
    let r = results(&dir);
    assert!(card.starts_with("---\n"));
    let front = card.split("---\n").nth(1).unwrap();
    assert!(front.contains("model-index:"));
    let values: Vec<f64> = front
        .lines()
        .filter_map(|l| l.trim().strip_prefix("value: "))
        .map(|v| v.parse().unwrap())
        .collect();
    let expected: Vec<f64> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["estimate"].as_f64().unwrap() * 1e4).round() / 1e4)
        .collect();
    let mut sorted_values = values.clone();
    let mut sorted_expected = expected.clone();
    sorted_values.sort_by(f64::total_cmp);
    sorted_expected.sort_by(f64::total_cmp);
    assert_eq!(sorted_values, sorted_expected);
    for heading in [
        "## Model details",
        "## Uses",
        "## Bias, risks, and limitations",
        "## Training details",
        "## Evaluation",
    ] {
        assert!(card.contains(heading), "card lacks {heading}");
    }
    // What the spec leaves empty is said to be undocumented, not hidden.
    assert!(card.contains("_Not documented._"));
}

#[test]
fn report_rejects_unsuitable_requests() {
    let f = replayed_audit();
    run_replay(&f);
    let dir = f.path("replay");
    probity()
        .args(["report", dir.to_str().unwrap(), "--format", "md"])
        .args(["--format", "junit", "-o", "x"])
        .assert()
        .code(2)
        .stderr(contains("one --format"));
    // A decision table has no model for a card or an ML-BOM.
    let table = f.path("table");
    write(
        &f.path("t.csv"),
        "sex,hired\nF,1\nF,0\nF,1\nM,1\nM,1\nM,0\nM,1\n",
    );
    probity()
        .args(["fairness", "--data"])
        .arg(f.path("t.csv"))
        .args([
            "--group",
            "sex",
            "--prediction",
            "hired",
            "--n-boot",
            "99",
            "--out",
        ])
        .arg(&table)
        .output()
        .unwrap();
    for format in ["model-card", "cyclonedx"] {
        probity()
            .args(["report", table.to_str().unwrap(), "--format", format])
            .assert()
            .code(2)
            .stderr(contains("decision-table audit"));
    }
    // Its summary and JUnit render.
    assert!(render(&table, "md").contains("Decision table"));
    assert!(render(&table, "junit").contains("<testsuites"));
    // An out dir without results.
    probity()
        .args(["report", f.path("nowhere").to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(contains("results.json"));
}

#[test]
fn replay_reports_missing_probes_and_names_bad_lines() {
    let f = replayed_audit();
    // Drop the first two recorded responses: reported as missing, not invented.
    let recording = std::fs::read_to_string(f.path("recording.jsonl")).unwrap();
    let total = recording.lines().count();
    let kept: String = recording
        .lines()
        .skip(2)
        .map(|l| format!("{l}\n"))
        .collect();
    write(&f.path("recording.jsonl"), &kept);
    run_replay(&f);
    let r = results(&f.path("replay"));
    assert_eq!(r["summary"]["n_missing"], 2);
    assert_eq!(
        r["summary"]["n_probes"].as_u64().unwrap() as usize,
        total - 2
    );

    // A torn line: exit 2, the file and line named.
    write(
        &f.path("recording.jsonl"),
        &format!("{}{{\"probe_id\": \"x\"\n", &kept),
    );
    probity()
        .arg("audit")
        .arg(f.path("replay.toml"))
        .assert()
        .code(2)
        .stderr(contains(format!("recording.jsonl:{}", total - 1)));

    // A recording of another probe set's text: exit 2 at that line.
    let changed = kept.replacen("Case 1:", "Case one:", 1);
    let line = changed
        .lines()
        .position(|l| l.contains("Case one:"))
        .unwrap()
        + 1;
    write(&f.path("recording.jsonl"), &changed);
    probity()
        .arg("audit")
        .arg(f.path("replay.toml"))
        .assert()
        .code(2)
        .stderr(contains(format!("recording.jsonl:{line}")))
        .stderr(contains("no longer matches"));

    // A missing recording file: exit 2 naming it.
    std::fs::remove_file(f.path("recording.jsonl")).unwrap();
    probity()
        .arg("audit")
        .arg(f.path("replay.toml"))
        .assert()
        .code(2)
        .stderr(contains("recording.jsonl"));
}

/// The Chromium binary: `PROBITY_CHROMIUM`, else the first of the usual names on
/// PATH. `None` (a skip) outside CI; under CI=true its absence fails the test.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PROBITY_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    for name in ["chromium", "chromium-browser", "google-chrome", "chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
        {
            if out.status.success() {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
                if !path.is_empty() {
                    return Some(PathBuf::from(path));
                }
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and no Chromium found: install Debian's `chromium` (.ci/run does)");
    }
    eprintln!("skipped: no Chromium on PATH (apt-get install chromium, or set PROBITY_CHROMIUM)");
    None
}

fn headless(chromium: &Path, profile: &Path, args: &[String]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .expect("chromium runs")
}

#[test]
fn report_renders_in_a_real_browser() {
    let Some(chromium) = chromium() else { return };
    let f = replayed_audit();
    run_replay(&f);
    let report = f.path("replay/report.html");
    let url = format!("file://{}", report.display());
    let artefacts = repo().join("target/artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let profile = tempfile::tempdir().unwrap();

    // The DOM after parsing, with the console on stderr.
    let out = headless(
        &chromium,
        profile.path(),
        &["--dump-dom".into(), url.clone()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("net::ERR"))
        .collect();
    assert!(console.is_empty(), "console output: {console:?}");
    for id in SECTIONS {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "no section #{id} in the DOM"
        );
    }
    // The hostile text stayed text: no script element, no link to it.
    assert!(!dom.contains("<script"), "a script element reached the DOM");
    assert!(!dom.contains("href=\"http://evil.example"));
    assert!(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));

    // A screenshot at desktop and phone widths, and a PDF print.
    for (name, size) in [
        ("report.png", "1280,4000"),
        ("report-phone.png", "390,4000"),
    ] {
        let png = artefacts.join(name);
        let _ = std::fs::remove_file(&png);
        let out = headless(
            &chromium,
            profile.path(),
            &[
                format!("--screenshot={}", png.display()),
                format!("--window-size={size}"),
                "--hide-scrollbars".into(),
                url.clone(),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{name} is not a PNG"
        );
        assert!(
            bytes.len() > 20_000,
            "{name} is nearly empty ({} bytes)",
            bytes.len()
        );
    }
    let pdf = artefacts.join("report.pdf");
    let _ = std::fs::remove_file(&pdf);
    let out = headless(
        &chromium,
        profile.path(),
        &[
            format!("--print-to-pdf={}", pdf.display()),
            "--no-pdf-header-footer".into(),
            url,
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "the print is not a PDF");
    // More than one page: the whole report printed, not a blank sheet.
    let pages = bytes
        .windows(12)
        .filter(|w| w.starts_with(b"/Type /Page") && w[11] != b's')
        .count();
    assert!(pages >= 2, "the PDF has {pages} page objects");
}

#[test]
fn decision_table_heat_map_states_every_cell() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    // sex × race: F/A 1 of 4, F/B 3 of 4, M/A 2 of 4, M/B 4 of 4 selected.
    let mut text = String::from("sex,race,hired\n");
    for (sex, race, selected) in [("F", "A", 1), ("F", "B", 3), ("M", "A", 2), ("M", "B", 4)] {
        for i in 0..4 {
            text.push_str(&format!("{sex},{race},{}\n", u8::from(i < selected)));
        }
    }
    write(&csv, &text);
    let out = dir.path().join("out");
    probity()
        .args(["fairness", "--data", csv.to_str().unwrap()])
        .args(["--group", "sex", "--group", "race", "--prediction", "hired"])
        .args(["--n-boot", "99", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let heat = html
        .split("<table class=\"heat\">")
        .nth(1)
        .expect("a heat map")
        .split("</table>")
        .next()
        .unwrap();
    // Each cell states its rate and n: readable without colour.
    for cell in [
        "0.250 (n = 4)",
        "0.750 (n = 4)",
        "0.500 (n = 4)",
        "1.000 (n = 4)",
    ] {
        assert!(heat.contains(cell), "heat map lacks {cell}");
    }
    assert!(html.contains("Selection rate by sex × race"));
}
