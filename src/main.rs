//! The probity binary: runs the command line and maps its outcome to the exit
//! status — 0 every threshold holds, 1 a threshold is breached (or `verify` found a
//! change), 2 bad input, 3 model or runtime failure. A closed stdout (`| head`) is
//! not an error.

use probity::cli::{self, Status};
use probity::FailureKind;
use std::process::ExitCode;

fn main() -> ExitCode {
    keep_freed_memory();
    match cli::run(std::env::args_os()) {
        Err(clap_error) => {
            let code = if clap_error.use_stderr() { 2 } else { 0 };
            let _ = clap_error.print();
            ExitCode::from(code)
        }
        Ok(Ok(Status::Ok)) => ExitCode::SUCCESS,
        Ok(Ok(Status::Failed)) => ExitCode::from(1),
        Ok(Err(failure)) => {
            if is_broken_pipe(&failure.error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {:#}", failure.error);
            ExitCode::from(match failure.kind {
                FailureKind::BadInput => 2,
                FailureKind::Runtime => 3,
            })
        }
    }
}

/// A forward pass allocates and frees tensors of tens of megabytes per layer. glibc
/// hands allocations over its dynamic threshold to `mmap` and returns them on free,
/// so the kernel zeroes fresh pages for every one: about an eighth of the scoring's
/// CPU time went to page faults. Serving them from the heap and not trimming it keeps the pages;
/// memory freed after loading is reused by the forward passes. A user's own malloc
/// settings (`MALLOC_*_` or `GLIBC_TUNABLES`) are left alone. If glibc refuses a
/// value (a `hugetlb` tunable lowers the limit), its default stays: only slower.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_set = std::env::vars_os().any(|(k, _)| {
            let k = k.to_string_lossy();
            (k.starts_with("MALLOC_") && k.ends_with('_')) || k == "GLIBC_TUNABLES"
        });
        if !user_set {
            // SAFETY: mallopt only sets allocator parameters (under glibc's own
            // lock); 32 MiB is the largest threshold glibc accepts on 64-bit.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
            }
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
