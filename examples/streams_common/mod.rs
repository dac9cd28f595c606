//! Shared by the `exec` and `attach` examples.

use k8s_client::api::AttachedProcess;

/// Copies local stdin to the process and its output to local stdout and stderr, then
/// returns the exit code.
pub async fn relay(
    mut process: AttachedProcess,
    tty: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    if tty {
        let size = |var: &str| std::env::var(var).ok().and_then(|v| v.parse::<u16>().ok());
        if let (Some(w), Some(h)) = (size("COLUMNS"), size("LINES")) {
            process.resize(w, h).await?;
        }
    }
    if let Some(mut stdin) = process.stdin() {
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut stdin).await;
            let _ = tokio::io::AsyncWriteExt::shutdown(&mut stdin).await;
        });
    }
    let out = process.stdout();
    let err = process.stderr();
    let copy_out = async {
        if let Some(mut out) = out {
            tokio::io::copy(&mut out, &mut tokio::io::stdout()).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let copy_err = async {
        if let Some(mut err) = err {
            tokio::io::copy(&mut err, &mut tokio::io::stderr()).await?;
        }
        Ok::<_, std::io::Error>(())
    };
    let (o, e) = tokio::join!(copy_out, copy_err);
    o?;
    e?;
    let status = process.status().await?;
    Ok(u8::try_from(status.code).unwrap_or(1))
}
