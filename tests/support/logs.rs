//! Log capture and the secret-leak check: [`LogBuffer`] keeps what `tracing` writes,
//! [`LeakCheck`] asserts that no secret a test used appears in logs, Debug or Display.

use std::sync::{Arc, Mutex};

/// A `tracing` writer that keeps everything written to it.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// The buffer of the process-wide subscriber at TRACE, installed on first use.
    pub fn global() -> &'static Self {
        static GLOBAL: std::sync::OnceLock<LogBuffer> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| {
            let buffer = Self::default();
            tracing_subscriber::util::SubscriberInitExt::init(buffer.subscriber());
            buffer
        })
    }

    /// A subscriber that writes every event (TRACE and up, no colours) to this buffer,
    /// for `tracing::subscriber::set_default` / `with_default`.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// What a test showed (Debug and Display of configs, clients and errors with their
/// sources) and the secrets it used; [`finish`](Self::finish) asserts that none of the
/// secrets appears there or in the [global](LogBuffer::global) TRACE logs.
#[derive(Default)]
pub struct LeakCheck {
    shown: String,
    secrets: Vec<String>,
}

impl LeakCheck {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        Self {
            shown: String::new(),
            secrets: secrets.into_iter().collect(),
        }
    }

    pub fn secret(&mut self, secret: &str) {
        self.secrets.push(secret.to_owned());
    }

    /// The base64 lines of a PEM private key (each one alone gives part of the key away).
    pub fn key_pem(&mut self, pem: &[u8]) {
        self.secrets.extend(pem_body_lines(pem));
    }

    pub fn show(&mut self, value: &dyn std::fmt::Debug) {
        self.shown.push_str(&format!("{value:?}\n{value:#?}\n"));
    }

    pub fn error(&mut self, error: &(dyn std::error::Error + 'static)) {
        self.show(&error);
        let mut current = Some(error);
        while let Some(e) = current {
            self.shown.push_str(&format!("{e}\n"));
            current = e.source();
        }
    }

    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Asserts that the logs hold each of `captured` (the capture works) and no secret,
    /// and that nothing shown holds a secret.
    pub fn finish(self, captured: &[&str]) {
        let logs = LogBuffer::global().text();
        for marker in captured {
            assert!(logs.contains(marker), "the logs hold {marker:?}");
        }
        for secret in &self.secrets {
            assert!(!logs.contains(secret.as_str()), "a secret reached the logs");
            assert!(
                !self.shown.contains(secret.as_str()),
                "a secret reached Debug or Display output:\n{}",
                self.shown
            );
        }
    }
}

/// The base64 lines (16 characters or more) of a PEM document.
pub fn pem_body_lines(pem: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(pem)
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_owned)
        .collect()
}
