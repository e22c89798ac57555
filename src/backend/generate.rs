//! Text generation, written once for every architecture: a [`Decoder`] gives the
//! next-token logits after a prompt and after each token it is fed; this module
//! chooses tokens (greedy, or seeded sampling with temperature and top-p), stops
//! at an end token, a stop string or the token budget, and decodes the text.
//!
//! With a watermark ([`GenerationConfig::watermark`]), the logits are biased
//! towards the green list of the previous token (the prompt's last token for the
//! first choice) before temperature and top-p; the recorded log-probabilities
//! stay those of the model's own distribution. See
//! [`crate::provenance::watermark`].
//!
//! Sampling uses the project's own generator ([`crate::stats::rng::Rng`]), so a
//! seed gives the same text on every machine and thread count. Probabilities are
//! computed in f64 from the f32 logits; candidates are ordered by probability,
//! then by token id, so ties never depend on sort stability.

use super::BackendError;
use crate::provenance::watermark::{Watermark, WatermarkConfig};
use crate::stats::rng::Rng;
use serde::{Deserialize, Serialize};

/// What a model must offer to be generated from.
pub trait Decoder {
    /// Runs the prompt; returns the logits of the token after it.
    fn prefill(&mut self, ids: &[u32]) -> Result<Vec<f32>, BackendError>;
    /// Appends one token to what was run; returns the logits of the next one.
    fn step(&mut self, id: u32) -> Result<Vec<f32>, BackendError>;
    /// The text of generated tokens (special tokens left out).
    fn decode(&self, ids: &[u32]) -> String;
    /// Tokens that end a generation (end of sequence, end of turn).
    fn end_tokens(&self) -> Vec<u32>;
    /// Positions the model can attend to.
    fn context_length(&self) -> usize;
}

/// How to choose tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationConfig {
    /// At most this many new tokens.
    pub max_tokens: usize,
    /// 0 for greedy decoding; otherwise logits are divided by it before sampling.
    pub temperature: f64,
    /// Nucleus sampling: the smallest set of most likely tokens whose probability
    /// reaches `top_p` (1 keeps every token).
    pub top_p: f64,
    pub seed: u64,
    /// Generation stops when the text contains one of these; the text is cut
    /// before it.
    pub stop: Vec<String>,
    /// A green-list watermark: its δ is added to the logits of the green tokens
    /// after the previous token before each choice. Never serialised when absent;
    /// when present only γ and δ are (the key never is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<WatermarkConfig>,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        GenerationConfig {
            max_tokens: 64,
            temperature: 0.0,
            top_p: 1.0,
            seed: 0,
            stop: Vec::new(),
            watermark: None,
        }
    }
}

impl GenerationConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(format!(
                "temperature must be 0 (greedy) or positive, not {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("top_p must be in (0, 1], not {}", self.top_p));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err("a stop string must not be empty".into());
        }
        if let Some(w) = &self.watermark {
            w.validate().map_err(|m| format!("watermark: {m}"))?;
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finish {
    /// The model produced an end token.
    EndToken,
    /// A stop string appeared.
    Stop,
    /// `max_tokens` were produced, or the context is full.
    Length,
}

impl Finish {
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::EndToken => "end_token",
            Finish::Stop => "stop",
            Finish::Length => "length",
        }
    }
}

/// A generated text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub text: String,
    /// Every token chosen (an end token included), also those after a stop string's start.
    pub tokens: Vec<u32>,
    /// log p of each chosen token under the model's distribution (before
    /// temperature, top-p and any watermark bias).
    pub logprobs: Vec<f64>,
    pub finish: Finish,
}

/// Natural-log probabilities of `logits` in f64, divided by `temperature` first
/// (1 leaves them as they are).
fn log_probs(logits: &[f32], temperature: f64) -> Vec<f64> {
    let scaled: Vec<f64> = logits.iter().map(|&x| f64::from(x) / temperature).collect();
    let max = scaled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = scaled.iter().map(|x| (x - max).exp()).sum();
    let lse = max + total.ln();
    scaled.iter().map(|x| x - lse).collect()
}

/// The most likely token; the lowest id among equals.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in logits.iter().enumerate() {
        if x > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Chooses the next token from `logits` under `config`, drawing from `rng` when
/// sampling.
pub fn choose(logits: &[f32], config: &GenerationConfig, rng: &mut Rng) -> u32 {
    if config.temperature == 0.0 {
        return argmax(logits);
    }
    let lp = log_probs(logits, config.temperature);
    let mut order: Vec<u32> = (0..lp.len() as u32).collect();
    order.sort_by(|&a, &b| lp[b as usize].total_cmp(&lp[a as usize]).then(a.cmp(&b)));
    // The nucleus: the most likely tokens until their mass reaches top_p.
    let mut kept = 0;
    let mut mass = 0.0;
    for &id in &order {
        mass += lp[id as usize].exp();
        kept += 1;
        if mass >= config.top_p {
            break;
        }
    }
    let nucleus = &order[..kept];
    let u = rng.next_f64() * mass;
    let mut acc = 0.0;
    for &id in nucleus {
        acc += lp[id as usize].exp();
        if u < acc {
            return id;
        }
    }
    nucleus[kept - 1]
}

/// Generates after `prompt` (token ids).
pub fn generate(
    decoder: &mut dyn Decoder,
    prompt: &[u32],
    config: &GenerationConfig,
) -> Result<Generation, BackendError> {
    config.validate().map_err(BackendError::Generation)?;
    if prompt.is_empty() {
        return Err(BackendError::Generation(
            "the prompt has no tokens: there is nothing to continue".into(),
        ));
    }
    let room = decoder.context_length().saturating_sub(prompt.len());
    if room == 0 {
        return Err(BackendError::Generation(format!(
            "the prompt's {} tokens fill the model's context of {}",
            prompt.len(),
            decoder.context_length()
        )));
    }
    let budget = config.max_tokens.min(room);
    let ends = decoder.end_tokens();
    let mut rng = Rng::new(config.seed);
    let mut tokens = Vec::new();
    let mut logprobs = Vec::new();
    let watermark = config.watermark.as_ref().map(Watermark::new);
    let mut prev = prompt[prompt.len() - 1];
    let mut logits = decoder.prefill(prompt)?;
    let mut finish = Finish::Length;
    let mut text = String::new();
    while tokens.len() < budget {
        let id = match &watermark {
            None => choose(&logits, config, &mut rng),
            Some(w) => {
                let mut biased = logits.clone();
                w.bias(&mut biased, prev);
                choose(&biased, config, &mut rng)
            }
        };
        prev = id;
        logprobs.push(log_probs(&logits, 1.0)[id as usize]);
        tokens.push(id);
        if ends.contains(&id) {
            finish = Finish::EndToken;
            break;
        }
        text = decoder.decode(&tokens);
        if let Some(cut) = config
            .stop
            .iter()
            .filter_map(|s| text.find(s.as_str()))
            .min()
        {
            text.truncate(cut);
            finish = Finish::Stop;
            break;
        }
        if tokens.len() == budget {
            break;
        }
        logits = decoder.step(id)?;
    }
    if finish == Finish::EndToken {
        text = decoder.decode(&tokens[..tokens.len() - 1]);
    }
    Ok(Generation {
        text,
        tokens,
        logprobs,
        finish,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampling(temperature: f64, top_p: f64) -> GenerationConfig {
        GenerationConfig {
            temperature,
            top_p,
            ..GenerationConfig::default()
        }
    }

    #[test]
    fn greedy_takes_the_most_likely_token_and_the_lowest_id_on_ties() {
        assert_eq!(argmax(&[0.1, 3.0, -1.0, 3.0]), 1);
        let mut rng = Rng::new(1);
        assert_eq!(choose(&[0.1, 3.0, 2.9], &sampling(0.0, 1.0), &mut rng), 1);
    }

    #[test]
    fn a_small_nucleus_is_greedy() {
        let mut rng = Rng::new(3);
        let logits = [1.0, 4.0, 2.0, 3.9];
        for _ in 0..100 {
            assert_eq!(choose(&logits, &sampling(1.0, 1e-9), &mut rng), 1);
        }
    }

    #[test]
    fn sampling_follows_the_softmax() {
        // p = softmax([0, ln 2, ln 3, ln 4]) = [0.1, 0.2, 0.3, 0.4].
        let logits = [0.0f32, 2f32.ln(), 3f32.ln(), 4f32.ln()];
        let mut rng = Rng::new(7);
        let n = 200_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[choose(&logits, &sampling(1.0, 1.0), &mut rng) as usize] += 1;
        }
        // Pearson chi-square with 3 degrees of freedom; 16.27 is its 0.999 quantile.
        let chi2: f64 = counts
            .iter()
            .zip([0.1, 0.2, 0.3, 0.4])
            .map(|(&c, p)| {
                let e = p * n as f64;
                (c as f64 - e).powi(2) / e
            })
            .sum();
        assert!(chi2 < 16.27, "chi-square {chi2}, counts {counts:?}");
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_it_and_renormalises() {
        // p = [0.1, 0.2, 0.3, 0.4]; top_p 0.6 keeps {3, 2} (0.7 ≥ 0.6) with 4:3 odds.
        let logits = [0.0f32, 2f32.ln(), 3f32.ln(), 4f32.ln()];
        let mut rng = Rng::new(11);
        let n = 100_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[choose(&logits, &sampling(1.0, 0.6), &mut rng) as usize] += 1;
        }
        assert_eq!(counts[0] + counts[1], 0);
        let share = counts[3] as f64 / n as f64;
        // 4/7 = 0.5714; binomial s.e. 0.0016.
        assert!((share - 4.0 / 7.0).abs() < 0.008, "{share}");
    }

    #[test]
    fn temperature_sharpens_and_flattens() {
        let logits = [0.0f32, 1.0];
        let p1 = |t: f64| log_probs(&logits, t)[1].exp();
        assert!((p1(1.0) - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-12);
        assert!(p1(0.5) > p1(1.0) && p1(2.0) < p1(1.0));
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(sampling(-1.0, 1.0).validate().is_err());
        assert!(sampling(1.0, 0.0).validate().is_err());
        assert!(sampling(1.0, 1.5).validate().is_err());
        let stop = GenerationConfig {
            stop: vec![String::new()],
            ..GenerationConfig::default()
        };
        assert!(stop.validate().is_err());
    }

    /// A decoder over a fixed table: after token t the next is (t + 1) mod 5,
    /// token 4 is the end token, and the text of token t is the letter a + t.
    struct Counter {
        last: u32,
    }

    impl Decoder for Counter {
        fn prefill(&mut self, ids: &[u32]) -> Result<Vec<f32>, BackendError> {
            self.last = *ids.last().unwrap();
            Ok(self.logits())
        }
        fn step(&mut self, id: u32) -> Result<Vec<f32>, BackendError> {
            self.last = id;
            Ok(self.logits())
        }
        fn decode(&self, ids: &[u32]) -> String {
            ids.iter().map(|&i| char::from(b'a' + i as u8)).collect()
        }
        fn end_tokens(&self) -> Vec<u32> {
            vec![4]
        }
        fn context_length(&self) -> usize {
            8
        }
    }

    impl Counter {
        fn logits(&self) -> Vec<f32> {
            let mut l = vec![0.0; 5];
            l[((self.last + 1) % 5) as usize] = 10.0;
            l
        }
    }

    #[test]
    fn generation_stops_at_end_tokens_stop_strings_budget_and_context() {
        let greedy = GenerationConfig::default();
        let g = generate(&mut Counter { last: 0 }, &[0], &greedy).unwrap();
        assert_eq!((g.text.as_str(), g.finish), ("bcd", Finish::EndToken));
        assert_eq!(g.tokens, [1, 2, 3, 4]);
        assert!(g.logprobs.iter().all(|&lp| lp < 0.0 && lp > -1e-3));

        let stop = GenerationConfig {
            stop: vec!["cd".into(), "zz".into()],
            ..greedy.clone()
        };
        let g = generate(&mut Counter { last: 0 }, &[0], &stop).unwrap();
        assert_eq!((g.text.as_str(), g.finish), ("b", Finish::Stop));

        let short = GenerationConfig {
            max_tokens: 2,
            ..greedy.clone()
        };
        let g = generate(&mut Counter { last: 0 }, &[0], &short).unwrap();
        assert_eq!((g.text.as_str(), g.finish), ("bc", Finish::Length));

        // A 7-token prompt leaves room for one token in a context of 8.
        let g = generate(&mut Counter { last: 0 }, &[0, 0, 0, 0, 0, 0, 0], &greedy).unwrap();
        assert_eq!((g.tokens.len(), g.finish), (1, Finish::Length));
        assert!(generate(&mut Counter { last: 0 }, &[0; 8], &greedy).is_err());
        assert!(generate(&mut Counter { last: 0 }, &[], &greedy).is_err());
    }

    /// A decoder with flat logits over 1,000 tokens and no end token.
    struct Flat;

    impl Decoder for Flat {
        fn prefill(&mut self, _: &[u32]) -> Result<Vec<f32>, BackendError> {
            Ok(vec![0.0; 1000])
        }
        fn step(&mut self, _: u32) -> Result<Vec<f32>, BackendError> {
            Ok(vec![0.0; 1000])
        }
        fn decode(&self, ids: &[u32]) -> String {
            format!("{ids:?}")
        }
        fn end_tokens(&self) -> Vec<u32> {
            Vec::new()
        }
        fn context_length(&self) -> usize {
            1000
        }
    }

    #[test]
    fn a_watermark_biases_the_choice_towards_the_green_list() {
        use crate::provenance::watermark::{detect, WatermarkConfig};
        let plain = GenerationConfig {
            max_tokens: 300,
            temperature: 1.0,
            seed: 5,
            ..GenerationConfig::default()
        };
        let mark = |delta: f64| GenerationConfig {
            watermark: Some(WatermarkConfig {
                gamma: 0.25,
                delta,
                key: b"test key".to_vec(),
            }),
            ..plain.clone()
        };
        let unmarked = generate(&mut Flat, &[7], &plain).unwrap();
        // δ = 0 changes no logit: the same draws give the same tokens.
        assert_eq!(generate(&mut Flat, &[7], &mark(0.0)).unwrap(), unmarked);
        // δ = 4 over flat logits: a green token has probability
        // 0.25e⁴ / (0.25e⁴ + 0.75) ≈ 0.95 at each step.
        let marked = generate(&mut Flat, &[7], &mark(4.0)).unwrap();
        assert_eq!(generate(&mut Flat, &[7], &mark(4.0)).unwrap(), marked);
        let config = mark(4.0).watermark.unwrap();
        let mut with_prompt = vec![7];
        with_prompt.extend(&marked.tokens);
        let d = detect(&with_prompt, &config).unwrap();
        assert!(d.z > 10.0 && d.green as f64 > 0.85 * d.t as f64, "{d:?}");
        let d = detect(&unmarked.tokens, &config).unwrap();
        assert!(d.z.abs() < 4.0, "{d:?}");
        // The log-probabilities stay the model's own: uniform over 1,000.
        assert!(marked
            .logprobs
            .iter()
            .all(|&lp| (lp + 1000f64.ln()).abs() < 1e-9));
        // An empty key is refused.
        let mut bad = mark(1.0);
        bad.watermark.as_mut().unwrap().key.clear();
        assert!(generate(&mut Flat, &[7], &bad).is_err());
    }

    #[test]
    fn a_config_without_a_watermark_serialises_as_before() {
        let json = serde_json::to_value(GenerationConfig::default()).unwrap();
        assert!(json.get("watermark").is_none(), "{json}");
    }
}
