//! The command line: clap (derive) parses arguments into typed options, and each
//! command calls the library. Nothing here computes; errors are classified so that
//! `main` can turn them into exit statuses (2 bad input, 3 runtime failure).

mod commands;
mod corpus;
mod fairness;
mod progress;
mod trace;
mod watermark;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub use commands::{run, CliError, Status};

#[derive(Debug, Parser)]
#[command(
    name = "probity",
    version,
    about = "Audits generative AI models for demographic bias, with provenance and transparency reports",
    after_help = "Exit status: 0 every threshold holds, 1 a threshold is breached (or `verify` found a change), 2 bad input, 3 model or runtime failure.\n\nExample:\n  probity audit audits/quickstart.toml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an audit spec end to end: probes, model, statistics, results, manifest, report.
    #[command(
        after_help = "Example:\n  probity audit audits/quickstart.toml --threads 2\n  probity audit audits/quickstart.toml --out out/rc1 --seed 7 --force"
    )]
    Audit {
        /// The audit spec (TOML).
        spec: PathBuf,
        /// Output folder (default: the spec's `audit.out`, relative to the spec).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override the spec's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (default: all cores). Results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Replace another audit's out dir.
        #[arg(long)]
        force: bool,
        /// Sign the manifest with this Ed25519 secret key file (`probity keygen`).
        #[arg(long, value_name = "KEY")]
        sign: Option<PathBuf>,
    },
    /// Write a new Ed25519 key pair for signing manifests: KEY (secret, mode 0600) and KEY.pub.
    #[command(
        after_help = "Example:\n  probity keygen -o audit-key\n  probity audit audits/quickstart.toml --sign audit-key\n  probity verify out/quickstart --key audit-key.pub"
    )]
    Keygen {
        /// The secret key file to write (the public key goes to FILE.pub).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Inspect probe sets.
    #[command(subcommand)]
    Probes(ProbesCommand),
    /// Fetch, describe and query models.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Audit a CSV table of decisions: per-group rates, Fairlearn/AIF360/Aequitas disparities, the NYC LL144 table.
    #[command(
        after_help = "Examples:\n  probity fairness --data decisions.csv --group sex --group race --prediction hired --label qualified\n  probity fairness --data scores.csv --group sex --group race --score score --json\n  probity fairness --data decisions.csv --group sex --prediction hired --reference M --out out/hiring"
    )]
    Fairness(FairnessArgs),
    /// Protected-corpus overlap: index a folder of works, check outputs for verbatim spans and near duplicates.
    #[command(subcommand)]
    Corpus(corpus::CorpusCommand),
    /// Render a report of DIR from DIR/results.json and DIR/manifest.json alone.
    #[command(
        after_help = "Formats and default files:\n  html        DIR/report.html    self-contained transparency report\n  md          DIR/report.md      summary for a pull-request comment or CI job summary\n  junit       DIR/junit.xml      a test case per finding and threshold gate\n  model-card  DIR/model-card.md  Hugging Face model card with model-index results\n  cyclonedx   DIR/bom.cdx.json   CycloneDX 1.6 ML-BOM\n\nExamples:\n  probity report out/quickstart\n  probity report out/quickstart --format md -o - >> \"$GITHUB_STEP_SUMMARY\"\n  probity report out/quickstart --format junit --format cyclonedx"
    )]
    Report {
        /// An audit's out dir.
        dir: PathBuf,
        /// Formats to render (repeatable); default html.
        #[arg(long = "format", value_enum)]
        formats: Vec<crate::report::Format>,
        /// Write to this file instead (`-` for standard output); one format only.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Re-hash every file DIR/manifest.json lists; exit 1 naming each changed or missing file.
    #[command(after_help = "Example:\n  probity verify out/quickstart")]
    Verify {
        /// An audit's out dir.
        dir: PathBuf,
        /// Require a valid signature by this Ed25519 public key file.
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
    },
    /// Fingerprint the generated texts of audit out dirs for `probity trace`.
    #[command(subcommand)]
    Fingerprint(FingerprintCommand),
    /// Find the audit, model, probe and response line a text came from: exact (normalised sha256) or near (MinHash).
    #[command(
        after_help = "Exit status: 0 found (exact or near), 1 not found, 2 bad input (no text, unreadable or corrupt index).\n\nExamples:\n  probity trace 'The nurse said that she would be late.' --index fp.idx\n  probity trace --file suspect.txt --index fp.idx --min-jaccard 0.3 --json"
    )]
    Trace(TraceArgs),
}

#[derive(Debug, Subcommand)]
pub enum FingerprintCommand {
    /// Index every `output` text of the out dirs' responses*.jsonl (format: docs/provenance.md).
    #[command(after_help = "Example:\n  probity fingerprint index out/rc1 out/rc2 -o fp.idx")]
    Index {
        /// Audit out dirs (each with manifest.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// The index file to write.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The text to trace.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub text: Option<String>,
    /// Read the text to trace from this file (UTF-8).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// The index written by `probity fingerprint index`.
    #[arg(long, required_unless_present = "watermark_key")]
    pub index: Option<PathBuf>,
    /// Smallest estimated Jaccard similarity of 5-word shingles for a near match.
    #[arg(long, default_value_t = 0.5)]
    pub min_jaccard: f64,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also (or only) test the text for the green-list watermark of this secret
    /// (text, or hex:DIGITS; docs/provenance-watermark.md).
    #[arg(long)]
    pub watermark_key: Option<String>,
    /// The model whose tokenizer the watermark was applied with.
    #[arg(
        long,
        default_value = "smollm2-135m-instruct",
        requires = "watermark_key"
    )]
    pub model: String,
    /// The watermark's green share γ.
    #[arg(long, default_value_t = 0.25, requires = "watermark_key")]
    pub gamma: f64,
}

#[derive(Debug, Subcommand)]
pub enum ProbesCommand {
    /// List the probe sets in a folder.
    #[command(after_help = "Example:\n  probity probes list --dir probes")]
    List {
        #[arg(long, default_value = "probes")]
        dir: PathBuf,
    },
    /// Show one probe set: its axes, groups, scenarios and a sample prompt.
    #[command(after_help = "Example:\n  probity probes show decisions")]
    Show {
        /// The probe set's id (a file DIR/ID.toml) or a path to it.
        id: String,
        #[arg(long, default_value = "probes")]
        dir: PathBuf,
    },
    /// Convert a public bias dataset's own file into a probity probe set (docs/importers.md).
    #[command(
        after_help = "Formats and outputs:\n  crows-pairs    crows_pairs_anonymized.csv  -> kind \"paired\" ([[pair]])\n  bbq            data/<Category>.jsonl       -> kind \"multiple-choice\" ([[item]])\n  stereoset      dev.json                    -> kind \"paired\" ([[pair]])\n  discrim-eval   explicit.jsonl/implicit.jsonl -> kind \"decision\" ([[filled]])\n  holistic-bias  descriptors.json            -> a folder of lexicon files, one per axis\n\nExamples:\n  probity probes import --format crows-pairs crows_pairs_anonymized.csv -o probes/crows-pairs.toml\n  probity probes import --format holistic-bias descriptors.json -o probes/hb-lexicon --reference age=adult"
    )]
    Import {
        /// The dataset's format.
        #[arg(long, value_enum)]
        format: crate::probe::import::Format,
        /// The dataset file.
        file: PathBuf,
        /// The probe-set file to write (holistic-bias: a folder).
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// The probe set's id (default: the output file's stem).
        #[arg(long)]
        id: Option<String>,
        /// holistic-bias: AXIS=DESCRIPTOR, the reference group of an axis (repeatable; default: the axis's first descriptor).
        #[arg(long, value_name = "AXIS=DESCRIPTOR")]
        reference: Vec<String>,
        /// What to do with a malformed row: fail (exit 2, naming file and line) or skip it (counted and listed).
        #[arg(long, value_parser = ["skip", "fail"], default_value = "fail")]
        on_bad_row: String,
    },
    /// Validate probe-set files (default: every set in --dir); exit 2 on the first error.
    #[command(after_help = "Example:\n  probity probes validate probes/decisions.toml")]
    Validate {
        files: Vec<PathBuf>,
        #[arg(long, default_value = "probes")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Fetch a known model into the cache ($XDG_CACHE_HOME/probity) and check its sha256.
    #[command(after_help = "Example:\n  probity model pull smollm2-135m-instruct")]
    Pull {
        /// A known model's name (see models.toml).
        name: String,
    },
    /// Print a model's architecture, parameters, quantisation, vocabulary size and sha256.
    #[command(
        after_help = "Example:\n  probity model info smollm2-135m-instruct\n  probity model info path/to/model.gguf --json"
    )]
    Info {
        /// A known model's name or a GGUF file.
        model: String,
        #[arg(long)]
        json: bool,
    },
    /// Log-probability of each continuation after a prompt (summed and per token).
    #[command(
        after_help = "Examples:\n  probity model score smollm2-135m-instruct --chat --prompt 'Is the sky blue? Answer yes or no.' --continuation Yes --continuation No\n  probity model score model.gguf --prompts prompts.jsonl --continuation ' Yes' --json"
    )]
    Score {
        /// A known model's name or a GGUF file.
        model: String,
        /// The prompt text (special tokens such as <|im_start|> are parsed).
        #[arg(long, conflicts_with_all = ["prompt_file", "prompts"])]
        prompt: Option<String>,
        /// Read the prompt from a file.
        #[arg(long, conflicts_with = "prompts")]
        prompt_file: Option<PathBuf>,
        /// JSON lines with `id` and `prompt`; prints one JSON line per prompt.
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// A continuation to score (repeat for several).
        #[arg(long, required = true)]
        continuation: Vec<String>,
        /// Wrap the prompt as a user message in the model's chat template.
        #[arg(long)]
        chat: bool,
        /// A Jinja chat template file to use instead of the model's (implies --chat).
        #[arg(long)]
        chat_template: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Weight precision: f32 (default), bf16 or quantized.
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Generate text after a prompt: greedy, or seeded sampling with temperature and top-p.
    #[command(
        after_help = "Examples:\n  probity model generate smollm2-135m-instruct --chat --prompt 'What is the capital of France?'\n  probity model generate model.gguf --prompt 'Once upon a time' --temperature 0.8 --top-p 0.95 --seed 7 --max-tokens 100 --json\n  probity model generate smollm2-135m-instruct --chat --prompt 'Tell me a story.' --temperature 1 --seed 3 --max-tokens 200 --watermark-key 'my secret'"
    )]
    Generate {
        /// A known model's name or a GGUF file.
        model: String,
        /// The prompt text (special tokens such as <|im_start|> are parsed).
        #[arg(long)]
        prompt: String,
        /// Wrap the prompt as a user message in the model's chat template.
        #[arg(long)]
        chat: bool,
        /// A Jinja chat template file to use instead of the model's (implies --chat).
        #[arg(long)]
        chat_template: Option<PathBuf>,
        /// At most this many new tokens.
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// 0 (default) for greedy decoding.
        #[arg(long, default_value_t = 0.0)]
        temperature: f64,
        /// Nucleus sampling: keep the most likely tokens up to this probability.
        #[arg(long, default_value_t = 1.0)]
        top_p: f64,
        /// Seed of the sampler (the same seed gives the same text).
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stop when the text contains this (repeat for several); it is cut before it.
        #[arg(long)]
        stop: Vec<String>,
        /// Print JSON: text, tokens, their log-probabilities, why it stopped.
        #[arg(long)]
        json: bool,
        /// Weight precision: f32 (default), bf16 or quantized.
        #[arg(long, default_value = "f32")]
        precision: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Watermark the text (green list, docs/provenance-watermark.md) with this secret: text, or hex:DIGITS. Never written to any output.
        #[arg(long, value_name = "KEY")]
        watermark_key: Option<String>,
        /// Watermark: the green share of the vocabulary, in (0, 1).
        #[arg(
            long,
            default_value_t = 0.25,
            requires = "watermark_key",
            allow_negative_numbers = true
        )]
        gamma: f64,
        /// Watermark: the logit bias added to green tokens (≥ 0).
        #[arg(
            long,
            default_value_t = 2.0,
            requires = "watermark_key",
            allow_negative_numbers = true
        )]
        delta: f64,
    },
    /// Test a text for the green-list watermark of a key: tokenised with the model's tokenizer, prints z and the one-sided p-value.
    #[command(
        after_help = "Examples:\n  probity model detect-watermark smollm2-135m-instruct --watermark-key 'my secret' --file answer.txt\n  probity model detect-watermark model.gguf --watermark-key hex:9f0c2a --gamma 0.25 'some text' --json"
    )]
    DetectWatermark {
        /// A known model's name or a GGUF file (its tokenizer is used).
        model: String,
        /// The text to test.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        text: Option<String>,
        /// Read the text from this file (`-` for standard input).
        #[arg(long)]
        file: Option<PathBuf>,
        /// The watermark's secret: text, or hex:DIGITS.
        #[arg(long, value_name = "KEY", required = true)]
        watermark_key: String,
        /// The green share the text was generated with, in (0, 1).
        #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
        gamma: f64,
        /// The watermark is reported detected when z exceeds this.
        #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
        z_threshold: f64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sentence embeddings from a BERT encoder: mean-pooled over each text's tokens, L2-normalised.
    #[command(
        after_help = "Examples:\n  probity model embed all-minilm-l6-v2 --text 'The nurse was late.' --text 'The surgeon was late.'\n  probity model embed path/to/model-folder --text 'Hello' --json"
    )]
    Embed {
        /// A known model's name (all-minilm-l6-v2) or a model folder (config.json, tokenizer.json, model.safetensors).
        model: String,
        /// A text to embed (repeat for several; they are embedded in batches).
        #[arg(long, required = true)]
        text: Vec<String>,
        /// Print `{"embeddings": [[…], …]}`, one array per text, in order.
        #[arg(long)]
        json: bool,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
}

#[derive(Debug, clap::Args)]
pub struct FairnessArgs {
    /// The CSV file (UTF-8, with a header line).
    #[arg(long)]
    pub data: PathBuf,
    /// A sensitive column (repeat for several; their intersections are audited too).
    #[arg(long = "group", required = true)]
    pub groups: Vec<String>,
    /// The 0/1 decision column.
    #[arg(long, required_unless_present = "score", conflicts_with = "score")]
    pub prediction: Option<String>,
    /// A numeric score column: selected when ≥ --threshold, or (LL144) above the sample's median.
    #[arg(long)]
    pub score: Option<String>,
    /// Threshold for --score.
    #[arg(long, requires = "score")]
    pub threshold: Option<f64>,
    /// The 0/1 true-outcome column: enables TPR, FPR, … and equalized odds.
    #[arg(long)]
    pub label: Option<String>,
    /// Reference group: VALUE (one --group) or COLUMN=VALUE (repeatable). Default: highest selection rate.
    #[arg(long)]
    pub reference: Vec<String>,
    /// Bootstrap resamples for the disparities' intervals (0: none).
    #[arg(long, default_value_t = 1000)]
    pub n_boot: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// What to do with a bad row: skip it (counted and reported) or fail.
    #[arg(long, value_parser = ["skip", "fail"], default_value = "fail")]
    pub on_bad_row: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write results.json, manifest.json and report.html into DIR.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Largest tolerated |difference in selection rate| to the reference group (for the verdict).
    #[arg(long, default_value_t = 0.05)]
    pub max_abs_gap: f64,
    /// Family-wise error rate after Holm (for the verdict).
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// LL144 summary (§5-303): the date of the audit.
    #[arg(long)]
    pub audit_date: Option<String>,
    /// LL144 summary: the source of the data.
    #[arg(long)]
    pub data_source: Option<String>,
    /// LL144 summary: an explanation of the data.
    #[arg(long)]
    pub data_explanation: Option<String>,
    /// LL144 summary: the distribution date of the tool audited.
    #[arg(long)]
    pub distribution_date: Option<String>,
}
