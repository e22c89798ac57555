//! The backend stage: talking to a model. In this slice one backend exists, an
//! in-process GGUF model run through candle; the [`Backend`] enum is the closed set
//! the spec's `model.kind` selects from, so later backends slot in beside it.
//!
//! The capability the audit needs is `score`: the log-probability of given
//! continuations after a prompt, summed over the continuation's tokens and per
//! token. Prompts that share a prefix (the probes of one scenario) are scored
//! together so the prefix is computed once.

pub mod bert;
pub mod bf16;
mod chat;
mod error;
pub mod generate;
pub mod gguf;
pub mod known;
mod llama;
pub mod openai;
pub mod qmatvec;
mod spm;
pub mod subprocess;
mod tokenizer;

pub use bert::BertEmbedder;
pub use error::BackendError;
pub use gguf::GgufModel;
pub use known::KnownModel;

use serde::{Deserialize, Serialize};

/// What identifies and describes a model, for `model info`, results and reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ModelInfo {
    /// The known model's name, or the file name.
    pub name: String,
    pub architecture: String,
    pub parameters: u64,
    /// The weight types in the file, e.g. "Q4_1 (most tensors), F32".
    pub quantisation: String,
    pub vocab_size: usize,
    pub context_length: Option<u64>,
    pub sha256: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    pub has_chat_template: bool,
}

impl ModelInfo {
    /// A model probity does not see inside (a server, a command, a recording):
    /// only a name, what it is, how its numbers come about, and a hash.
    pub fn opaque(
        name: String,
        architecture: &str,
        quantisation: &str,
        sha256: String,
        size_bytes: u64,
        has_chat_template: bool,
    ) -> ModelInfo {
        ModelInfo {
            name,
            architecture: architecture.into(),
            parameters: 0,
            quantisation: quantisation.into(),
            vocab_size: 0,
            context_length: None,
            sha256,
            size_bytes,
            licence: None,
            upstream: None,
            has_chat_template,
        }
    }
}

/// One token of a scored continuation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenScore {
    pub id: u32,
    pub piece: String,
    pub logprob: f64,
}

/// The log-probability of one continuation after a prompt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContinuationScore {
    pub text: String,
    pub logprob: f64,
    pub tokens: Vec<TokenScore>,
    /// The server did not list this continuation among its most likely tokens:
    /// `logprob` is an upper bound (the smallest listed), not a value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub censored: bool,
}

/// One prompt to score, in the forms backends want: the complete text (chat
/// template applied when the audit asks), and the user message with the answer
/// prefix apart (for a server that applies its own template).
#[derive(Debug, Clone, PartialEq)]
pub struct ScorePrompt {
    pub text: String,
    pub user: String,
    pub prefix: String,
}

impl ScorePrompt {
    /// A prompt given as text only (its own user message, no answer prefix).
    pub fn raw(text: String) -> ScorePrompt {
        ScorePrompt {
            user: text.clone(),
            text,
            prefix: String::new(),
        }
    }
}

/// The closed set of backends.
pub enum Backend {
    Gguf(Box<GgufModel>),
    /// A model behind a command speaking JSON lines (`backend::subprocess`).
    Subprocess(Box<subprocess::SubprocessModel>),
    /// An OpenAI-compatible HTTP server (`backend::openai`).
    OpenAi(Box<openai::OpenAiModel>),
}

impl Backend {
    pub fn info(&self) -> &ModelInfo {
        match self {
            Backend::Gguf(m) => m.info(),
            Backend::Subprocess(m) => m.info(),
            Backend::OpenAi(m) => m.info(),
        }
    }

    /// Renders a user message through the model's chat template.
    pub fn chat_prompt(&self, user: &str) -> Result<String, BackendError> {
        match self {
            Backend::Gguf(m) => m.chat_prompt(user),
            Backend::Subprocess(m) => m.chat_prompt(user),
            Backend::OpenAi(m) => m.chat_prompt(user),
        }
    }

    /// Scores every continuation after every prompt. Prompts are raw text (special
    /// tokens are parsed); the shared token prefix of all prompts is computed once.
    pub fn score(
        &mut self,
        prompts: &[ScorePrompt],
        continuations: &[String],
    ) -> Result<Vec<Vec<ContinuationScore>>, BackendError> {
        let texts = || prompts.iter().map(|p| p.text.clone()).collect::<Vec<_>>();
        match self {
            Backend::Gguf(m) => m.score(&texts(), continuations),
            Backend::Subprocess(m) => m.score(&texts(), continuations),
            Backend::OpenAi(m) => m.score(prompts, continuations),
        }
    }
}

impl Backend {
    /// log p of every token of `text` after the model's start token, with the
    /// token's text (for sentence-likelihood probes). Only an in-process model gives
    /// them; a server or subprocess is an error naming why.
    pub fn token_logprobs(&mut self, text: &str) -> Result<Vec<TokenScore>, BackendError> {
        match self {
            Backend::Gguf(m) => Ok(m
                .token_logprobs(text)?
                .into_iter()
                .map(|(id, logprob)| TokenScore {
                    id,
                    piece: m.piece(id),
                    logprob,
                })
                .collect()),
            Backend::Subprocess(_) | Backend::OpenAi(_) => Err(BackendError::Generation(format!(
                "{} cannot score every token of a sentence: sentence-likelihood probes (kind \"paired\") need an in-process model (kind gguf or safetensors)",
                self.info().name
            ))),
        }
    }

    /// Generates after `text` (the chat template already applied when wanted).
    pub fn generate(
        &mut self,
        text: &str,
        config: &generate::GenerationConfig,
    ) -> Result<generate::Generation, BackendError> {
        match self {
            Backend::Gguf(m) => m.generate(text, config),
            Backend::Subprocess(_) | Backend::OpenAi(_) => Err(BackendError::Generation(format!(
                "{} cannot generate in-process: generation probes need an in-process model (kind gguf or safetensors)",
                self.info().name
            ))),
        }
    }
}

/// log(Σ exp(x)) without overflow; −∞ for an empty slice.
pub fn log_sum_exp(values: &[f64]) -> f64 {
    let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
        assert!((log_sum_exp(&[0.5f64.ln(), 0.25f64.ln()]) - 0.75f64.ln()).abs() < 1e-12);
    }
}
