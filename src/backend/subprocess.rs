//! The subprocess backend: a model behind a command that reads JSON-lines requests
//! on its standard input and writes one JSON-lines response per request on its
//! standard output (protocol in `docs/backends.md`).
//!
//! ```text
//! → {"id": 1, "type": "score", "prompts": ["…", …], "continuations": ["yes", "no", …]}
//! ← {"id": 1, "scores": [[-0.41, -1.09, …], …]}      one row per prompt, natural logs
//! ← {"id": 1, "error": "what went wrong"}             or a refusal
//! ```
//!
//! Prompts arrive fully rendered (probity applies the chat template the spec names),
//! so the child only scores text. Each answer must arrive within the timeout; a
//! child that exits, hangs, or answers out of protocol is an error that carries the
//! tail of its standard error, never a hang. The child's standard error is read on
//! its own thread, so a chatty child cannot block on a full pipe.

use super::chat::ChatTemplate;
use super::{BackendError, ContinuationScore, ModelInfo, TokenScore};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Lines of the child's standard error kept for error messages.
const STDERR_TAIL: usize = 20;

pub struct SubprocessModel {
    command: Vec<String>,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<std::io::Result<String>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    timeout: Duration,
    chat: Option<ChatTemplate>,
    info: ModelInfo,
    next_id: u64,
}

impl SubprocessModel {
    /// Starts `command` (program and arguments) in the folder `dir`.
    /// `chat_template` (a Jinja file) renders prompts when the audit asks for chat
    /// wrapping.
    pub fn start_in(
        command: &[String],
        dir: &Path,
        timeout: Duration,
        chat_template: Option<&Path>,
        info: ModelInfo,
    ) -> Result<SubprocessModel, BackendError> {
        let Some((program, args)) = command.split_first() else {
            return Err(BackendError::Subprocess {
                command: String::new(),
                message: "`command` is empty: give the program and its arguments".into(),
            });
        };
        let chat = chat_template.map(ChatTemplate::from_file).transpose()?;
        // A program named by a relative path is looked up from `dir`, like the
        // spec's other paths; a bare name is looked up on PATH.
        let program_path = if program.contains('/') {
            dir.join(program)
        } else {
            std::path::PathBuf::from(program)
        };
        let mut child = Command::new(program_path)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| BackendError::Subprocess {
                command: command.join(" "),
                message: format!("cannot start it: {e}"),
            })?;
        let stdout = child.stdout.take().expect("piped");
        let stderr_pipe = child.stderr.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let stop = line.is_err();
                if tx.send(line).is_err() || stop {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
                if tail.len() == STDERR_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        Ok(SubprocessModel {
            command: command.to_vec(),
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            timeout,
            chat,
            info,
            next_id: 1,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn chat_prompt(&self, user: &str) -> Result<String, BackendError> {
        let chat = self.chat.as_ref().ok_or_else(|| BackendError::Subprocess {
            command: self.command.join(" "),
            message: "the audit asks for chat wrapping (`scoring.chat = true`) but `[model] chat_template` names no template; give one, or set `scoring.chat = false`".into(),
        })?;
        chat.user_turn(user)
            .map_err(|message| BackendError::Subprocess {
                command: self.command.join(" "),
                message: format!("chat template: {message}"),
            })
    }

    /// The failure, with the child's exit status (if it exited) and stderr tail.
    fn failure(&mut self, what: String) -> BackendError {
        // Give a dying child a moment to finish writing its last words.
        std::thread::sleep(Duration::from_millis(50));
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!(" (it exited: {status})"),
            _ => String::new(),
        };
        let tail: Vec<String> = self
            .stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let tail = if tail.is_empty() {
            "its standard error is empty".to_string()
        } else {
            format!("the end of its standard error:\n  {}", tail.join("\n  "))
        };
        BackendError::ModelProcess(format!(
            "`{}`: {what}{status}; {tail}",
            self.command.join(" ")
        ))
    }

    /// Scores every continuation after every prompt: one request, one response.
    pub fn score(
        &mut self,
        prompts: &[String],
        continuations: &[String],
    ) -> Result<Vec<Vec<ContinuationScore>>, BackendError> {
        let id = self.next_id;
        self.next_id += 1;
        let request = serde_json::json!({
            "id": id,
            "type": "score",
            "prompts": prompts,
            "continuations": continuations,
        });
        let mut line = serde_json::to_string(&request).expect("json");
        line.push('\n');
        let sent = match self.stdin.as_mut() {
            Some(stdin) => stdin.write_all(line.as_bytes()).and_then(|_| stdin.flush()),
            None => Err(std::io::Error::other("its input is closed")),
        };
        if let Err(e) = sent {
            return Err(self.failure(format!("cannot send request {id}: {e}")));
        }
        let reply = match self.lines.recv_timeout(self.timeout) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(self.failure(format!("cannot read its answer: {e}"))),
            Err(RecvTimeoutError::Timeout) => {
                let _ = self.child.kill();
                return Err(self.failure(format!(
                    "no answer to request {id} within {} s; the process was stopped",
                    self.timeout.as_secs_f64()
                )));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(self.failure(format!(
                    "it closed its output before answering request {id}"
                )))
            }
        };
        let value: serde_json::Value = match serde_json::from_str(&reply) {
            Ok(v) => v,
            Err(e) => {
                let shown: String = reply.chars().take(200).collect();
                return Err(self.failure(format!(
                    "its answer to request {id} is not JSON ({e}): {shown:?}"
                )));
            }
        };
        if value.get("id").and_then(|v| v.as_u64()) != Some(id) {
            return Err(self.failure(format!(
                "answered request {id} with id {}",
                value.get("id").unwrap_or(&serde_json::Value::Null)
            )));
        }
        if let Some(error) = value.get("error") {
            return Err(self.failure(format!(
                "it refused request {id}: {}",
                error
                    .as_str()
                    .map_or_else(|| error.to_string(), str::to_string)
            )));
        }
        let rows = value.get("scores").and_then(|s| s.as_array());
        let shape_ok = rows.is_some_and(|rows| {
            rows.len() == prompts.len()
                && rows.iter().all(|r| {
                    r.as_array().is_some_and(|r| {
                        r.len() == continuations.len()
                            && r.iter()
                                .all(|x| x.as_f64().is_some_and(|x| x <= 0.0 && !x.is_nan()))
                    })
                })
        });
        if !shape_ok {
            return Err(self.failure(format!(
                "its answer to request {id} needs `scores`: {} rows (one per prompt) of {} log-probabilities (numbers ≤ 0)",
                prompts.len(),
                continuations.len()
            )));
        }
        Ok(rows
            .expect("checked")
            .iter()
            .map(|row| {
                row.as_array()
                    .expect("checked")
                    .iter()
                    .zip(continuations)
                    .map(|(x, text)| {
                        let logprob = x.as_f64().expect("checked");
                        ContinuationScore {
                            text: text.clone(),
                            logprob,
                            tokens: vec![TokenScore {
                                id: 0,
                                piece: text.clone(),
                                logprob,
                            }],
                            censored: false,
                        }
                    })
                    .collect()
            })
            .collect())
    }
}

impl Drop for SubprocessModel {
    fn drop(&mut self) {
        // Closing its input asks the child to finish; it is stopped if it does not.
        drop(self.stdin.take());
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
