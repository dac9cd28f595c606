//! Helpers shared by the xtask commands.

use std::error::Error;
use std::path::Path;
use std::process::Command;

/// The error type of the xtask: a message with the chain of causes already rendered.
pub type Result<T = ()> = std::result::Result<T, String>;

/// Renders an error and its chain of sources, one per line.
pub fn chain(e: &dyn Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    s
}

/// The workspace root (the parent of the xtask crate).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
}

/// Runs `cargo args…` in the workspace root with extra environment variables.
pub fn cargo(args: &[&str], envs: &[(&str, &str)]) -> Result {
    eprintln!("+ cargo {}", args.join(" "));
    let mut command = Command::new(env!("CARGO"));
    // `cargo run` gave us the xtask package's own variables; build scripts such as
    // ring's rerun when they change, so passing them on would rebuild dependencies on
    // every switch between `cargo xtask …` and plain `cargo …`.
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("CARGO_PKG_")
            || matches!(
                &*key_str,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_MANIFEST_LINKS"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "OUT_DIR"
            )
        {
            command.env_remove(&key);
        }
    }
    let status = command
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("running cargo {}: {e}", args.join(" ")))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// Runs `benches/<bench>.rs` (feature `testenv`, bench profile) with `args`; unless they
/// name a `--write` target, the bench writes its regions of `pages`.
pub fn run_testenv_bench(bench: &str, args: &[&str], pages: &[&str]) -> Result {
    ensure_binaries()?;
    let mut command = vec![
        "bench",
        "-p",
        "k8s-client",
        "--features",
        "testenv",
        "--bench",
        bench,
        "--",
    ];
    command.extend_from_slice(args);
    if !args.contains(&"--write") {
        for page in pages {
            command.extend_from_slice(&["--write", page]);
        }
    }
    cargo(&command, &[])
}

/// Finds the control-plane binaries, building them when missing (printing progress).
pub fn ensure_binaries() -> Result<k8s_client::testenv::Binaries> {
    let start = std::time::Instant::now();
    let mut built = false;
    let binaries = k8s_client::testenv::Binaries::ensure(&mut |line| {
        built = true;
        eprintln!("testenv-install: {line}");
    })
    .map_err(|e| chain(&e))?;
    if built {
        eprintln!(
            "testenv-install: done in {:.0?}",
            std::time::Instant::now() - start
        );
    }
    Ok(binaries)
}

/// Processes (pid, command line) whose command line mentions `needle`, other than us.
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter_map(|pid| {
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            cmd.contains(needle).then(|| (pid, cmd.trim().to_owned()))
        })
        .collect()
}
