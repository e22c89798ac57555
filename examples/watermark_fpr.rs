//! Measures the green-list watermark on SmolLM2-135M-Instruct: the detection rate
//! of watermarked generations and the false-positive rate of unwatermarked ones
//! at z > 4, with Clopper–Pearson intervals, the z distribution of each, and the
//! cost of the logit processor. Run by `bench/watermark_fpr.sh`; the figures are
//! in docs/provenance-watermark.md.
//!
//! Every sample is a chat answer sampled at temperature 1 (top-p 1) with up to
//! `--tokens` new tokens; sample i uses prompt i mod 30 and its own seed
//! (unwatermarked 10,000 + i, watermarked 20,000 + i). Detection runs on the
//! answer's text re-tokenised, as `probity model detect-watermark` does.
//!
//! Usage: watermark_fpr [--unmarked N] [--marked M] [--tokens T] [--gamma G]
//!                      [--delta D] [--key K] [--jsonl FILE]
//!        watermark_fpr --summarise FILE   (the report of a --jsonl file)

use probity::backend::generate::GenerationConfig;
use probity::backend::{GgufModel, KnownModel};
use probity::provenance::watermark::{detect, Watermark, WatermarkConfig};
use probity::spec::Precision;
use probity::stats::proportion::clopper_pearson_interval;
use std::io::Write;
use std::time::Instant;

/// Prompts that ask for long answers on varied subjects (written for this bench).
const PROMPTS: [&str; 30] = [
    "Write a long story about a lighthouse keeper who finds a message in a bottle.",
    "Explain in detail how a bicycle's gears work.",
    "Describe a busy market in a coastal town, with its sounds and smells.",
    "Write a letter to a friend about your first week at a new job.",
    "Explain how bread rises and why kneading matters.",
    "Tell a fairy tale about a fox who wants to learn to sing.",
    "Describe the water cycle to a ten-year-old, step by step.",
    "Write an essay on why public libraries matter.",
    "Give detailed advice for someone planting their first vegetable garden.",
    "Write a story about two old friends meeting on a train after twenty years.",
    "Explain how a refrigerator keeps food cold.",
    "Describe a walk through a forest in autumn.",
    "Write a speech for a school's sports day.",
    "Explain the rules of chess to a beginner.",
    "Write a diary entry of a sailor crossing the Atlantic in 1850.",
    "Describe how to cook a simple vegetable soup, with every step.",
    "Tell a story about a robot that learns to paint.",
    "Explain why the sky is blue and sunsets are red.",
    "Write a review of an imaginary science-fiction film.",
    "Describe life in a mountain village in winter.",
    "Explain how vaccines train the immune system.",
    "Write a story about a child who discovers a secret door in a library.",
    "Give a detailed plan for a week-long trip through Italy.",
    "Explain how a bill becomes a law, in general terms.",
    "Write a mystery story set in a small bakery.",
    "Describe the life cycle of a butterfly in detail.",
    "Write a motivational talk for students before their exams.",
    "Explain how solar panels turn sunlight into electricity.",
    "Tell a story about a musician who loses her hearing.",
    "Describe how ancient Romans built their roads.",
];

struct Args {
    unmarked: usize,
    marked: usize,
    tokens: usize,
    gamma: f64,
    delta: f64,
    key: String,
    jsonl: Option<String>,
}

fn parse_args() -> Args {
    let mut args = Args {
        unmarked: 100,
        marked: 20,
        tokens: 200,
        gamma: 0.25,
        delta: 2.0,
        key: "probity watermark bench key".into(),
        jsonl: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = |v: &str| -> f64 { v.parse().unwrap_or_else(|_| panic!("{flag}: {v}")) };
        match flag.as_str() {
            "--unmarked" => args.unmarked = number(&value) as usize,
            "--marked" => args.marked = number(&value) as usize,
            "--tokens" => args.tokens = number(&value) as usize,
            "--gamma" => args.gamma = number(&value),
            "--delta" => args.delta = number(&value),
            "--key" => args.key = value,
            "--jsonl" => args.jsonl = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

struct Sample {
    marked: bool,
    generated: usize,
    scored: u64,
    green: u64,
    z: f64,
    p: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    // Linear interpolation between order statistics (NumPy's default).
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn summary(label: &str, samples: &[&Sample]) {
    let mut z: Vec<f64> = samples.iter().map(|s| s.z).collect();
    z.sort_by(f64::total_cmp);
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    let sd = if z.len() < 2 {
        f64::NAN
    } else {
        (z.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    let scored: Vec<f64> = samples.iter().map(|s| s.scored as f64).collect();
    let generated: Vec<f64> = samples.iter().map(|s| s.generated as f64).collect();
    println!(
        "{label}: z mean {mean:.2}, sd {sd:.2}, min {:.2}, q25 {:.2}, median {:.2}, q75 {:.2}, max {:.2}; mean tokens generated {:.1}, scored {:.1}",
        z[0],
        quantile(&z, 0.25),
        quantile(&z, 0.5),
        quantile(&z, 0.75),
        z[z.len() - 1],
        generated.iter().sum::<f64>() / n,
        scored.iter().sum::<f64>() / n,
    );
}

fn rate(label: &str, hits: usize, n: usize) {
    let ci = clopper_pearson_interval(hits as u64, n as u64, 0.95).expect("n ≥ 1");
    println!(
        "{label}: {hits}/{n} = {:.3} (95% Clopper–Pearson [{:.4}, {:.4}])",
        hits as f64 / n as f64,
        ci.low,
        ci.high
    );
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() == 3 && argv[1] == "--summarise" {
        return summarise(&argv[2]);
    }
    let args = parse_args();
    let known = KnownModel::find("smollm2-135m-instruct").expect("known model");
    let Some(path) = known.cached() else {
        eprintln!("SmolLM2 is not cached: run `probity model pull smollm2-135m-instruct`");
        std::process::exit(2);
    };
    let sha = probity::backend::known::sha256_file(&path).expect("readable model");
    let model = GgufModel::open(&path, &sha, Precision::F32).expect("model opens");
    let watermark = WatermarkConfig {
        gamma: args.gamma,
        delta: args.delta,
        key: args.key.as_bytes().to_vec(),
    };
    watermark.validate().expect("valid watermark");

    // The logit processor's cost on its own: one step over SmolLM2's vocabulary.
    let vocab = model.info().vocab_size;
    let w = Watermark::new(&watermark);
    let mut logits = vec![0.0f32; vocab];
    let reps = 200;
    let start = Instant::now();
    for prev in 0..reps {
        w.bias(&mut logits, prev);
    }
    let per_step = start.elapsed().as_secs_f64() / f64::from(reps);
    println!(
        "logit processor: {:.3} ms per step ({vocab} keyed hashes, {:.1} ns each)",
        per_step * 1e3,
        per_step * 1e9 / vocab as f64
    );

    let mut out = args
        .jsonl
        .as_ref()
        .map(|p| std::fs::File::create(p).expect("writable --jsonl"));
    let mut samples = Vec::new();
    let mut seconds = [0.0f64; 2];
    let mut tokens = [0usize; 2];
    // Watermarked samples spread evenly through the run, so that an interrupted
    // run (see --jsonl) still has both kinds.
    let total = args.unmarked + args.marked;
    let mut plan: Vec<(bool, usize)> = Vec::with_capacity(total);
    let (mut u, mut m) = (0, 0);
    for k in 0..total {
        if m < args.marked && (m + 1) * total <= (k + 1) * args.marked {
            plan.push((true, m));
            m += 1;
        } else {
            plan.push((false, u));
            u += 1;
        }
    }
    for (k, &(marked, i)) in plan.iter().enumerate() {
        let prompt_index = i % PROMPTS.len();
        let prompt = model.chat_prompt(PROMPTS[prompt_index]).expect("chat");
        let seed = if marked { 20_000 } else { 10_000 } + i as u64;
        let config = GenerationConfig {
            max_tokens: args.tokens,
            temperature: 1.0,
            top_p: 1.0,
            seed,
            stop: Vec::new(),
            watermark: marked.then(|| watermark.clone()),
        };
        let start = Instant::now();
        let g = model.generate(&prompt, &config).expect("generation");
        seconds[usize::from(marked)] += start.elapsed().as_secs_f64();
        tokens[usize::from(marked)] += g.tokens.len();
        let ids = model.tokenize(&g.text).expect("tokenize");
        let d = detect(&ids, &watermark).expect("valid");
        eprintln!(
            "[{}/{}] {} prompt {prompt_index} seed {seed}: {} tokens, {} scored, {} green, z {:.2}",
            k + 1,
            plan.len(),
            if marked { "marked  " } else { "unmarked" },
            g.tokens.len(),
            d.t,
            d.green,
            d.z
        );
        if let Some(f) = out.as_mut() {
            let line = serde_json::json!({
                "watermarked": marked, "prompt": prompt_index, "seed": seed,
                "generated": g.tokens.len(), "finish": g.finish.as_str(),
                "scored": d.t, "green": d.green, "z": d.z, "p_value": d.p_value,
            });
            writeln!(f, "{line}").expect("write");
        }
        samples.push(Sample {
            marked,
            generated: g.tokens.len(),
            scored: d.t,
            green: d.green,
            z: d.z,
            p: d.p_value,
        });
    }

    println!(
        "settings: gamma {}, delta {}, temperature 1, top-p 1, up to {} tokens, {} prompts",
        args.gamma,
        args.delta,
        args.tokens,
        PROMPTS.len()
    );
    report(&samples, Some((tokens, seconds)));
}

/// Per group: the z distribution, the rate of z > 4 with its interval, the pooled
/// green share and (when timed) the generation speed.
fn report(samples: &[Sample], timing: Option<([usize; 2], [f64; 2])>) {
    for (label, m) in [("unwatermarked", false), ("watermarked", true)] {
        let group: Vec<&Sample> = samples.iter().filter(|s| s.marked == m).collect();
        if group.is_empty() {
            continue;
        }
        summary(label, &group);
        let hits = group.iter().filter(|s| s.z > 4.0).count();
        rate(
            if m {
                "detection rate (z > 4)"
            } else {
                "false-positive rate (z > 4)"
            },
            hits,
            group.len(),
        );
        let green: u64 = group.iter().map(|s| s.green).sum();
        let scored: u64 = group.iter().map(|s| s.scored).sum();
        let min_p = group.iter().map(|s| s.p).fold(1.0, f64::min);
        println!(
            "{label}: pooled green share {:.4} ({green}/{scored}); smallest p {min_p:.3e}",
            green as f64 / scored as f64
        );
        let i = usize::from(m);
        if let Some((tokens, seconds)) = timing.filter(|(t, _)| t[i] > 0) {
            println!("{label}: {:.1} tokens/s", tokens[i] as f64 / seconds[i]);
        }
    }
}

/// `--summarise FILE`: the report of a `--jsonl` file, e.g. of an interrupted run.
fn summarise(file: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file}: {e}"));
    let samples: Vec<Sample> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{file}:{}: {e}", i + 1));
            let n = |k: &str| {
                v[k].as_f64()
                    .unwrap_or_else(|| panic!("{file}:{}: no number `{k}`", i + 1))
            };
            Sample {
                marked: v["watermarked"].as_bool().expect("watermarked"),
                generated: n("generated") as usize,
                scored: n("scored") as u64,
                green: n("green") as u64,
                z: n("z"),
                p: n("p_value"),
            }
        })
        .collect();
    println!("{file}: {} samples", samples.len());
    report(&samples, None);
}
