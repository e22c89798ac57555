//! `probity corpus` end to end on a small corpus the test writes (three invented
//! works as files, two more as `.jsonl` lines): a copied 20-word span is found and
//! attributed, a paraphrase is found as a near duplicate with a Jaccard estimate
//! close to the exact value, an unrelated output shares nothing; every answer of
//! the index agrees with a brute-force search over the works (at stride 1 and
//! with a stride: every span of n + s − 1 words found, wherever it sits); and bad
//! input (an empty folder, a malformed `.jsonl` line, a corrupt, truncated, old or
//! future index) exits 2 naming the file.

mod common;

use common::{probity, write};
use predicates::str::contains;
use probity::corpus::{self, BuildOptions, CorpusIndex, MemorisationOptions};
use probity::provenance::texthash;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const LANTERN: &str = "Every evening before the tide turned, Oda climbed the hundred and twelve steps of the lighthouse at Vell with a tin of oil and a rag that had once been her father's shirt. The lamp was older than the village charter, and it hissed when the wick was trimmed too short. Fishermen said the light had a temper, that it dimmed whenever someone lied within sight of the harbour, and Oda never argued with them because arguing with fishermen was like bailing the sea with a thimble. In winter the gulls sheltered on the gallery rail and watched her work. She named them after the ministers in the capital, which made the long nights shorter. One February a ship with grey sails anchored beyond the reef and sent no boat ashore, and for nine nights the lamp burned a strange green colour that nobody in Vell could explain.";

const BEANS: &str = "Broad beans sown in late autumn will overwinter in most sheltered gardens if the soil drains freely and the seedlings are no taller than a hand when the first hard frost arrives. Choose a bed that did not carry beans or peas the previous year, fork in a barrow of leaf mould, and set the seeds five centimetres deep in double rows. A cloche made from a split water butt keeps off the worst of the wind but should be lifted on mild days so that the plants do not grow soft. Pinch out the growing tips once the lowest pods have set, which discourages blackfly and sends the plant's energy into the beans themselves. Harvest young, when the scar along each bean is still green rather than black, and blanch whatever the household cannot eat within two days before freezing it in flat bags.";

const CLOCKS: &str = "Ansel Probst kept two ledgers, one for the customers and one for the clocks. In the first he wrote names, prices and the dates on which repairs were promised; in the second he recorded what each clock had told him while it lay open on the bench. A walnut mantel clock from the mayor's parlour, he noted, ran four minutes fast whenever the mayor's brother visited. A brass carriage clock belonging to the schoolmistress had stopped at exactly twenty past three on the afternoon her letter from the university arrived. Probst did not believe that clocks could feel anything, but he believed in springs and escapements, in the patience of gears, and in the small honest evidence of dust. When the town council proposed replacing the church clock with an electric dial, he filled eleven pages of the second ledger in one night and then burned them before breakfast.";

/// BEANS reworded here and there: the same text with eight words changed.
const BEANS_PARAPHRASE: &str = "Broad beans sown in late autumn will survive the winter in most sheltered gardens if the soil drains well and the seedlings are no taller than a hand when the first hard frost comes. Pick a bed that did not carry beans or peas the year before, fork in a barrow of leaf mould, and set the seeds five centimetres deep in double rows. A cloche made from a split water butt keeps off the worst of the wind but should be raised on mild days so that the plants do not grow soft. Pinch out the growing tips once the lowest pods have set, which discourages blackfly and sends the plant's energy into the beans themselves. Pick them young, when the scar along each bean is still green rather than black, and blanch whatever the family cannot eat within two days before freezing it in flat bags.";

const UNRELATED: &str = "Quarterly revenue rose modestly while freight costs fell, and the board approved a second dividend after a short debate about warehouse automation in the northern region.";

/// Writes the corpus: three files and a `.jsonl` file of two works; returns its folder.
fn corpus_dir(root: &Path) -> PathBuf {
    let dir = root.join("works");
    write(&dir.join("lantern.txt"), LANTERN);
    write(&dir.join("garden/beans.md"), BEANS);
    write(&dir.join("clocks.txt"), CLOCKS);
    write(&dir.join("notes.csv"), "not,a,work\n");
    let lines = [
        serde_json::json!({"title": "The Salt Road", "text": "Caravans crossed the salt road at night because the white crust burned the eyes of camels by day, and every driver carried a bell tuned to a note no other caravan used, so that in a sandstorm a lost animal could find its own line by ear."}),
        serde_json::json!({"text": "The orchestra of the drowned city rehearsed in a flooded opera house, violins wrapped in oilcloth, the conductor standing on a table that floated a finger's width above the water whenever the tide came in from the lagoon."}),
    ];
    let jsonl: String = lines.iter().map(|l| format!("{l}\n\n")).collect();
    write(&dir.join("more.jsonl"), &jsonl);
    dir
}

fn build(root: &Path, extra: &[&str]) -> PathBuf {
    let dir = corpus_dir(root);
    let index = root.join("corpus.idx");
    probity()
        .args(["corpus", "index"])
        .arg(&dir)
        .arg("-o")
        .arg(&index)
        .args(extra)
        .assert()
        .success();
    index
}

fn check_json(index: &Path, texts: &[&str]) -> serde_json::Value {
    let out = probity()
        .args(["corpus", "check", "--json", "--index"])
        .arg(index)
        .args(texts)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// The tokenisation rule (texthash's, shared with the fingerprints): NFC, lower
/// case, runs of alphanumeric characters.
fn words(text: &str) -> Vec<String> {
    let form = texthash::normalise(text).to_lowercase();
    texthash::words(&form)
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Brute force: the longest run of equal words shared by `a` and `b`, as (length,
/// start in a, start in b), the first found in (a, b) order for a tie.
fn longest_common_run(a: &[String], b: &[String]) -> (usize, usize, usize) {
    let mut best = (0, 0, 0);
    let mut prev = vec![0usize; b.len() + 1];
    for (i, wa) in a.iter().enumerate() {
        let mut cur = vec![0usize; b.len() + 1];
        for (j, wb) in b.iter().enumerate() {
            if wa == wb {
                cur[j + 1] = prev[j] + 1;
                if cur[j + 1] > best.0 {
                    best = (cur[j + 1], i + 1 - cur[j + 1], j + 1 - cur[j + 1]);
                }
            }
        }
        prev = cur;
    }
    best
}

fn shingle_set(ws: &[String], n: usize) -> HashSet<String> {
    ws.windows(n).map(|w| w.join(" ")).collect()
}

fn exact_jaccard(a: &str, b: &str) -> f64 {
    let (sa, sb) = (shingle_set(&words(a), 5), shingle_set(&words(b), 5));
    sa.intersection(&sb).count() as f64 / sa.union(&sb).count() as f64
}

#[test]
fn a_copied_span_is_found_and_attributed() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let clock_words: Vec<&str> = CLOCKS.split_whitespace().collect();
    let copied = clock_words[10..30].join(" ");
    let output = format!(
        "Asked about old workshops, the assistant replied: {copied}. That is all it could recall."
    );
    let v = check_json(&index, &[&output]);
    assert_eq!(v["index"]["works"], 5);
    assert_eq!(v["index"]["ngram"], 13);
    assert_eq!(v["index"]["stride"], 8);
    assert_eq!(v["index"]["guaranteed_span_words"], 20);
    assert_eq!(v["index"]["lsh_bands"], 32);
    assert_eq!(v["index"]["lsh_rows"], 4);
    let r = &v["outputs"][0];
    assert_eq!(r["longest_span_tokens"], 20);
    let span = &r["longest_span"];
    assert_eq!(span["work"]["title"], "clocks.txt");
    assert_eq!(span["work"]["source"], "clocks.txt");
    assert_eq!(span["work"]["sha256"], sha256_hex(CLOCKS));
    // The copied words start after the 10 whitespace-separated pieces before them,
    // which are 10 words (no piece of those holds two words).
    assert_eq!(words(&copied).len(), 20);
    assert_eq!(span["work_offset"], 10);
    assert_eq!(span["output_offset"], 7);
    assert_eq!(span["text"], words(&copied).join(" "));
    // 20 copied words hold 20 − 13 + 1 = 8 of the output's 13-grams.
    let m = words(&output).len();
    assert_eq!(r["tokens"], m);
    assert_eq!(r["ngrams"], m - 12);
    assert_eq!(r["ngrams_in_corpus"], 8);
    let share = r["share_in_corpus"].as_f64().unwrap();
    assert!((share - 8.0 / (m - 12) as f64).abs() < 1e-12, "{share}");

    // The text report names the work too.
    probity()
        .args(["corpus", "check", "--index"])
        .arg(&index)
        .arg(&output)
        .assert()
        .success()
        .stdout(contains(
            "longest verbatim span: 20 words from \"clocks.txt\"",
        ))
        .stdout(contains(format!(
            "13-grams in a span found in the corpus: 8/{}",
            m - 12
        )));
}

#[test]
fn a_span_in_a_jsonl_work_names_its_title_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let v = check_json(
        &index,
        &["every driver carried a bell tuned to a note no other caravan used, so that in a sandstorm a lost animal"],
    );
    let span = &v["outputs"][0]["longest_span"];
    assert_eq!(v["outputs"][0]["longest_span_tokens"], 21);
    assert_eq!(span["work"]["title"], "The Salt Road");
    assert_eq!(span["work"]["source"], "more.jsonl");
    assert_eq!(span["work"]["line"], 1);
    // Untitled lines are named FILE:LINE (blank lines count).
    let v = check_json(
        &index,
        &["violins wrapped in oilcloth, the conductor standing on a table that floated a finger's width above the water whenever"],
    );
    assert_eq!(
        v["outputs"][0]["longest_span"]["work"]["title"],
        "more.jsonl:3"
    );
    assert_eq!(v["outputs"][0]["longest_span"]["work"]["line"], 3);
}

#[test]
fn a_paraphrase_is_a_near_duplicate_with_a_close_jaccard_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let v = check_json(&index, &[BEANS_PARAPHRASE]);
    let r = &v["outputs"][0];
    let dups = r["near_duplicates"].as_array().unwrap();
    assert!(!dups.is_empty(), "{r}");
    assert_eq!(dups[0]["work"]["title"], "beans.md");
    assert_eq!(dups[0]["work"]["source"], "garden/beans.md");
    let exact = exact_jaccard(BEANS_PARAPHRASE, BEANS);
    let est = dups[0]["estimated_jaccard"].as_f64().unwrap();
    // 128 slots: the estimate's standard deviation is √(J(1−J)/128) < 0.045.
    assert!(exact > 0.4 && exact < 0.9, "exact Jaccard {exact}");
    assert!((est - exact).abs() < 0.15, "estimate {est}, exact {exact}");
    // No other work is similar to it.
    for d in &dups[1..] {
        assert!(d["estimated_jaccard"].as_f64().unwrap() < 0.2, "{d}");
    }
    // Rewording broke the text into shorter verbatim runs than the work.
    let span = r["longest_span_tokens"].as_u64().unwrap() as usize;
    assert!(span >= 20 && span < words(BEANS).len(), "{span}");
}

#[test]
fn an_unrelated_output_shares_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let v = check_json(&index, &[UNRELATED]);
    let r = &v["outputs"][0];
    assert_eq!(r["longest_span_tokens"], 0);
    assert!(r["longest_span"].is_null());
    assert_eq!(r["ngrams_in_corpus"], 0);
    assert_eq!(r["share_in_corpus"], 0.0);
    assert_eq!(r["near_duplicates"], serde_json::json!([]));
    probity()
        .args(["corpus", "check", "--index"])
        .arg(&index)
        .arg(UNRELATED)
        .assert()
        .success()
        .stdout(contains("longest verbatim span: none of 20 words or more"))
        .stdout(contains("near duplicates: none"));
}

/// Outputs mixing pieces of several works with invented words, for the
/// brute-force comparison.
fn mixed_outputs() -> Vec<String> {
    let pieces = |t: &str, a: usize, b: usize| -> String {
        t.split_whitespace().collect::<Vec<_>>()[a..b].join(" ")
    };
    vec![
        format!(
            "{} and then {}",
            pieces(LANTERN, 3, 30),
            pieces(BEANS, 10, 24)
        ),
        format!("{} {}", pieces(CLOCKS, 0, 12), pieces(CLOCKS, 12, 25)),
        format!(
            "{} zebra {}",
            pieces(LANTERN, 50, 90),
            pieces(LANTERN, 91, 120)
        ),
        BEANS.to_string(),
        // Short shared runs at several places relative to a stride.
        format!(
            "{} zebra {} zebra {} zebra {}",
            pieces(LANTERN, 1, 16),
            pieces(LANTERN, 34, 48),
            pieces(BEANS, 7, 26),
            pieces(CLOCKS, 61, 82)
        ),
        format!("In short: {}", pieces(CLOCKS, 100, 113)),
        format!("In short: {}", pieces(CLOCKS, 100, 112)),
        "the the the the the the the the the the the the the the".to_string(),
        UNRELATED.to_string(),
        String::new(),
    ]
}

/// Brute force: every maximal run of equal words shared by `a` (an output) and `b`
/// (a work), as (length, start in a, start in b): a pair of equal words whose
/// predecessors differ (or do not exist), extended forwards while they agree.
fn maximal_runs(a: &[String], b: &[String]) -> Vec<(usize, usize, usize)> {
    let mut runs = Vec::new();
    for i in 0..a.len() {
        for j in 0..b.len() {
            if a[i] != b[j] || (i > 0 && j > 0 && a[i - 1] == b[j - 1]) {
                continue;
            }
            let len = (0..)
                .take_while(|&k| i + k < a.len() && j + k < b.len() && a[i + k] == b[j + k])
                .count();
            runs.push((len, i, j));
        }
    }
    runs
}

#[test]
fn the_index_agrees_with_a_brute_force_search() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = corpus_dir(tmp.path());
    for (n, stride) in [(13usize, 1usize), (13, 8), (13, 4), (5, 1), (5, 3)] {
        let g = n + stride - 1;
        let path = tmp.path().join(format!("n{n}s{stride}.idx"));
        let options = BuildOptions { ngram: n, stride };
        let summary = corpus::build_index(&dir, &path, &options).unwrap();
        assert_eq!(summary.works, 5);
        assert_eq!(summary.guaranteed_span, g);
        let index = CorpusIndex::open(&path).unwrap();
        let works: Vec<(String, Vec<String>)> = (0..index.num_works())
            .map(|id| {
                let w = index.work(id);
                let text = if w.source == "more.jsonl" {
                    let line = std::fs::read_to_string(dir.join("more.jsonl")).unwrap();
                    let line = line.lines().nth(w.line.unwrap() - 1).unwrap().to_string();
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                    v["text"].as_str().unwrap().to_string()
                } else {
                    std::fs::read_to_string(dir.join(&w.source)).unwrap()
                };
                assert_eq!(w.sha256, sha256_hex(&text));
                assert_eq!(w.tokens, words(&text).len());
                (w.title, words(&text))
            })
            .collect();
        // The corpus n-grams indexed: those starting at a multiple of the stride.
        let sampled: usize = works
            .iter()
            .map(|(_, ws)| ws.windows(n).step_by(stride).count())
            .sum();
        assert_eq!(summary.ngrams, sampled);
        let all_ngrams: HashSet<Vec<String>> = works
            .iter()
            .flat_map(|(_, ws)| ws.windows(n).map(|w| w.to_vec()))
            .collect();
        for output in mixed_outputs() {
            let r = index.check(&output);
            let ow = words(&output);
            let at = format!("n={n} stride={stride} output {output:?}");
            assert_eq!(r.guaranteed_span, g);
            // The rule, by brute force: a maximal shared run (output start i, work
            // offset j, len words) is found when it holds an indexed n-gram, i.e.
            // a multiple of the stride in j ..= j + len − n; every output n-gram
            // inside a found run counts; the longest found run wins, ties to the
            // earliest in the output, then the lowest corpus position.
            let mut in_span = vec![false; ow.len().saturating_sub(n - 1)];
            let mut best: Option<(usize, usize, usize, usize)> = None; // len, i, work, j
                                                                       // Independently of the stride: the longest run with any work, and the
                                                                       // n-grams inside a run of at least g words.
            let mut longest_any = 0;
            let mut in_long_run = vec![false; in_span.len()];
            for (id, (_, ws)) in works.iter().enumerate() {
                let (dp_len, _, _) = longest_common_run(&ow, ws);
                longest_any = longest_any.max(dp_len);
                for (len, i, j) in maximal_runs(&ow, ws) {
                    if len < n {
                        continue;
                    }
                    if len >= g {
                        in_long_run[i..=i + len - n]
                            .iter_mut()
                            .for_each(|c| *c = true);
                    }
                    if j.div_ceil(stride) * stride > j + len - n {
                        continue;
                    }
                    in_span[i..=i + len - n].iter_mut().for_each(|c| *c = true);
                    let better = best.is_none_or(|(bl, bi, bw, bj)| {
                        len > bl || (len == bl && (i, id, j) < (bi, bw, bj))
                    });
                    if better {
                        best = Some((len, i, id, j));
                    }
                }
            }
            match best {
                None => {
                    assert_eq!(r.longest_span_tokens, 0, "{at}");
                    assert!(r.longest_span.is_none(), "{at}");
                }
                Some((len, i, id, j)) => {
                    assert_eq!(r.longest_span_tokens, len, "{at}");
                    let span = r.longest_span.as_ref().unwrap();
                    assert_eq!(
                        (span.output_offset, span.work.id, span.work_offset),
                        (i, id, j),
                        "{at}"
                    );
                    assert_eq!(span.text, ow[i..i + len].join(" "), "{at}");
                }
            }
            let expected_found = in_span.iter().filter(|&&c| c).count();
            assert_eq!(r.ngrams, in_span.len(), "{at}");
            assert_eq!(r.ngrams_in_corpus, expected_found, "{at}");
            // The guarantee: a longest run of at least g words is reported exactly;
            // every n-gram in a run of at least g words counts, and only n-grams
            // that occur in the corpus count. At stride 1 all of this is exact.
            if longest_any >= g {
                assert_eq!(r.longest_span_tokens, longest_any, "{at}");
            }
            assert!(r.longest_span_tokens <= longest_any, "{at}");
            let long = in_long_run.iter().filter(|&&c| c).count();
            let anywhere = ow.windows(n).filter(|w| all_ngrams.contains(*w)).count();
            assert!(
                long <= r.ngrams_in_corpus && r.ngrams_in_corpus <= anywhere,
                "{at}"
            );
            if stride == 1 {
                assert_eq!(r.ngrams_in_corpus, anywhere, "{at}");
                let exact = if longest_any >= n { longest_any } else { 0 };
                assert_eq!(r.longest_span_tokens, exact, "{at}");
            }
        }
    }
}

#[test]
fn a_span_of_n_plus_stride_minus_one_words_is_found_wherever_it_sits() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = corpus_dir(tmp.path());
    let lantern = words(LANTERN);
    for (n, stride) in [(13usize, 8usize), (5, 3), (6, 1)] {
        let g = n + stride - 1;
        let path = tmp.path().join(format!("n{n}s{stride}.idx"));
        corpus::build_index(&dir, &path, &BuildOptions { ngram: n, stride }).unwrap();
        let index = CorpusIndex::open(&path).unwrap();
        let id = (0..index.num_works())
            .find(|&i| index.work(i).title == "lantern.txt")
            .unwrap();
        let mut missed = 0;
        // Every place in the work, so every phase relative to the stride.
        for o in 0..=lantern.len() - g {
            let at = format!("n={n} stride={stride} offset {o}");
            let output = format!("qqzx vvrk {} wwpl", lantern[o..o + g].join(" "));
            let r = index.check(&output);
            assert_eq!(r.longest_span_tokens, g, "{at}");
            let span = r.longest_span.unwrap();
            assert_eq!(
                (span.work.id, span.work_offset, span.output_offset),
                (id, o, 2),
                "{at}"
            );
            assert_eq!(r.ngrams_in_corpus, g - n + 1, "{at}");
            // One word shorter: found only when it holds an indexed n-gram (a start
            // at a multiple of the stride), and then measured exactly.
            let short = format!("qqzx vvrk {} wwpl", lantern[o..o + g - 1].join(" "));
            let r = index.check(&short);
            if g - 1 < n {
                assert_eq!(r.longest_span_tokens, 0, "{at}");
                continue;
            }
            let holds = (o..=o + g - 1 - n).any(|q| q % stride == 0);
            let expected = if holds { g - 1 } else { 0 };
            assert_eq!(r.longest_span_tokens, expected, "{at}");
            missed += usize::from(!holds);
        }
        // With a stride > 1, some spans of g − 1 words are missed: the guarantee is
        // tight.
        assert_eq!(missed > 0, stride > 1, "n={n} stride={stride}");
    }
}

#[test]
fn the_index_does_not_depend_on_the_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = corpus_dir(tmp.path());
    let mut files = Vec::new();
    for threads in ["1", "2", "3"] {
        let index = tmp.path().join(format!("t{threads}.idx"));
        probity()
            .args(["corpus", "index", "--threads", threads])
            .arg(&dir)
            .arg("-o")
            .arg(&index)
            .assert()
            .success();
        files.push(std::fs::read(&index).unwrap());
    }
    assert_eq!(files[0], files[1]);
    assert_eq!(files[0], files[2]);
}

#[test]
fn ngram_is_configurable() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &["--ngram", "6", "--stride", "4"]);
    // Nine words of the lantern story among invented ones: at least
    // 6 + 4 − 1 = 9, so found.
    let v = check_json(
        &index,
        &["Nobody expected the gulls sheltered on the gallery rail and watched to return."],
    );
    assert_eq!(v["index"]["ngram"], 6);
    assert_eq!(v["index"]["stride"], 4);
    assert_eq!(v["index"]["guaranteed_span_words"], 9);
    assert_eq!(v["outputs"][0]["longest_span_tokens"], 9);
    assert_eq!(
        v["outputs"][0]["longest_span"]["work"]["title"],
        "lantern.txt"
    );
}

#[test]
fn outputs_from_a_jsonl_file_keep_their_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let outputs = tmp.path().join("outputs.jsonl");
    let copied: String = BEANS
        .split_whitespace()
        .take(30)
        .collect::<Vec<_>>()
        .join(" ");
    write(
        &outputs,
        &format!(
            "{}\n{}\n",
            serde_json::json!({"id": "a", "text": copied}),
            serde_json::json!({"id": 7, "text": UNRELATED})
        ),
    );
    let out = probity()
        .args(["corpus", "check", "--json", "--index"])
        .arg(&index)
        .arg("--file")
        .arg(&outputs)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["outputs"][0]["id"], "a");
    assert_eq!(v["outputs"][0]["longest_span_tokens"], 30);
    assert_eq!(v["outputs"][1]["id"], "7");
    assert_eq!(v["outputs"][1]["longest_span_tokens"], 0);

    write(&outputs, "{\"text\": \"fine\"}\n{\"id\": 2}\n");
    probity()
        .args(["corpus", "check", "--index"])
        .arg(&index)
        .arg("--file")
        .arg(&outputs)
        .assert()
        .code(2)
        .stderr(contains("outputs.jsonl, line 2: no `text` field"));
}

#[test]
fn an_empty_corpus_folder_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir.join("readme.csv"), "a,b\n");
    probity()
        .args(["corpus", "index"])
        .arg(&dir)
        .arg("-o")
        .arg(tmp.path().join("x.idx"))
        .assert()
        .code(2)
        .stderr(contains("empty: no works"));
    assert!(!tmp.path().join("x.idx").exists());
}

#[test]
fn a_malformed_jsonl_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("works");
    write(&dir.join("a.txt"), LANTERN);
    let cases = [
        (
            "{\"text\": \"ok\"}\n\n{\"text\": \"unterminated\n",
            "line 3: not a JSON object",
        ),
        (
            "{\"text\": \"ok\"}\n{\"title\": \"t\"}\n",
            "line 2: no `text` field",
        ),
        ("{\"text\": 5}\n", "line 1: `text` is not a string"),
        ("[1, 2]\n", "line 1: not a JSON object"),
        (
            "{\"text\": \"ok\", \"title\": [1]}\n",
            "line 1: `title` is not a string",
        ),
    ];
    for (jsonl, message) in cases {
        write(&dir.join("b.jsonl"), jsonl);
        probity()
            .args(["corpus", "index"])
            .arg(&dir)
            .arg("-o")
            .arg(tmp.path().join("x.idx"))
            .assert()
            .code(2)
            .stderr(contains(format!("b.jsonl, {message}")));
    }
}

fn check_fails(index: &Path, message: &str) {
    probity()
        .args(["corpus", "check", "--index"])
        .arg(index)
        .arg("some output")
        .assert()
        .code(2)
        .stderr(contains(index.display().to_string()))
        .stderr(contains(message));
}

#[test]
fn a_corrupt_truncated_or_future_index_is_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let index = build(tmp.path(), &[]);
    let good = std::fs::read(&index).unwrap();
    let bad = tmp.path().join("bad.idx");

    let mut flipped = good.clone();
    let last = flipped.len() - 100;
    flipped[last] ^= 0x40;
    std::fs::write(&bad, &flipped).unwrap();
    check_fails(&bad, "corrupt: body sha256");

    std::fs::write(&bad, &good[..good.len() / 2]).unwrap();
    check_fails(&bad, "truncated");
    std::fs::write(&bad, &good[..100]).unwrap();
    check_fails(&bad, "truncated");

    // The good index with one u32 header field changed.
    let with_field = |at: usize, value: u32| {
        let mut bytes = good.clone();
        bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
        std::fs::write(&bad, &bytes).unwrap();
    };
    with_field(8, 4);
    check_fails(
        &bad,
        "unsupported format version 4 (this probity reads version 3)",
    );
    // Version 2 stored 64-bit word hashes and every n-gram: rebuild.
    with_field(8, 2);
    check_fails(
        &bad,
        "unsupported format version 2 (this probity reads version 3); rebuild the index",
    );
    // A stride of 0, or a header n-gram count the works do not give.
    with_field(36, 0);
    check_fails(&bad, "unsupported parameters");
    with_field(36, 7);
    check_fails(&bad, "n-grams at stride 7; the header says");
    // Version 1 hashed shingles and MinHash slots differently: rebuild.
    let mut old = good.clone();
    old[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&bad, &old).unwrap();
    check_fails(
        &bad,
        "unsupported format version 1 (this probity reads version 3); rebuild the index",
    );

    std::fs::write(&bad, "just some text, not an index").unwrap();
    check_fails(&bad, "no index magic number");

    check_fails(&tmp.path().join("missing.idx"), "No such file");
}

#[test]
fn memorisation_pairs_are_cut_from_the_work() {
    let tmp = tempfile::tempdir().unwrap();
    let index = CorpusIndex::open(&build(tmp.path(), &[])).unwrap();
    let options = MemorisationOptions {
        prefix_words: 30,
        continuation_words: 20,
        pairs: 4,
    };
    let (work, pairs) = corpus::memorisation(&index, CLOCKS, &options).unwrap();
    assert_eq!(work.title, "clocks.txt");
    let pieces: Vec<&str> = CLOCKS.split_whitespace().collect();
    assert_eq!(pairs.len(), 4);
    let mut cuts = Vec::new();
    for p in &pairs {
        assert_eq!(p.prefix.split_whitespace().count(), 30);
        assert_eq!(p.continuation.split_whitespace().count(), 20);
        assert!(CLOCKS[..p.byte_offset].ends_with(&format!("{} ", p.prefix)));
        assert!(CLOCKS[p.byte_offset..].starts_with(&p.continuation));
        cuts.push(CLOCKS[..p.byte_offset].split_whitespace().count());
    }
    // Evenly spread from the first full prefix to the last full continuation.
    let last = pieces.len() - 20;
    assert_eq!(
        cuts,
        vec![30, 30 + (last - 30) / 3, 30 + 2 * (last - 30) / 3, last]
    );
    // The continuation is in the corpus verbatim, after its prefix.
    let r = index.check(&format!("{} {}", pairs[1].prefix, pairs[1].continuation));
    assert_eq!(
        r.longest_span_tokens,
        words(&format!("{} {}", pairs[1].prefix, pairs[1].continuation)).len()
    );

    let err = corpus::memorisation(&index, "a text of no work", &options).unwrap_err();
    assert!(err.to_string().contains("no work of"), "{err}");
}

#[test]
fn bad_arguments_and_non_utf8_works_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("works");
    write(&dir.join("a.txt"), LANTERN);
    let out = tmp.path().join("x.idx");
    for (flag, message) in [
        ("--ngram", "--ngram 0"),
        ("--stride", "--stride 0: use 1 to 1000 words"),
    ] {
        probity()
            .args(["corpus", "index", flag, "0"])
            .arg(&dir)
            .arg("-o")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(contains(message));
    }
    probity()
        .args(["corpus", "index"])
        .arg(tmp.path().join("nowhere"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("nowhere"));
    std::fs::write(dir.join("b.txt"), b"caf\xe9 au lait").unwrap();
    probity()
        .args(["corpus", "index"])
        .arg(&dir)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("b.txt: not UTF-8 text (byte 3)"));
    std::fs::remove_file(dir.join("b.txt")).unwrap();
    let index = build(tmp.path(), &[]);
    probity()
        .args(["corpus", "check", "--index"])
        .arg(&index)
        .assert()
        .code(2)
        .stderr(contains("nothing to check"));
}
