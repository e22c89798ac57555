//! Progress on stderr: an indicatif bar when stderr is a terminal, plain messages
//! otherwise (indicatif draws nothing to a pipe or a file).

use crate::audit::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub struct TerminalProgress {
    bar: Option<ProgressBar>,
    interactive: bool,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress {
            bar: None,
            interactive: std::io::stderr().is_terminal(),
        }
    }
}

impl Progress for TerminalProgress {
    fn message(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn start(&mut self, total: usize) {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
        if !self.interactive {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} probes  {per_sec}  eta {eta}")
                .expect("a valid template"),
        );
        self.bar = Some(bar);
    }

    fn advance(&mut self, done: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(done as u64);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
