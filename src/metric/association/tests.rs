use super::*;

// ------------------------------------------------------------------ reference fixture

#[derive(serde::Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    x: Vec<Vec<f32>>,
    y: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    b: Vec<Vec<f32>>,
    s_x: Vec<f64>,
    s_y: Vec<f64>,
    statistic: f64,
    effect_size: f64,
    p_exact: f64,
    n_splits: u64,
    exact_by_rule: bool,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("../../../tests/fixtures/weat_reference.json")).unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn matches_the_numpy_reference() {
    let f = fixture();
    assert!(f.cases.iter().any(|c| c.exact_by_rule));
    assert!(f.cases.iter().any(|c| !c.exact_by_rule));
    for c in &f.cases {
        let s_x = association_scores(&c.x, &c.a, &c.b).unwrap();
        let s_y = association_scores(&c.y, &c.a, &c.b).unwrap();
        for (got, want) in s_x.iter().chain(&s_y).zip(c.s_x.iter().chain(&c.s_y)) {
            assert!(close(*got, *want, 1e-12), "{}: s {got} vs {want}", c.name);
        }
        let w = weat(&c.x, &c.y, &c.a, &c.b, 7).unwrap();
        assert!(
            close(w.statistic, c.statistic, 1e-9),
            "{}: S {} vs {}",
            c.name,
            w.statistic,
            c.statistic
        );
        assert!(
            close(w.effect_size, c.effect_size, 1e-9),
            "{}: d {} vs {}",
            c.name,
            w.effect_size,
            c.effect_size
        );
        assert_eq!(w.exact, c.exact_by_rule, "{}", c.name);
        assert_eq!(
            is_exact(c.x.len(), c.y.len()),
            c.exact_by_rule,
            "{}",
            c.name
        );
        if c.exact_by_rule {
            assert_eq!(w.n_permutations, c.n_splits, "{}", c.name);
            assert!(
                (w.p_value - c.p_exact).abs() <= 1e-12,
                "{}: p {} vs {}",
                c.name,
                w.p_value,
                c.p_exact
            );
        } else {
            // The sampled p estimates the exact one: (1 + K)/(1 + N) with K binomial
            // (N, p). Its standard error is √(p(1−p)/N) (≈ 0.001 here); 5 of them
            // plus the 1/N of the +1 correction is a bound a correct sampler
            // breaks with probability < 1e-6.
            let n = N_SAMPLED_SPLITS as f64;
            assert_eq!(w.n_permutations, N_SAMPLED_SPLITS);
            let tol = 5.0 * (c.p_exact * (1.0 - c.p_exact) / n).sqrt() + 1.0 / n;
            assert!(
                (w.p_value - c.p_exact).abs() <= tol,
                "{}: sampled p {} vs exact {} (tolerance {tol})",
                c.name,
                w.p_value,
                c.p_exact
            );
            // Allowed to enumerate, the same data give the exact p.
            let exact = permutation_test_with(&s_x, &s_y, c.n_splits, 1, 7).unwrap();
            assert!(exact.exact);
            assert_eq!(exact.n_permutations, c.n_splits);
            assert!((exact.p_value - c.p_exact).abs() <= 1e-12, "{}", c.name);
        }
    }
}

#[test]
fn agrees_with_the_two_sided_label_permutation_test() {
    // The one-sided p of (X, Y) and of (Y, X) are p_greater and p_less of the
    // two-sided test in crate::stats::label_permutation (SciPy's convention).
    for c in &fixture().cases {
        if !c.exact_by_rule {
            continue;
        }
        let greater = permutation_test(&c.s_x, &c.s_y, 1).unwrap().p_value;
        let less = permutation_test(&c.s_y, &c.s_x, 1).unwrap().p_value;
        let two =
            crate::stats::label_permutation_test(&c.s_x, &c.s_y, MAX_EXACT_SPLITS, 1, 1).unwrap();
        assert!(two.exact);
        let want = (2.0 * greater.min(less)).min(1.0);
        assert!(
            (two.p_value - want).abs() <= 1e-12,
            "{}: {} vs {want}",
            c.name,
            two.p_value
        );
    }
}

#[test]
fn exact_rule_and_sampled_determinism() {
    assert!(is_exact(8, 8)); // C(16, 8) = 12,870
    assert!(is_exact(4, 20)); // C(24, 4) = 10,626
    assert!(!is_exact(10, 10)); // C(20, 10) = 184,756
    assert!(!is_exact(40, 40));
    assert!(is_exact(1, 99_999)); // C(100,000, 1)
    assert!(!is_exact(1, 100_000));
    let c = &fixture()
        .cases
        .into_iter()
        .find(|c| !c.exact_by_rule)
        .unwrap();
    let p1 = permutation_test(&c.s_x, &c.s_y, 42).unwrap();
    let p2 = permutation_test(&c.s_x, &c.s_y, 42).unwrap();
    let p3 = permutation_test(&c.s_x, &c.s_y, 43).unwrap();
    assert_eq!(p1, p2);
    assert_ne!(p1.p_value, p3.p_value);
}

#[test]
fn ties_count_as_extreme() {
    // All scores equal: every split ties with the observed one, so p = 1.
    let p = permutation_test(&[0.1, 0.1, 0.1], &[0.1, 0.1, 0.1], 0).unwrap();
    assert!(p.exact);
    assert_eq!(p.n_permutations, 20);
    assert_eq!(p.p_value, 1.0);
    // X holds the three largest: only the observed split reaches S.
    let p = permutation_test(&[3.0, 2.0, 1.0], &[0.0, -1.0, -2.0], 0).unwrap();
    assert_eq!(p.p_value, 1.0 / 20.0);
    // Scores that differ only by rounding still tie.
    // (0.1 + 0.2 > 0.3 in f64, so without the tolerance p would be 1/2.)
    let p = permutation_test(&[0.3], &[0.1 + 0.2], 0).unwrap();
    assert_eq!(p.p_value, 1.0);
}

#[test]
fn cosine_does_not_assume_unit_vectors() {
    let u = [3.0f32, 4.0];
    let v = [30.0f32, 40.0];
    assert!((cosine(&u, &v).unwrap() - 1.0).abs() < 1e-15);
    assert!((cosine(&[1.0, 0.0], &[0.0, 2.0]).unwrap()).abs() < 1e-15);
    assert!(cosine(&[0.0, 0.0], &[1.0, 0.0]).is_err());
    assert!(cosine(&[1.0], &[1.0, 0.0]).is_err());
}

#[test]
fn degenerate_inputs_are_errors_not_panics() {
    let v = vec![vec![1.0f32, 0.0]];
    assert!(weat(&[], &v, &v, &v, 0).is_err());
    assert!(weat(&v, &v, &[], &v, 0).is_err());
    // Two target items: no spread to divide by.
    assert!(weat(&v, &v, &v, &[vec![0.0, 1.0]], 0).is_err());
    assert!(permutation_test(&[f64::NAN], &[0.0], 0).is_err());
}

// ------------------------------------------------------------------ loading

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_shipped_set_loads() {
    let set = AssociationSet::load(&repo().join("probes/association.toml")).unwrap();
    assert_eq!(set.id, "association");
    assert!((4..=6).contains(&set.templates.len()));
    let ids: Vec<&str> = set.tests.iter().map(|t| t.id.as_str()).collect();
    for want in [
        "gender-career-family",
        "gender-science-arts",
        "race-white-black-valence",
        "age-young-old-valence",
        "disability-blind-valence",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    for t in &set.tests {
        assert!(t.a.terms.len() >= 8 && t.b.terms.len() >= 8, "{}", t.id);
    }
    let career = &set.tests[0];
    assert_eq!(
        career.x.source,
        SetSource::Lexicon {
            axis: "gender".into(),
            group: "man".into(),
            filler: "names".into()
        }
    );
    assert_eq!(career.x.terms.len(), 8);
    assert_eq!(set.items(&career.x).len(), 8 * set.templates.len());
    let blind = set
        .tests
        .iter()
        .find(|t| t.id == "disability-blind-valence")
        .unwrap();
    assert_eq!(blind.y.terms, vec!["a blind person".to_string()]);
    let items = set.items(&blind.y);
    assert!(
        items.contains(&"This is a blind person.".to_string()),
        "{items:?}"
    );
    assert!(
        items.contains(&"A blind person is here.".to_string()),
        "{items:?}"
    );
    assert_eq!(set.files().len(), 5);
}

fn lexicon(dir: &Path) {
    std::fs::create_dir_all(dir.join("lexicon")).unwrap();
    std::fs::write(
        dir.join("lexicon/gender.toml"),
        "axis = \"gender\"\nreference = \"man\"\nreference_why = \"r\"\nnames_source = \"s\"\n\
         [[group]]\nid = \"man\"\nlabel = \"men\"\nexplicit = \"a man\"\nnames = [\"Al\", \"Bo\"]\n\
         [[group]]\nid = \"woman\"\nlabel = \"women\"\nexplicit = \"a woman\"\nnames = [\"Cy\", \"Di\"]\n\
         [[group]]\nid = \"nb\"\nlabel = \"non-binary people\"\nexplicit = \"a non-binary person\"\n",
    )
    .unwrap();
}

const HEADER: &str = "id = \"t\"\nkind = \"association\"\nversion = 1\n";
const GOOD_TEST: &str = "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"nb\" }\na = { name = \"A\", terms = [\"sun\", \"joy\"] }\nb = { name = \"B\", terms = [\"rot\", \"pain\"] }\n";

/// Writes `body` after the header and loads it; returns the error text.
fn load_err(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    lexicon(dir.path());
    let f = dir.path().join("assoc.toml");
    std::fs::write(&f, format!("{HEADER}{body}")).unwrap();
    AssociationSet::load(&f).unwrap_err().to_string()
}

#[test]
fn a_small_set_resolves_names_and_explicit_phrases() {
    let dir = tempfile::tempdir().unwrap();
    lexicon(dir.path());
    let f = dir.path().join("assoc.toml");
    std::fs::write(&f, format!("{HEADER}{GOOD_TEST}")).unwrap();
    let set = AssociationSet::load(&f).unwrap();
    assert!(set.templates.is_empty());
    let t = &set.tests[0];
    assert_eq!(t.x.terms, vec!["Al", "Bo"]);
    assert_eq!(t.x.name, "men (names)");
    assert_eq!(t.y.terms, vec!["a non-binary person"]);
    assert_eq!(set.items(&t.a), vec!["sun", "joy"]);
    assert_eq!(set.files().len(), 2);
}

#[test]
fn errors_name_the_file_and_line() {
    let templates: &[(&str, &str)] = &[
        (
            "templates = [\"This is {term}.\", \"{term} and {term}\"]\n",
            "2 times",
        ),
        ("templates = [\"No slot here.\"]\n", "no `{term}`"),
        ("templates = [\"This is {word}.\"]\n", "`{word}`"),
        (
            "templates = [\"This is {term}.\", \"This is {term}.\"]\n",
            "listed twice",
        ),
        ("templates = []\n", "`templates` is empty"),
    ];
    for (line, message) in templates {
        let err = load_err(&format!("{line}{GOOD_TEST}"));
        assert!(err.contains("assoc.toml, line 4"), "{err}");
        assert!(err.contains(message), "expected {message:?} in: {err}");
    }
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"alien\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 7",
            "no group `alien`",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"colour\", group = \"man\" }\ny = { axis = \"gender\", group = \"man\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 6",
            "axis `colour` has no lexicon file",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 8",
            "`terms` is empty",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\", \"  \"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 8",
            "a term is empty",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\", terms = [\"x\"] }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 6",
            "not both",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 8",
            "needs a `name`",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"man\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 7",
            "in both `x` and `y`",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\"] }\n",
            "line 4",
            "missing field `b`",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = \"rot\" }\n",
            "line 9",
            "",
        ),
        ("", "assoc.toml", "no tests"),
        (
            "axes = [\"age\"]\n[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 4",
            "axis `age` has no lexicon file",
        ),
        (
            "[[test]]\nid = \"one\"\nx = { axis = \"gender\", group = \"man\" }\ny = { axis = \"gender\", group = \"woman\" }\na = { name = \"A\", terms = [\"sun\", \"sun\"] }\nb = { name = \"B\", terms = [\"rot\"] }\n",
            "line 8",
            "`sun` is listed twice",
        ),
    ];
    for (body, line, message) in cases {
        let err = load_err(body);
        assert!(err.contains("assoc.toml"), "{err}");
        assert!(err.contains(line), "expected {line} in: {err}");
        assert!(err.contains(message), "expected {message:?} in: {err}");
    }
    let err = load_err(&format!("{GOOD_TEST}{GOOD_TEST}"));
    assert!(
        err.contains("line 11") && err.contains("duplicate test id `one`"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    lexicon(dir.path());
    let f = dir.path().join("assoc.toml");
    std::fs::write(&f, "id = \"t\"\nkind = \"decision\"\nversion = 1\n").unwrap();
    let err = AssociationSet::load(&f).unwrap_err().to_string();
    assert!(
        err.contains("assoc.toml, line 2") && err.contains("`decision`"),
        "{err}"
    );
    let err = AssociationSet::load(&dir.path().join("missing.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.toml"), "{err}");
}

// ------------------------------------------------------------------ runner

/// A deterministic stand-in embedder: a vector from the bytes of the text.
fn fake_embed(texts: &[String]) -> Vec<Vec<f32>> {
    texts
        .iter()
        .map(|t| {
            let mut v = vec![0.0f32; 16];
            for (i, byte) in t.bytes().enumerate() {
                v[(i * 7 + usize::from(byte)) % 16] += f32::from(byte) / 100.0 + 1.0;
            }
            v
        })
        .collect()
}

#[test]
fn the_runner_embeds_each_text_once_and_is_deterministic() {
    let set = AssociationSet::load(&repo().join("probes/association.toml")).unwrap();
    let mut calls = 0;
    let mut seen = 0;
    let mut embed = |texts: &[String]| {
        calls += 1;
        seen = texts.len();
        let distinct: BTreeSet<&String> = texts.iter().collect();
        assert_eq!(distinct.len(), texts.len());
        Ok(fake_embed(texts))
    };
    let first = run_association(&set, &mut embed, 5).unwrap();
    assert_eq!(calls, 1);
    let all: BTreeSet<String> = set
        .tests
        .iter()
        .flat_map(|t| [&t.x, &t.y, &t.a, &t.b].map(|s| set.items(s)))
        .flatten()
        .collect();
    assert_eq!(seen, all.len());
    assert_eq!(first.len(), set.tests.len());
    let again = run_association(&set, &mut |t: &[String]| Ok(fake_embed(t)), 5).unwrap();
    assert_eq!(first, again);
    for (r, t) in first.iter().zip(&set.tests) {
        assert_eq!(r.test, t.id);
        assert_eq!(r.x.n_items, t.x.terms.len() * set.templates.len());
        assert_eq!(
            r.sentences,
            r.x.n_items + r.y.n_items + r.a.n_items + r.b.n_items
        );
        assert_eq!(r.exact, is_exact(r.x.n_items, r.y.n_items));
        // Recompute from the same vectors through the pure functions.
        let emb = |s: &TermSet| fake_embed(&set.items(s));
        let w = weat(&emb(&t.x), &emb(&t.y), &emb(&t.a), &emb(&t.b), r.seed).unwrap();
        assert_eq!(w.effect_size, r.effect_size);
        assert_eq!(w.p_value, r.p_value);
    }
    let json = serde_json::to_value(&first[0]).unwrap();
    assert_eq!(json["x"]["from"], "lexicon");
    assert_eq!(json["a"]["from"], "listed");
}

#[test]
fn the_runner_rejects_a_bad_embedder() {
    let set = AssociationSet::load(&repo().join("probes/association.toml")).unwrap();
    let err = run_association(&set, &mut |_: &[String]| Ok(vec![vec![1.0]]), 0).unwrap_err();
    assert!(err.contains("vectors for"), "{err}");
    let err = run_association(
        &set,
        &mut |t: &[String]| Ok(t.iter().map(|_| vec![0.0f32; 4]).collect()),
        0,
    )
    .unwrap_err();
    assert!(err.contains("zero norm"), "{err}");
    let err = run_association(&set, &mut |_: &[String]| Err("boom".into()), 0).unwrap_err();
    assert_eq!(err, "boom");
}
