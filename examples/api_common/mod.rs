//! Shared by the examples: print an error with its causes, exit non-zero.

use k8s_client::error::Report;
use std::process::ExitCode;

/// Exit code 0, or the error with each cause on stderr (`Report`'s `{:#}`) and exit
/// code 1.
pub fn exit(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {:#}", Report::new(&*e));
            ExitCode::FAILURE
        }
    }
}
