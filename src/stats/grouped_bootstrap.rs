//! Bootstrap replicates for data with structure: stratified resampling
//! (each group resampled within itself, so group sizes stay fixed, as when
//! comparing demographic groups of a probe set) and cluster resampling
//! (whole clusters, e.g. all prompts generated from one template, drawn with
//! replacement, so within-cluster correlation is carried into the
//! replicates; Davison & Hinkley 1997, §3.8).
//!
//! Both take an arbitrary statistic and return its replicates, to be fed to
//! `bootstrap::percentile_interval` or `bca_interval`. As in
//! `bootstrap::bootstrap_mean_replicates`, replicate b draws from
//! `Rng::stream(seed, b)` only, replicates run in parallel with rayon and are
//! returned in index order, so the output does not depend on the thread
//! count. The draws are made in the same order as there (index
//! `Indices::below(n)` per unit), so one stratum, or one cluster per value,
//! reproduces the plain bootstrap (to rounding: the sums differ in order).

use rayon::prelude::*;

use super::rng::{Indices, Rng};
use super::{check_finite, StatsError, StatsResult};

/// `n_boot` replicates of `statistic` under stratified resampling: in
/// replicate b every group i is replaced by `groups[i].len()` draws with
/// replacement from itself (groups in order, one stream per replicate), and
/// `statistic` receives the resampled groups in the original order.
/// Errors on no groups, an empty group or non-finite values.
pub fn stratified_bootstrap_replicates(
    groups: &[&[f64]],
    statistic: impl Fn(&[Vec<f64>]) -> f64 + Sync,
    n_boot: usize,
    seed: u64,
) -> StatsResult<Vec<f64>> {
    if groups.is_empty() {
        return Err(StatsError::Empty);
    }
    for g in groups {
        check_finite(g)?;
    }
    Ok((0..n_boot)
        .into_par_iter()
        .map(|b| {
            let mut rng = Rng::stream(seed, b as u64);
            let mut draws = Indices::new(&mut rng);
            let resampled: Vec<Vec<f64>> = groups
                .iter()
                .map(|g| (0..g.len()).map(|_| g[draws.below(g.len())]).collect())
                .collect();
            statistic(&resampled)
        })
        .collect())
}

/// `n_boot` replicates of `statistic` under cluster resampling: replicate b
/// draws `clusters.len()` whole clusters with replacement and passes them,
/// in the order drawn, to `statistic` (so a cluster drawn twice appears
/// twice). Clusters may differ in size. Errors on no clusters, an empty
/// cluster or non-finite values.
pub fn cluster_bootstrap_replicates(
    clusters: &[&[f64]],
    statistic: impl Fn(&[&[f64]]) -> f64 + Sync,
    n_boot: usize,
    seed: u64,
) -> StatsResult<Vec<f64>> {
    if clusters.is_empty() {
        return Err(StatsError::Empty);
    }
    for c in clusters {
        check_finite(c)?;
    }
    let m = clusters.len();
    Ok((0..n_boot)
        .into_par_iter()
        .map(|b| {
            let mut rng = Rng::stream(seed, b as u64);
            let mut draws = Indices::new(&mut rng);
            let drawn: Vec<&[f64]> = (0..m).map(|_| clusters[draws.below(m)]).collect();
            statistic(&drawn)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::super::bootstrap::bootstrap_mean_replicates;
    use super::super::descriptive::NeumaierSum;
    use super::*;

    fn mean_of<'a>(parts: impl Iterator<Item = &'a [f64]>) -> f64 {
        let mut acc = NeumaierSum::new();
        let mut n = 0;
        for p in parts {
            acc.extend(p.iter().copied());
            n += p.len();
        }
        acc.total() / n as f64
    }

    fn values() -> Vec<f64> {
        (0..23).map(|i| (f64::from(i) * 0.73).sin() + 0.1).collect()
    }

    #[test]
    fn one_cluster_per_value_is_the_plain_bootstrap() {
        let v = values();
        let clusters: Vec<&[f64]> = v.chunks(1).collect();
        let cluster =
            cluster_bootstrap_replicates(&clusters, |c| mean_of(c.iter().copied()), 400, 9)
                .unwrap();
        // The same draws; the plain bootstrap sums in four running sums, the
        // statistic here with a compensated sum, so they agree to rounding.
        let plain = bootstrap_mean_replicates(&v, 400, 9);
        assert!(cluster
            .iter()
            .zip(&plain)
            .all(|(a, b)| (a - b).abs() < 1e-12));
        // And one stratum is the plain bootstrap too.
        let strat = stratified_bootstrap_replicates(
            &[&v],
            |g| mean_of(g.iter().map(Vec::as_slice)),
            400,
            9,
        )
        .unwrap();
        assert_eq!(strat, cluster);
    }

    #[test]
    fn reproducible_and_thread_independent() {
        let v = values();
        let groups: [&[f64]; 2] = [&v[..8], &v[8..]];
        let diff = |g: &[Vec<f64>]| {
            mean_of(std::iter::once(g[0].as_slice())) - mean_of(std::iter::once(g[1].as_slice()))
        };
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| stratified_bootstrap_replicates(&groups, diff, 300, 4).unwrap())
        };
        let a = run(1);
        assert_eq!(a, run(3));
        assert_eq!(a, run(1));
        assert_ne!(
            a,
            stratified_bootstrap_replicates(&groups, diff, 300, 5).unwrap()
        );
        // Group sizes are preserved in every replicate.
        let sizes = stratified_bootstrap_replicates(
            &groups,
            |g| (g[0].len() * 100 + g[1].len()) as f64,
            5,
            1,
        )
        .unwrap();
        assert!(sizes.iter().all(|&s| s == 815.0));

        let clusters: Vec<&[f64]> = v.chunks(4).collect();
        let c1 = cluster_bootstrap_replicates(&clusters, |c| mean_of(c.iter().copied()), 200, 2)
            .unwrap();
        let c2 = cluster_bootstrap_replicates(&clusters, |c| mean_of(c.iter().copied()), 200, 2)
            .unwrap();
        assert_eq!(c1, c2);
    }

    #[test]
    fn invalid_input() {
        assert_eq!(
            stratified_bootstrap_replicates(&[], |_| 0.0, 10, 0),
            Err(StatsError::Empty)
        );
        assert!(stratified_bootstrap_replicates(&[&[1.0], &[]], |_| 0.0, 10, 0).is_err());
        assert!(cluster_bootstrap_replicates(&[&[f64::NAN]], |_| 0.0, 10, 0).is_err());
        assert_eq!(
            cluster_bootstrap_replicates(&[&[1.0]], |_| 0.0, 0, 0),
            Ok(Vec::new())
        );
    }
}
