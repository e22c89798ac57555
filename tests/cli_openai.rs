//! The OpenAI-compatible HTTP backend against a real HTTP server on loopback,
//! started by each test: log-probabilities through both endpoints (censoring of
//! unlisted answers), the API key sent and never written, and every way a server
//! fails — malformed JSON, 429 with Retry-After, 500, a hung connection, a
//! connection closed mid-response, no log-probabilities, nothing listening.

mod common;

use common::mini::{probe_set, LEXICON_AGE, LEXICON_GENDER};
use common::{probity, write};
use predicates::str::contains;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server does with request number `n` (from 1).
#[derive(Clone, Copy)]
enum Behaviour {
    Answer,
    Status(u16, Option<u64>),
    Malformed,
    Hang(u64),
    CloseMidResponse,
    NoLogprobs,
    /// An echo answer whose single token covers the whole text.
    EchoMerged,
    /// An echo answer whose choices carry no `index` and come in reverse order.
    EchoUnindexed,
}

struct Recorded {
    path: String,
    authorization: Option<String>,
    body: Value,
}

struct Server {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

/// The log-probabilities the server lists for a prompt: " Yes" and " No" vary with
/// the prompt's length; "Yes" is one nat below " Yes"; "The" is the floor.
fn listed(prompt: &str) -> Vec<(&'static str, f64)> {
    let k = (prompt.chars().count() % 7) as f64;
    vec![
        (" Yes", -0.4 - 0.05 * k),
        (" No", -1.3 + 0.05 * k),
        ("Yes", -1.4 - 0.05 * k),
        ("The", -3.0),
    ]
}

/// The test server's tokens: a space and a run of letters and digits, a run of
/// letters and digits, or any other single character; (piece, char offset).
fn echo_tokens(text: &str) -> Vec<(String, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        if chars[i] == ' ' && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric()) {
            i += 1;
        }
        if chars[i].is_alphanumeric() {
            while i < chars.len() && chars[i].is_alphanumeric() {
                i += 1;
            }
        } else {
            i += 1;
        }
        out.push((chars[start..i].iter().collect(), start));
    }
    out
}

/// The log-probability the echo server gives a token: it depends on the piece
/// and its offset, so every prompt and continuation scores differently.
fn echo_logprob(piece: &str, offset: usize) -> f64 {
    -(0.05 + 0.1 * (offset % 7) as f64 + 0.03 * piece.chars().count() as f64)
}

fn echo_answer(body: &Value, merged: bool) -> Value {
    let texts: Vec<String> = body["prompt"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let tokens = if merged {
                vec![(text.clone(), 0)]
            } else {
                echo_tokens(text)
            };
            let lps: Vec<Value> = tokens
                .iter()
                .enumerate()
                .map(|(k, (p, o))| {
                    if k == 0 {
                        Value::Null
                    } else {
                        json!(echo_logprob(p, *o))
                    }
                })
                .collect();
            json!({ "index": i, "text": text, "logprobs": {
                "tokens": tokens.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
                "token_logprobs": lps,
                "text_offset": tokens.iter().map(|(_, o)| *o).collect::<Vec<_>>(),
            } })
        })
        .collect();
    // Listed in reverse: the backend must go by `index`.
    json!({ "choices": choices.into_iter().rev().collect::<Vec<_>>() })
}

fn answer(path: &str, body: &Value, logprobs: bool) -> Value {
    if body["echo"] == json!(true) {
        return echo_answer(body, false);
    }
    let prompt = if path.ends_with("/chat/completions") {
        body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    } else {
        body["prompt"].as_str().unwrap_or("").to_string()
    };
    let top = listed(&prompt);
    if !logprobs {
        return json!({ "choices": [{ "text": " Yes", "index": 0 }] });
    }
    if path.ends_with("/chat/completions") {
        let alternatives: Vec<Value> = top
            .iter()
            .map(|(t, lp)| json!({ "token": t, "logprob": lp }))
            .collect();
        json!({ "choices": [{ "index": 0, "message": { "role": "assistant", "content": " Yes" },
                "logprobs": { "content": [{ "token": " Yes", "logprob": top[0].1, "top_logprobs": alternatives }] } }] })
    } else {
        let map: serde_json::Map<String, Value> = top
            .iter()
            .map(|(t, lp)| (t.to_string(), json!(lp)))
            .collect();
        json!({ "choices": [{ "index": 0, "text": " Yes",
                "logprobs": { "tokens": [" Yes"], "token_logprobs": [top[0].1], "top_logprobs": [map] } }] })
    }
}

fn read_request(stream: &mut TcpStream) -> Option<(String, Option<String>, Value)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut length = 0;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = Some(value.trim().to_string()),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, authorization, serde_json::from_slice(&body).ok()?))
}

fn respond(stream: &mut TcpStream, status: u16, extra: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

fn serve(behaviour: impl Fn(usize) -> Behaviour + Send + Sync + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    let count = Arc::new(AtomicUsize::new(0));
    let behaviour = Arc::new(behaviour);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (seen, count, behaviour) = (
                Arc::clone(&seen),
                Arc::clone(&count),
                Arc::clone(&behaviour),
            );
            std::thread::spawn(move || {
                // The backend's reachability check connects and sends nothing.
                let Some((path, authorization, body)) = read_request(&mut stream) else {
                    return;
                };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let reply = |logprobs| answer(&path, &body, logprobs).to_string();
                match behaviour(n) {
                    Behaviour::Answer => respond(&mut stream, 200, "", &reply(true)),
                    Behaviour::NoLogprobs => respond(&mut stream, 200, "", &reply(false)),
                    Behaviour::EchoMerged => {
                        respond(&mut stream, 200, "", &echo_answer(&body, true).to_string())
                    }
                    Behaviour::EchoUnindexed => {
                        let mut v = echo_answer(&body, false);
                        for c in v["choices"].as_array_mut().unwrap() {
                            c.as_object_mut().unwrap().remove("index");
                        }
                        respond(&mut stream, 200, "", &v.to_string())
                    }
                    Behaviour::Status(code, after) => {
                        let extra =
                            after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
                        respond(&mut stream, code, &extra, "{\"error\": \"busy\"}");
                    }
                    Behaviour::Malformed => respond(&mut stream, 200, "", "{\"choices\": [oops"),
                    Behaviour::Hang(seconds) => std::thread::sleep(Duration::from_secs(seconds)),
                    Behaviour::CloseMidResponse => {
                        let _ = stream
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"choi");
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                }
                seen.lock().unwrap().push(Recorded {
                    path,
                    authorization,
                    body,
                });
            });
        }
    });
    Server { url, requests }
}

fn fixture(url: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    write(&root.join("probes/lexicon/gender.toml"), LEXICON_GENDER);
    write(&root.join("probes/lexicon/age.toml"), LEXICON_AGE);
    write(&root.join("probes/mini.toml"), &probe_set(6));
    let spec = root.join("audit.toml");
    write(
        &spec,
        &format!(
            "[audit]\nname = \"http\"\nseed = 3\nout = \"out\"\n\n[model]\nkind = \"openai\"\nurl = \"{url}\"\napi_model = \"tiny-chat\"\napi_key_env = \"PROBITY_TEST_KEY\"\nconcurrency = 3\n{extra}\n[[probes]]\npath = \"probes/mini.toml\"\n\n[scoring]\nchat = false\nn_boot = 199\n"
        ),
    );
    (dir, spec)
}

fn audit(spec: &Path) -> assert_cmd::assert::Assert {
    probity()
        .env("PROBITY_TEST_KEY", "sekrit-key-123")
        .arg("audit")
        .arg(spec)
        .assert()
}

fn responses(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("out/responses.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn lse(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + values.iter().map(|v| (v - max).exp()).sum::<f64>().ln()
}

fn check_scores(dir: &Path, prompt_of: impl Fn(&Value) -> String) {
    let rs = responses(dir);
    assert_eq!(rs.len(), 48);
    for r in &rs {
        let top = listed(&prompt_of(r));
        // Listed: " Yes", "Yes" (yes forms), " No" (no form). Unlisted forms are
        // censored at the floor, -3.0: "yes", " yes" and "no", "No", " no".
        let yes = lse(&[top[0].1, top[2].1, -3.0, -3.0]);
        let no = lse(&[top[1].1, -3.0, -3.0, -3.0]);
        assert!((r["logp_yes"].as_f64().unwrap() - yes).abs() < 1e-12, "{r}");
        assert!((r["logp_no"].as_f64().unwrap() - no).abs() < 1e-12, "{r}");
        let censored: Vec<&str> = r["censored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(censored, ["yes", " yes", "no", "No", " no"]);
    }
}

#[test]
fn completions_endpoint_scores_with_censoring_and_keeps_the_key_secret() {
    let server = serve(|_| Behaviour::Answer);
    let (dir, spec) = fixture(&server.url, "");
    let a = audit(&spec);
    let code = a.get_output().status.code().unwrap();
    assert!(
        code <= 1,
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    check_scores(dir.path(), |r| r["prompt"].as_str().unwrap().to_string());
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 48);
    for r in requests.iter() {
        assert_eq!(r.path, "/v1/completions");
        assert_eq!(r.authorization.as_deref(), Some("Bearer sekrit-key-123"));
        assert_eq!(r.body["model"], "tiny-chat");
        assert_eq!(r.body["max_tokens"], 1);
        assert_eq!(r.body["logprobs"], 20);
    }
    // The key reaches no file of the out dir and no output.
    for entry in std::fs::read_dir(dir.path().join("out")).unwrap() {
        let text = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains("sekrit"));
    }
    let output = a.get_output();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("sekrit"));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("sekrit"));
    probity()
        .arg("verify")
        .arg(dir.path().join("out"))
        .assert()
        .code(0);
}

#[test]
fn chat_endpoint_sends_the_user_message_and_the_answer_prefix() {
    let server = serve(|_| Behaviour::Answer);
    let (dir, spec) = fixture(&server.url, "endpoint = \"chat\"\n");
    let text = std::fs::read_to_string(dir.path().join("probes/mini.toml")).unwrap();
    write(
        &dir.path().join("probes/mini.toml"),
        &text.replace(
            "instruction = ",
            "answer_prefix = \"My answer: \\\"\"\ninstruction = ",
        ),
    );
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("chat = false", "chat = true");
    write(&spec, &text);
    let a = audit(&spec);
    assert!(
        a.get_output().status.code().unwrap() <= 1,
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    let requests = server.requests.lock().unwrap();
    let users: std::collections::BTreeMap<String, String> = requests
        .iter()
        .map(|r| {
            assert_eq!(r.path, "/v1/chat/completions");
            assert_eq!(r.body["logprobs"], true);
            assert_eq!(r.body["top_logprobs"], 20);
            assert_eq!(r.body["messages"][1]["role"], "assistant");
            assert_eq!(r.body["messages"][1]["content"], "My answer: \"");
            assert_eq!(r.body["continue_final_message"], true);
            let user = r.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_string();
            (user.clone(), user)
        })
        .collect();
    assert_eq!(users.len(), 48);
    // The recorded prompt is the user message and the prefix; scores follow the
    // server's listing for the user message.
    check_scores(dir.path(), |r| {
        let p = r["prompt"].as_str().unwrap();
        p.strip_suffix("My answer: \"").unwrap().to_string()
    });
}

#[test]
fn busy_and_failing_servers_are_retried() {
    // Requests 1 and 2: 429 asking for a 1 s wait; 3: a 500; 4: closed mid-answer;
    // 5: malformed JSON. Every one is retried and the audit completes.
    let server = serve(|n| match n {
        1 | 2 => Behaviour::Status(429, Some(1)),
        3 => Behaviour::Status(503, None),
        4 => Behaviour::CloseMidResponse,
        5 => Behaviour::Malformed,
        _ => Behaviour::Answer,
    });
    let (dir, spec) = fixture(&server.url, "concurrency = 1\n");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("concurrency = 3\n", "");
    write(&spec, &text);
    let started = Instant::now();
    let a = audit(&spec);
    assert!(
        a.get_output().status.code().unwrap() <= 1,
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    // Retry-After was honoured: two waits of a second.
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(responses(dir.path()).len(), 48);
    assert_eq!(server.requests.lock().unwrap().len(), 48 + 5);
}

#[test]
fn a_server_that_keeps_failing_stops_the_audit_with_the_work_kept() {
    // The first scenario's 8 probes are answered; from request 9 on, 500s.
    let server = serve(|n| {
        if n <= 8 {
            Behaviour::Answer
        } else {
            Behaviour::Status(500, None)
        }
    });
    let (dir, spec) = fixture(&server.url, "max_retries = 2\nconcurrency = 1\n");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("concurrency = 3\n", "");
    write(&spec, &text);
    audit(&spec)
        .code(3)
        .stderr(contains("no usable answer after 3 attempts"))
        .stderr(contains("HTTP 500"));
    assert_eq!(responses(dir.path()).len(), 8);
}

#[test]
fn echo_scoring_sums_the_continuation_tokens_exactly() {
    let server = serve(|_| Behaviour::Answer);
    let (dir, spec) = fixture(&server.url, "endpoint = \"echo\"\n");
    let a = audit(&spec);
    let code = a.get_output().status.code().unwrap();
    assert!(
        code <= 1,
        "{}",
        String::from_utf8_lossy(&a.get_output().stderr)
    );
    // One request per probe, listing the prompt followed by each answer form.
    let rs = responses(dir.path());
    assert_eq!(rs.len(), 48);
    {
        let requests = server.requests.lock().unwrap();
        assert_eq!(requests.len(), 48);
        for r in requests.iter() {
            assert_eq!(r.path, "/v1/completions");
            assert_eq!(r.body["echo"], true);
            assert_eq!(r.body["max_tokens"], 0);
            assert_eq!(r.body["prompt"].as_array().unwrap().len(), 8);
        }
    }
    // Each answer form's score, from the server's own token rule: the tokens
    // starting at or after the end of the prompt.
    let score = |prompt: &str, form: &str| -> f64 {
        let start = prompt.chars().count();
        echo_tokens(&format!("{prompt}{form}"))
            .iter()
            .filter(|(_, o)| *o >= start)
            .map(|(p, o)| echo_logprob(p, *o))
            .sum()
    };
    for r in &rs {
        let prompt = r["prompt"].as_str().unwrap();
        let yes: Vec<f64> = ["yes", "Yes", " yes", " Yes"]
            .iter()
            .map(|f| score(prompt, f))
            .collect();
        let no: Vec<f64> = ["no", "No", " no", " No"]
            .iter()
            .map(|f| score(prompt, f))
            .collect();
        assert!(
            (r["logp_yes"].as_f64().unwrap() - lse(&yes)).abs() < 1e-12,
            "{r}"
        );
        assert!(
            (r["logp_no"].as_f64().unwrap() - lse(&no)).abs() < 1e-12,
            "{r}"
        );
        // Nothing is censored: every form is scored.
        assert!(r.get("censored").is_none(), "{r}");
    }
    // A server whose tokens run across the end of the prompt cannot be used.
    let stderr = failed_echo_audit(Behaviour::EchoMerged);
    assert!(
        stderr.contains("runs across the end of the prompt"),
        "{stderr}"
    );
    // Choices without their index, out of order: the tokens after the prompt spell
    // another continuation, which is an error, not a wrong score.
    let stderr = failed_echo_audit(Behaviour::EchoUnindexed);
    assert!(
        stderr.contains("spell") && stderr.contains("not the continuation"),
        "{stderr}"
    );
}

/// Runs an echo audit against a server that always behaves so; it must fail.
/// Returns its standard error.
fn failed_echo_audit(behaviour: Behaviour) -> String {
    let server = serve(move |_| behaviour);
    let (_dir, spec) = fixture(&server.url, "endpoint = \"echo\"\n");
    let a = audit(&spec);
    assert_ne!(a.get_output().status.code(), Some(0));
    String::from_utf8_lossy(&a.get_output().stderr).to_string()
}

#[test]
fn a_hung_connection_times_out() {
    let server = serve(|_| Behaviour::Hang(20));
    let (_dir, spec) = fixture(&server.url, "timeout_seconds = 1\nmax_retries = 1\n");
    let started = Instant::now();
    audit(&spec)
        .code(3)
        .stderr(contains("no usable answer after 2 attempts"));
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn malformed_answers_and_missing_logprobs_are_named() {
    let server = serve(|_| Behaviour::Malformed);
    let (_dir, spec) = fixture(&server.url, "max_retries = 1\n");
    audit(&spec).code(3).stderr(contains("not JSON"));
    let server = serve(|_| Behaviour::NoLogprobs);
    let (_dir, spec) = fixture(&server.url, "");
    audit(&spec)
        .code(2)
        .stderr(contains("gives no log-probabilities"));
}

#[test]
fn unreachable_servers_and_missing_keys_are_bad_input() {
    // A port nobody listens on: bind one, note it, and close it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let (_dir, spec) = fixture(&url, "");
    audit(&spec)
        .code(2)
        .stderr(contains("unreachable"))
        .stderr(contains(url.as_str()));
    let server = serve(|_| Behaviour::Answer);
    let (_dir, spec) = fixture(&server.url, "");
    probity()
        .env_remove("PROBITY_TEST_KEY")
        .arg("audit")
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(contains("PROBITY_TEST_KEY"));
    // A spec without a URL names the field.
    let text = std::fs::read_to_string(&spec).unwrap();
    let without: String = text
        .lines()
        .filter(|l| !l.starts_with("url = "))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&spec, &without);
    audit(&spec).code(2).stderr(contains("model.url"));
}
