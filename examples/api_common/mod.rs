//! Shared by the API examples: print an error with its causes, exit non-zero.

use std::process::ExitCode;

/// Exit code 0, or the error and each `source()` on stderr and exit code 1.
pub fn exit(result: Result<(), Box<dyn std::error::Error>>) -> ExitCode {
    let Err(e) = result else {
        return ExitCode::SUCCESS;
    };
    eprintln!("error: {e}");
    let mut shown = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        // A wrapper may display its cause's text itself; print each text once.
        let text = cause.to_string();
        if text != shown {
            eprintln!("  caused by: {text}");
        }
        shown = text;
        source = cause.source();
    }
    ExitCode::FAILURE
}
