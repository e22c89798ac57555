//! The OpenAI-compatible HTTP backend: vLLM, TGI, llama.cpp's server, Ollama or any
//! server of the OpenAI API, through `/v1/completions` (raw text; probity renders the
//! chat template) or `/v1/chat/completions` (the server renders it).
//!
//! A decision probe needs the probability of single answer words: each prompt is one
//! request for one token with the server's `top_logprobs`. A continuation the server
//! does not list is **censored**: its probability is at most the smallest listed one,
//! so that bound is used and the continuation is recorded as censored, never taken
//! as zero. A server that gives no log-probabilities at all is an error that says so.
//!
//! With `endpoint = "echo"` (lm-eval's method for such servers) a prompt is one
//! request listing the prompt followed by each continuation, `echo: true`,
//! `max_tokens: 0`: the server returns every token of each text with its
//! log-probability and character offset, and a continuation's score is the sum over
//! the tokens that start at or after the end of the prompt. A token that straddles
//! the end of the prompt makes the continuation unscorable: an error that says so.
//!
//! Requests run `concurrency` at a time; each is retried on 429, 5xx and transport
//! failures (refused, reset, closed mid-response, timed out) with exponential backoff
//! and jitter, honouring `Retry-After`. The API key is read from the environment
//! variable the spec names and never reaches any output, log or error.

use super::chat::ChatTemplate;
use super::{BackendError, ContinuationScore, ModelInfo, ScorePrompt, TokenScore};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Which endpoint scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `/v1/completions`: the prompt is sent as text.
    #[default]
    Completions,
    /// `/v1/chat/completions`: the user message is sent, and the probe's answer
    /// prefix as the start of the assistant's reply.
    Chat,
    /// `/v1/completions` with `echo`: each continuation is sent appended to the
    /// prompt, and the server returns the log-probability of every token of that
    /// text; the continuation's tokens are summed. Exact (never censored), for
    /// continuations of any length, where the server supports it.
    Echo,
}

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// The `model` field of every request.
    pub api_model: String,
    /// The API key, already read from its environment variable.
    pub api_key: Option<String>,
    pub endpoint: Endpoint,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    /// How many alternatives to ask for (OpenAI allows up to 20).
    pub top_logprobs: usize,
    /// Longest wait between attempts, whatever `Retry-After` says.
    pub max_backoff: Duration,
}

pub struct OpenAiModel {
    agent: ureq::Agent,
    settings: HttpSettings,
    chat: Option<ChatTemplate>,
    info: ModelInfo,
}

/// What one attempt at a request gave.
enum Attempt {
    Done(Value),
    /// Worth another try, after at least this long (from `Retry-After`).
    Retry(String, Option<Duration>),
    /// Not worth another try.
    Fail(BackendError),
}

impl OpenAiModel {
    /// Checks the server can be reached (a TCP connection to its host), then
    /// prepares the client. An unreachable endpoint is bad input.
    pub fn connect(
        settings: HttpSettings,
        chat_template: Option<&Path>,
        info: ModelInfo,
    ) -> Result<OpenAiModel, BackendError> {
        let url = settings.base_url.trim_end_matches('/').to_string();
        let bad = |message: String| BackendError::Endpoint {
            url: url.clone(),
            message,
        };
        let rest = url
            .strip_prefix("http://")
            .map(|r| (r, 80))
            .or_else(|| url.strip_prefix("https://").map(|r| (r, 443)));
        let Some((rest, default_port)) = rest else {
            return Err(bad(
                "the base URL must start with http:// or https://".into()
            ));
        };
        let authority = rest.split('/').next().unwrap_or("");
        let address = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            authority.to_string()
        } else {
            format!("{authority}:{default_port}")
        };
        use std::net::ToSocketAddrs;
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| bad(format!("cannot resolve {address}: {e}")))?
            .collect();
        let reachable = addrs.iter().any(|a| {
            std::net::TcpStream::connect_timeout(a, settings.timeout.min(Duration::from_secs(10)))
                .is_ok()
        });
        if !reachable {
            return Err(bad(format!(
                "unreachable: nothing accepts connections at {address}"
            )));
        }
        let chat = chat_template.map(ChatTemplate::from_file).transpose()?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(settings.timeout.min(Duration::from_secs(30)))
            .timeout_read(settings.timeout)
            .timeout_write(settings.timeout)
            .build();
        Ok(OpenAiModel {
            agent,
            settings: HttpSettings {
                base_url: url,
                ..settings
            },
            chat,
            info,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The chat endpoint leaves templating to the server; the completions endpoint
    /// needs the spec's template.
    pub fn chat_prompt(&self, user: &str) -> Result<String, BackendError> {
        if self.settings.endpoint == Endpoint::Chat {
            return Ok(user.to_string());
        }
        let chat = self.chat.as_ref().ok_or_else(|| BackendError::Endpoint {
            url: self.settings.base_url.clone(),
            message: "the audit asks for chat wrapping (`scoring.chat = true`) on the completions endpoint, so probity must render the chat template: name it with `[model] chat_template`, or use `endpoint = \"chat\"`".into(),
        })?;
        chat.user_turn(user)
            .map_err(|message| BackendError::Endpoint {
                url: self.settings.base_url.clone(),
                message: format!("chat template: {message}"),
            })
    }

    fn url(&self) -> String {
        match self.settings.endpoint {
            Endpoint::Completions | Endpoint::Echo => {
                format!("{}/completions", self.settings.base_url)
            }
            Endpoint::Chat => format!("{}/chat/completions", self.settings.base_url),
        }
    }

    fn body(&self, prompt: &ScorePrompt, continuations: &[String]) -> Value {
        let s = &self.settings;
        match s.endpoint {
            Endpoint::Echo => json!({
                "model": s.api_model,
                "prompt": continuations
                    .iter()
                    .map(|c| format!("{}{c}", prompt.text))
                    .collect::<Vec<_>>(),
                "max_tokens": 0,
                "temperature": 0,
                "echo": true,
                "logprobs": 1,
            }),
            Endpoint::Completions => json!({
                "model": s.api_model,
                "prompt": prompt.text,
                "max_tokens": 1,
                "temperature": 0,
                "logprobs": s.top_logprobs,
            }),
            Endpoint::Chat => {
                let mut messages = vec![json!({ "role": "user", "content": prompt.user })];
                let mut body = json!({
                    "model": s.api_model,
                    "max_tokens": 1,
                    "temperature": 0,
                    "logprobs": true,
                    "top_logprobs": s.top_logprobs,
                });
                if !prompt.prefix.is_empty() {
                    // The answer prefix starts the assistant's reply (vLLM's and
                    // llama.cpp's servers continue a final assistant message).
                    messages.push(json!({ "role": "assistant", "content": prompt.prefix }));
                    body["continue_final_message"] = json!(true);
                    body["add_generation_prompt"] = json!(false);
                }
                body["messages"] = json!(messages);
                body
            }
        }
    }

    fn attempt(&self, body: &Value) -> Attempt {
        let mut request = self.agent.post(&self.url());
        if let Some(key) = &self.settings.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        match request.send_json(body) {
            Ok(response) => match response.into_string() {
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(v) => Attempt::Done(v),
                    Err(e) => {
                        let shown: String = text.chars().take(200).collect();
                        Attempt::Retry(format!("the answer is not JSON ({e}): {shown:?}"), None)
                    }
                },
                Err(e) => Attempt::Retry(format!("the answer broke off: {e}"), None),
            },
            Err(ureq::Error::Status(code, response)) => {
                let after = response
                    .header("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(Duration::from_secs_f64);
                let text: String = response
                    .into_string()
                    .unwrap_or_default()
                    .chars()
                    .take(300)
                    .collect();
                // The body is the server's text: quoted, so control characters
                // cannot reach the terminal.
                if code == 429 || code >= 500 {
                    Attempt::Retry(format!("HTTP {code}: {text:?}"), after)
                } else {
                    Attempt::Fail(BackendError::Endpoint {
                        url: self.url(),
                        message: format!("HTTP {code}: {text:?}"),
                    })
                }
            }
            Err(ureq::Error::Transport(t)) => Attempt::Retry(format!("{t}"), None),
        }
    }

    /// Sends one request, retrying as the module says; `index` spreads the jitter.
    fn request(&self, body: &Value, index: usize) -> Result<Value, BackendError> {
        let mut last = String::new();
        for attempt in 0..=self.settings.max_retries {
            match self.attempt(body) {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(why, after) => {
                    last = why;
                    if attempt == self.settings.max_retries {
                        break;
                    }
                    // 0.25 s · 2^attempt, plus up to 50% jitter, or Retry-After
                    // when the server gives one; never above max_backoff.
                    let base = 0.25 * f64::powi(2.0, attempt as i32);
                    let jitter = jitter_fraction(index as u64, attempt as u64) * 0.5 * base;
                    let wait = after
                        .unwrap_or_else(|| Duration::from_secs_f64(base + jitter))
                        .min(self.settings.max_backoff);
                    std::thread::sleep(wait);
                }
            }
        }
        Err(BackendError::ModelProcess(format!(
            "at {}: no usable answer after {} attempts; the last: {last}",
            self.url(),
            self.settings.max_retries + 1
        )))
    }

    /// Scores every continuation after every prompt: one request per prompt,
    /// `concurrency` at a time.
    pub fn score(
        &self,
        prompts: &[ScorePrompt],
        continuations: &[String],
    ) -> Result<Vec<Vec<ContinuationScore>>, BackendError> {
        let next = AtomicUsize::new(0);
        let workers = self.settings.concurrency.clamp(1, prompts.len().max(1));
        // Each worker takes the next prompt until none is left (or one failed) and
        // returns what it answered; the answers are put back in prompt order.
        let answered: Vec<(usize, Result<Vec<ContinuationScore>, BackendError>)> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|_| {
                        scope.spawn(|| {
                            let mut mine = Vec::new();
                            loop {
                                let i = next.fetch_add(1, Ordering::Relaxed);
                                if i >= prompts.len() {
                                    break mine;
                                }
                                let result = self
                                    .request(&self.body(&prompts[i], continuations), i)
                                    .and_then(|v| match self.settings.endpoint {
                                        Endpoint::Echo => {
                                            self.read_echo(&v, &prompts[i].text, continuations)
                                        }
                                        _ => self.read_scores(&v, continuations),
                                    });
                                if result.is_err() {
                                    // Stop handing out work; the first failure is reported.
                                    next.store(prompts.len(), Ordering::Relaxed);
                                }
                                mine.push((i, result));
                            }
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().expect("a scoring thread panicked"))
                    .collect()
            });
        let mut results: Vec<Option<Result<Vec<ContinuationScore>, BackendError>>> =
            (0..prompts.len()).map(|_| None).collect();
        for (i, r) in answered {
            results[i] = Some(r);
        }
        let mut out = Vec::with_capacity(prompts.len());
        for r in results {
            match r {
                Some(Ok(scores)) => out.push(scores),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        if out.len() != prompts.len() {
            return Err(BackendError::ModelProcess(format!(
                "at {}: some prompts were not answered",
                self.url()
            )));
        }
        Ok(out)
    }

    /// The listed alternatives for the first generated token, as (token, logprob).
    fn top_alternatives(&self, v: &Value) -> Result<Vec<(String, f64)>, BackendError> {
        let none = || BackendError::NoLogprobs { url: self.url() };
        let choice =
            v.get("choices")
                .and_then(|c| c.get(0))
                .ok_or_else(|| BackendError::Endpoint {
                    url: self.url(),
                    message: "the answer has no `choices`".into(),
                })?;
        let logprobs = choice
            .get("logprobs")
            .filter(|l| !l.is_null())
            .ok_or_else(none)?;
        let pairs: Vec<(String, f64)> = match self.settings.endpoint {
            // {"top_logprobs": [{"token": logprob, …}]}
            Endpoint::Completions | Endpoint::Echo => logprobs
                .get("top_logprobs")
                .and_then(|t| t.get(0))
                .and_then(|t| t.as_object())
                .ok_or_else(none)?
                .iter()
                .filter_map(|(token, lp)| lp.as_f64().map(|lp| (token.clone(), lp)))
                .collect(),
            // {"content": [{"top_logprobs": [{"token", "logprob"}, …]}]}
            Endpoint::Chat => logprobs
                .get("content")
                .and_then(|c| c.get(0))
                .and_then(|c| c.get("top_logprobs"))
                .and_then(|t| t.as_array())
                .ok_or_else(none)?
                .iter()
                .filter_map(|t| {
                    Some((
                        t.get("token")?.as_str()?.to_string(),
                        t.get("logprob")?.as_f64()?,
                    ))
                })
                .collect(),
        };
        if pairs.is_empty()
            || pairs
                .iter()
                .any(|(_, lp)| !(lp.is_finite() || *lp == f64::NEG_INFINITY) || *lp > 1e-9)
        {
            return Err(BackendError::Endpoint {
                url: self.url(),
                message: "the listed log-probabilities are empty or not numbers ≤ 0".into(),
            });
        }
        Ok(pairs)
    }

    /// The continuations' scores from an echo answer: choice `i` (by its `index`)
    /// is the prompt followed by continuation `i`.
    fn read_echo(
        &self,
        v: &Value,
        prompt: &str,
        continuations: &[String],
    ) -> Result<Vec<ContinuationScore>, BackendError> {
        let bad = |message: String| BackendError::Endpoint {
            url: self.url(),
            message,
        };
        let choices = v
            .get("choices")
            .and_then(|c| c.as_array())
            .ok_or_else(|| bad("the answer has no `choices`".into()))?;
        let start = prompt.chars().count();
        let mut out = Vec::with_capacity(continuations.len());
        for (i, c) in continuations.iter().enumerate() {
            let choice = choices
                .iter()
                .find(|ch| ch.get("index").and_then(|x| x.as_u64()) == Some(i as u64))
                .or_else(|| choices.get(i))
                .ok_or_else(|| bad(format!("no choice for continuation {i} ({c:?})")))?;
            let lp = choice
                .get("logprobs")
                .filter(|l| !l.is_null())
                .ok_or(BackendError::NoLogprobs { url: self.url() })?;
            let list = |key: &str| -> Result<&Vec<Value>, BackendError> {
                lp.get(key).and_then(|x| x.as_array()).ok_or_else(|| {
                    bad(format!(
                        "an echo answer needs `logprobs.{key}` (does the server support `echo`?)"
                    ))
                })
            };
            let (tokens, logprobs, offsets) = (
                list("tokens")?,
                list("token_logprobs")?,
                list("text_offset")?,
            );
            if tokens.len() != logprobs.len() || tokens.len() != offsets.len() {
                return Err(bad(
                    "`tokens`, `token_logprobs` and `text_offset` differ in length".into(),
                ));
            }
            let end = start + c.chars().count();
            let mut scores = Vec::new();
            let mut starts_at_boundary = false;
            for ((t, l), o) in tokens.iter().zip(logprobs).zip(offsets) {
                let o = o
                    .as_u64()
                    .ok_or_else(|| bad("a `text_offset` is not a number".into()))?
                    as usize;
                let piece = t.as_str().unwrap_or_default().to_string();
                if o < start && o + piece.chars().count() > start {
                    return Err(bad(format!(
                        "the server's token {piece:?} runs across the end of the prompt, so the score of {c:?} cannot be separated from it; use endpoint = \"completions\""
                    )));
                }
                if o >= start && o < end {
                    starts_at_boundary |= o == start;
                    let l = l.as_f64().filter(|x| *x <= 1e-9).ok_or_else(|| {
                        bad(format!(
                            "the log-probability of token {piece:?} is not a number ≤ 0"
                        ))
                    })?;
                    scores.push(TokenScore {
                        id: 0,
                        piece,
                        logprob: l,
                    });
                }
            }
            if !starts_at_boundary || scores.is_empty() {
                return Err(bad(format!(
                    "no token of the echoed text starts where the prompt ends, so {c:?} cannot be scored"
                )));
            }
            // The tokens scored must spell the continuation exactly: offsets counted
            // in bytes, or a choice answering another continuation, would otherwise
            // score the wrong text without a word.
            let spelt: String = scores.iter().map(|s| s.piece.as_str()).collect();
            if spelt != *c {
                return Err(bad(format!(
                    "the echoed tokens after the prompt spell {spelt:?}, not the continuation {c:?} (does the server count `text_offset` in characters?); use endpoint = \"completions\""
                )));
            }
            out.push(ContinuationScore {
                text: c.clone(),
                logprob: scores.iter().map(|s| s.logprob).sum(),
                tokens: scores,
                censored: false,
            });
        }
        Ok(out)
    }

    fn read_scores(
        &self,
        v: &Value,
        continuations: &[String],
    ) -> Result<Vec<ContinuationScore>, BackendError> {
        let listed = self.top_alternatives(v)?;
        let floor = listed
            .iter()
            .map(|(_, lp)| *lp)
            .fold(f64::INFINITY, f64::min);
        Ok(continuations
            .iter()
            .map(|c| {
                let found = listed.iter().find(|(t, _)| t == c).map(|(_, lp)| *lp);
                let logprob = found.unwrap_or(floor);
                ContinuationScore {
                    text: c.clone(),
                    logprob,
                    tokens: vec![TokenScore {
                        id: 0,
                        piece: c.clone(),
                        logprob,
                    }],
                    censored: found.is_none(),
                }
            })
            .collect())
    }
}

/// A fraction in [0, 1) from (request, attempt), so jitter spreads retries
/// without a shared generator.
fn jitter_fraction(index: u64, attempt: u64) -> f64 {
    let mut z = index
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(attempt.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}
