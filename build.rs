//! Sets `probity_avx512` when the compiler is rustc 1.89 or newer, where the
//! AVX-512 intrinsics and target features are stable (the crate's minimum is
//! 1.88; the MinHash kernel falls back to AVX2 there). `PROBITY_NO_AVX512=1`
//! leaves it unset, to build what a 1.88 compiler builds.

fn main() {
    println!("cargo:rustc-check-cfg=cfg(probity_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PROBITY_NO_AVX512");
    if std::env::var_os("PROBITY_NO_AVX512").is_some_and(|v| v != "0") {
        return;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| {
            let mut parts = v.split_whitespace().nth(1)?.split('.');
            let major: u32 = parts.next()?.parse().ok()?;
            let minor: u32 = parts.next()?.parse().ok()?;
            Some((major, minor))
        });
    if matches!(minor, Some((1, m)) if m >= 89) || matches!(minor, Some((maj, _)) if maj > 1) {
        println!("cargo:rustc-cfg=probity_avx512");
    }
}
