//! Running cargo and other commands, with every exit status checked.

use std::path::PathBuf;
use std::process::Command;

/// The cargo that runs this xtask (`CARGO`), so that the same toolchain
/// builds everything.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// The workspace root: the parent of this crate's manifest directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}

/// Runs `command` after printing it as a step header.
///
/// # Errors
///
/// A message naming the step if it cannot start or exits unsuccessfully.
pub(crate) fn run(step: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("\n==> {step}");
    let status = command
        .status()
        .map_err(|err| format!("{step}: could not start {command:?}: {err}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Whether `cargo <subcommand> --version` works, for optional cargo tools.
pub(crate) fn has_cargo_tool(subcommand: &str) -> bool {
    cargo()
        .args([subcommand, "--version"])
        .output()
        .is_ok_and(|output| output.status.success())
}
