//! Association probes (WEAT / SEAT) on the real all-MiniLM-L6-v2 (skipped when it
//! is not cached, required under CI=true): the shipped probes/association.toml is
//! embedded and every test run. The statistics themselves are checked against a
//! NumPy reference in src/metric/association/tests.rs; here the checks are the
//! properties any correct run has whatever the model: d within the bounds the
//! definition allows, p in (0, 1] on the grid its permutation count implies, the
//! exact/sampled choice following C(|X|+|Y|, |X|) ≤ 100,000, the same seed giving
//! the same figures, and the embeddings arriving as the texts the set describes.

mod common;

use probity::backend::BertEmbedder;
use probity::metric::association::{
    run_association, AssociationResult, AssociationSet, MAX_EXACT_SPLITS, N_SAMPLED_SPLITS,
};

fn binomial(n: u64, k: u64) -> f64 {
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

fn run(model: &BertEmbedder, set: &AssociationSet, seed: u64) -> Vec<AssociationResult> {
    let mut embed = |texts: &[String]| {
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        model.embed(&refs).map_err(|e| e.to_string())
    };
    run_association(set, &mut embed, seed).unwrap()
}

#[test]
fn the_shipped_association_set_runs_on_minilm() {
    let Some(folder) = common::minilm() else {
        return;
    };
    let set = AssociationSet::load(&common::repo().join("probes/association.toml")).unwrap();
    let model = BertEmbedder::open(&folder).unwrap();
    let started = std::time::Instant::now();
    let results = run(&model, &set, 2024);
    eprintln!(
        "{} association tests on MiniLM in {:.2?}",
        results.len(),
        started.elapsed()
    );
    assert_eq!(results.len(), set.tests.len());
    let mut saw_exact = false;
    let mut saw_sampled = false;
    for (r, t) in results.iter().zip(&set.tests) {
        eprintln!(
            "{:<36} d = {:+.3}  p = {:.5}  ({} {}, n = {}/{})",
            r.test,
            r.effect_size,
            r.p_value,
            if r.exact { "exact over" } else { "sampled" },
            r.n_permutations,
            r.x.n_items,
            r.y.n_items
        );
        assert_eq!(r.test, t.id);
        assert_eq!(r.templates, set.templates.len());
        for (summary, term_set) in [(&r.x, &t.x), (&r.y, &t.y), (&r.a, &t.a), (&r.b, &t.b)] {
            assert_eq!(summary.n_terms, term_set.terms.len());
            assert_eq!(summary.n_items, term_set.terms.len() * set.templates.len());
        }
        // d is a difference of two means over a pooled sd. With n = |X| + |Y| items
        // and sizes m, k, Σ(s − s̄)² ≥ (m k / n)(mean_x − mean_y)², so
        // |d| ≤ √((n − 1) n / (m k)): 2 for two equal sets, approached only when all
        // of X score one value and all of Y another.
        let (m, k) = (r.x.n_items as f64, r.y.n_items as f64);
        let bound = ((m + k - 1.0) * (m + k) / (m * k)).sqrt();
        assert!(r.effect_size.is_finite() && r.effect_size.abs() <= bound + 1e-9);
        if r.x.n_items == r.y.n_items {
            assert!(r.effect_size.abs() <= 2.0 + 1e-9);
        }
        // With equal sizes S = m·(mean_x − mean_y) has the sign of d.
        if r.x.n_items == r.y.n_items {
            assert_eq!(r.statistic > 0.0, r.effect_size > 0.0, "{}", r.test);
        }
        // Cosines are in [−1, 1], so |s| ≤ 2.
        assert!(r.mean_s_x.abs() <= 2.0 && r.mean_s_y.abs() <= 2.0);
        assert!(r.p_value > 0.0 && r.p_value <= 1.0, "{}", r.test);
        let splits = binomial(r.x.n_items as u64 + r.y.n_items as u64, r.x.n_items as u64);
        assert_eq!(r.exact, splits <= MAX_EXACT_SPLITS as f64, "{}", r.test);
        // p is a count over the splits (exact) or (1 + count)/(1 + N) (sampled).
        let grid = if r.exact {
            assert_eq!(r.n_permutations as f64, splits);
            r.p_value * splits
        } else {
            assert_eq!(r.n_permutations, N_SAMPLED_SPLITS);
            r.p_value * (N_SAMPLED_SPLITS + 1) as f64
        };
        assert!((grid - grid.round()).abs() < 1e-6, "{}: {grid}", r.test);
        saw_exact |= r.exact;
        saw_sampled |= !r.exact;
    }
    assert!(
        saw_exact && saw_sampled,
        "the shipped set uses both branches"
    );

    // Same seed: identical figures; another seed moves only the sampled p-values.
    let again = run(&model, &set, 2024);
    assert_eq!(results, again);
    let other = run(&model, &set, 7);
    for (a, b) in results.iter().zip(&other) {
        assert_eq!(a.effect_size, b.effect_size);
        assert_eq!(a.statistic, b.statistic);
        if a.exact {
            assert_eq!(a.p_value, b.p_value);
        } else {
            // Two samples of 100,000 splits estimate the same p.
            let se = (a.p_value * (1.0 - a.p_value) / N_SAMPLED_SPLITS as f64).sqrt();
            assert!(
                (a.p_value - b.p_value).abs() <= 8.0 * se + 2.0 / N_SAMPLED_SPLITS as f64,
                "{}: {} vs {}",
                a.test,
                a.p_value,
                b.p_value
            );
        }
    }
}

/// In an audit: one finding per test judged against `max_abs_effect_size`, the
/// results written as one line per test, and the paraphrase baseline computed
/// from one SEAT template at a time.
#[test]
fn association_in_an_audit_has_findings_and_a_template_baseline() {
    let Some(folder) = common::minilm() else {
        return;
    };
    let set = AssociationSet::load(&common::repo().join("probes/association.toml")).unwrap();
    assert!(set.templates.len() >= 2, "the shipped set is SEAT");
    let model = BertEmbedder::open(&folder).unwrap();
    let scoring = probity::spec::Scoring::default();
    let thresholds = probity::spec::Thresholds::default();
    let settings = probity::kinds::AnalysisSettings {
        scoring: &scoring,
        thresholds: &thresholds,
        seed: 2024,
    };
    let out = tempfile::tempdir().unwrap();
    let outcome = probity::kinds::association::run(&set, &model, &settings, out.path()).unwrap();
    assert_eq!(outcome.findings.len(), set.tests.len());
    assert!(outcome
        .findings
        .iter()
        .all(|f| f.threshold == thresholds.max_abs_effect_size && f.p_value.is_some()));
    let lines = std::fs::read_to_string(&outcome.responses).unwrap();
    assert_eq!(lines.lines().count(), set.tests.len());
    let baseline = &outcome.detail["paraphrase_baseline"];
    assert_eq!(baseline["templates"], set.templates.len());
    let n = baseline["n"].as_u64().unwrap() as usize;
    assert!(n > 0 && n <= set.templates.len() * set.tests.len());
    // Each single-template d is the d of that test with only that template; a
    // test too small for one template has none.
    let first = &baseline["per_template"][0];
    for (test, d) in set
        .tests
        .iter()
        .zip(first["effect_sizes"].as_array().unwrap())
    {
        let alone = AssociationSet {
            templates: vec![first["template"].as_str().unwrap().to_string()],
            tests: vec![test.clone()],
            ..set.clone()
        };
        let mut embed = |texts: &[String]| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            model.embed(&refs).map_err(|e| e.to_string())
        };
        match run_association(&alone, &mut embed, 2024) {
            Ok(r) => assert!((r[0].effect_size - d.as_f64().unwrap()).abs() < 1e-12),
            Err(_) => assert!(d.is_null()),
        }
    }
}
