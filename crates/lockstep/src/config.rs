//! Typed configuration: defaults (the commented `config.default.toml`,
//! embedded in the binary) < an optional file < `LOCKSTEP_*` environment
//! variables. Parsed and validated once, at start.

use std::net::SocketAddr;
use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::secrets::SecretKey;

/// The defaults, with a comment on every key; `lockstep config` prints them.
pub const DEFAULT_CONFIG: &str = include_str!("../config.default.toml");

/// The top-level keys, as `LOCKSTEP_<KEY>` environment variables name them.
const CONFIG_KEYS: &[&str] = &[
    "database_url",
    "listen",
    "operator_token",
    "metrics_token",
    "secret_keys",
    "outbound_allow",
    "body_limit_bytes",
    "outbound",
    "worker",
    "jobs",
    "smtp_url",
    "email_from",
    "public_url",
    "console",
];

/// Variable families under the same prefix that belong to other commands
/// (`lockstep sandbox`) and to the test harness, not to the configuration.
const OTHER_FAMILIES: &[&str] = &["LOCKSTEP_SANDBOX_", "LOCKSTEP_TEST_"];

/// Everything Lockstep can be configured with.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// The HTTP API's address.
    pub listen: SocketAddr,
    /// The token that may create tenants; `None` disables tenant creation over HTTP.
    #[serde(default)]
    pub operator_token: Option<String>,
    /// The bearer token `/metrics` requires; `None`: `/metrics` is open.
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// The keys connector credentials are encrypted with: the first
    /// encrypts, all decrypt (see [`crate::secrets`]). Empty: on SQLite, the
    /// key kept beside the database; on PostgreSQL, a refusal to start.
    #[serde(default, deserialize_with = "secret_key_list")]
    pub secret_keys: Vec<SecretKey>,
    /// CIDRs outbound requests may reach even though they are private.
    #[serde(deserialize_with = "cidr_list")]
    pub outbound_allow: Vec<IpNet>,
    /// The largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    pub outbound: OutboundConfig,
    pub worker: WorkerConfig,
    pub jobs: JobsConfig,
    /// Where notification emails are sent: `smtp://host:port` (or
    /// `smtps://`, with `user:password@` when the server wants them).
    /// `None`: notifications are not emailed (the log says where each
    /// would have gone).
    #[serde(default)]
    pub smtp_url: Option<String>,
    /// The sender of notification emails.
    pub email_from: String,
    /// The address admins reach this Lockstep at, for the links in emails
    /// and the console's sign-in links.
    pub public_url: String,
    pub console: ConsoleConfig,
}

/// The admin console: its sign-in links, sessions, framing and live pages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// How long a sign-in link may wait to be opened.
    pub link_seconds: u64,
    /// How long a console session lasts.
    pub session_seconds: u64,
    /// Origins allowed to frame the console (CSP `frame-ancestors`).
    pub frame_ancestors: Vec<String>,
    /// How often a live page looks for changes.
    pub live_poll_seconds: f64,
}

/// The background-job workers of this process (overview runs, Sync Now
/// runs, notification emails). They run when `worker.enabled` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    /// How long a claim holds a job; a running job renews it every third
    /// of it, so this is how long a crashed process's job waits.
    pub lease_seconds: f64,
    /// The longest a job worker sleeps between looks at the store.
    pub idle_poll_seconds: f64,
    /// Overviews computed at once, across all processes.
    pub overview_concurrency: u32,
    /// Sync Now runs applied at once, across all processes.
    pub sync_run_concurrency: u32,
    /// Pushes in flight per Sync Now run.
    pub sync_run_pushes: usize,
    /// Emails sent at once, across all processes.
    pub email_concurrency: u32,
}

/// Timeouts of requests to third parties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    pub connect_timeout_seconds: f64,
    pub request_timeout_seconds: f64,
}

/// The write-sync workers of this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfig {
    pub enabled: bool,
    pub concurrency: usize,
    pub batch_size: u32,
    pub lease_seconds: f64,
    pub idle_poll_seconds: f64,
}

impl std::fmt::Debug for Config {
    // The operator and metrics tokens and the database password stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("database_url", &redact_url(&self.database_url))
            .field("listen", &self.listen)
            .field("operator_token", &self.operator_token.as_ref().map(|_| "<redacted>"))
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("secret_keys", &self.secret_keys.iter().map(SecretKey::id).collect::<Vec<_>>())
            .field("outbound_allow", &self.outbound_allow)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("outbound", &self.outbound)
            .field("worker", &self.worker)
            .field("jobs", &self.jobs)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("email_from", &self.email_from)
            .field("public_url", &self.public_url)
            .field("console", &self.console)
            .finish()
    }
}

/// A database URL with its password replaced, for logs.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("redacted"));
            url.to_string()
        }
        _ => raw.to_owned(),
    }
}

/// A list of strings, or one comma-separated string (as the environment gives it).
fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        List(Vec<String>),
        One(String),
    }
    let items = match Raw::deserialize(deserializer)? {
        Raw::List(items) => items,
        Raw::One(s) => s.split(',').map(str::to_owned).collect(),
    };
    Ok(items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

/// Accepts a list of CIDRs or one comma-separated string.
fn cidr_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<IpNet>, D::Error> {
    string_list(deserializer)?
        .iter()
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| serde::de::Error::custom(format!("`{s}` is not a CIDR (e.g. 127.0.0.0/8)")))
        })
        .collect()
}

/// Accepts a list of base64 keys or one comma-separated string. A bad key
/// is named by its position, never by its text.
fn secret_key_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SecretKey>, D::Error> {
    let keys = string_list(deserializer)?
        .iter()
        .enumerate()
        .map(|(i, text)| {
            SecretKey::parse(text).map_err(|e| {
                serde::de::Error::custom(format!("secret key {} {e}; make one with `lockstep secret-key`", i + 1))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    for (i, key) in keys.iter().enumerate() {
        if let Some(j) = keys[..i].iter().position(|k| k.id() == key.id()) {
            return Err(serde::de::Error::custom(format!("secret keys {} and {} are the same key", j + 1, i + 1)));
        }
    }
    Ok(keys)
}

impl Config {
    /// Loads defaults < `file` < `LOCKSTEP_*` environment, and validates.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        refuse_unknown_variables(std::env::vars_os().filter_map(|(key, _)| key.into_string().ok()))?;
        let mut figment = Figment::new().merge(Toml::string(DEFAULT_CONFIG));
        if let Some(file) = file {
            anyhow::ensure!(file.exists(), "config file {} does not exist", file.display());
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(
            Env::prefixed("LOCKSTEP_")
                // Other tools share the LOCKSTEP_ prefix (`LOCKSTEP_SANDBOX_*`,
                // the test harness's `LOCKSTEP_TEST_*`): read only variables
                // that name a config key. Below a known key, unknown nested
                // keys are still refused, so `LOCKSTEP_WORKER__CONCURENCY` fails.
                .filter(|key| {
                    let top = key.as_str().split("__").next().unwrap_or_default();
                    CONFIG_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
                })
                .split("__"),
        );
        Self::from_figment(figment)
    }

    /// The defaults alone, for tests and the demo, which then adjust fields.
    pub fn defaults() -> Self {
        Self::from_figment(Figment::new().merge(Toml::string(DEFAULT_CONFIG))).expect("the embedded defaults are valid")
    }

    fn from_figment(figment: Figment) -> anyhow::Result<Self> {
        let config: Config = figment.extract().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.database_url.starts_with("sqlite:")
                || self.database_url.starts_with("postgres:")
                || self.database_url.starts_with("postgresql:"),
            "database_url must start with sqlite:// or postgres://"
        );
        anyhow::ensure!(self.worker.concurrency >= 1, "worker.concurrency must be at least 1");
        anyhow::ensure!(self.worker.batch_size >= 1, "worker.batch_size must be at least 1");
        for (name, v) in [
            ("worker.lease_seconds", self.worker.lease_seconds),
            ("worker.idle_poll_seconds", self.worker.idle_poll_seconds),
            ("outbound.connect_timeout_seconds", self.outbound.connect_timeout_seconds),
            ("outbound.request_timeout_seconds", self.outbound.request_timeout_seconds),
            ("jobs.lease_seconds", self.jobs.lease_seconds),
            ("jobs.idle_poll_seconds", self.jobs.idle_poll_seconds),
            ("console.live_poll_seconds", self.console.live_poll_seconds),
        ] {
            anyhow::ensure!(v.is_finite() && v > 0.0, "{name} must be a positive number of seconds");
        }
        if let Some(token) = &self.operator_token {
            anyhow::ensure!(token.len() >= 16, "operator_token must be at least 16 characters");
        }
        if let Some(token) = &self.metrics_token {
            anyhow::ensure!(token.len() >= 16, "metrics_token must be at least 16 characters");
        }
        anyhow::ensure!(self.body_limit_bytes >= 1024, "body_limit_bytes must be at least 1024");
        for (name, v) in [
            ("jobs.overview_concurrency", self.jobs.overview_concurrency as usize),
            ("jobs.sync_run_concurrency", self.jobs.sync_run_concurrency as usize),
            ("jobs.sync_run_pushes", self.jobs.sync_run_pushes),
            ("jobs.email_concurrency", self.jobs.email_concurrency as usize),
        ] {
            anyhow::ensure!(v >= 1, "{name} must be at least 1");
        }
        if let Some(smtp) = &self.smtp_url {
            let url = url::Url::parse(smtp).map_err(|e| anyhow::anyhow!("smtp_url is not a URL: {e}"))?;
            anyhow::ensure!(
                matches!(url.scheme(), "smtp" | "smtps") && url.host().is_some(),
                "smtp_url must be smtp://host:port or smtps://host:port"
            );
            // Read as the email sender reads it, so a URL it cannot use
            // (an unknown `tls=`) stops the start, not each email.
            crate::engine::email::sender::SmtpSender::from_url(smtp, crate::engine::email::sender::STEP_TIMEOUT)?;
        }
        anyhow::ensure!(
            self.email_from.contains('@') && self.email_from.parse::<lettre::message::Mailbox>().is_ok(),
            "email_from must be an email address, optionally with a name: `Lockstep <lockstep@example.com>`"
        );
        let public = url::Url::parse(&self.public_url).map_err(|e| anyhow::anyhow!("public_url is not a URL: {e}"))?;
        anyhow::ensure!(matches!(public.scheme(), "http" | "https"), "public_url must be an http or https URL");
        anyhow::ensure!((1..=86_400).contains(&self.console.link_seconds), "console.link_seconds must be 1–86400");
        anyhow::ensure!(
            (60..=30 * 86_400).contains(&self.console.session_seconds),
            "console.session_seconds must be 60–2592000 (30 days)"
        );
        for origin in &self.console.frame_ancestors {
            crate::console::security::check_frame_ancestor(origin)
                .map_err(|e| anyhow::anyhow!("console.frame_ancestors: {origin:?} {e}"))?;
        }
        Ok(())
    }
}

/// Refuses a `LOCKSTEP_*` variable that names no configuration key: a
/// misspelt `LOCKSTEP_DATABSE_URL` would otherwise leave the server on the
/// embedded default database without a word.
fn refuse_unknown_variables(keys: impl Iterator<Item = String>) -> anyhow::Result<()> {
    let known: Vec<String> = CONFIG_KEYS.iter().map(|k| format!("LOCKSTEP_{}", k.to_ascii_uppercase())).collect();
    for key in keys {
        let upper = key.to_ascii_uppercase();
        let Some(rest) = upper.strip_prefix("LOCKSTEP_") else { continue };
        if OTHER_FAMILIES.iter().any(|family| upper.starts_with(family)) {
            continue;
        }
        // Nested keys (`LOCKSTEP_WORKER__CONCURRENCY`) are checked below
        // their top-level key by the typed configuration.
        let top = rest.split("__").next().unwrap_or_default();
        if CONFIG_KEYS.iter().any(|k| k.eq_ignore_ascii_case(top)) {
            continue;
        }
        let closest = known
            .iter()
            .map(|k| (strsim::levenshtein(k, &upper), k))
            .min()
            .filter(|(distance, _)| *distance <= 3)
            .map(|(_, k)| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        anyhow::bail!(
            "{key} is not a configuration variable{closest}; the variables are {}, and nested keys such as \
             LOCKSTEP_WORKER__CONCURRENCY",
            known.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
// figment's Jail closures return its (large) Error type; that is its API.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_are_embedded_sqlite() {
        let c = Config::defaults();
        assert!(c.database_url.starts_with("sqlite://"));
        assert!(c.worker.enabled);
        assert!(c.outbound_allow.is_empty());
    }

    #[test]
    fn environment_overrides_file_and_lists_are_comma_separated() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("l.toml", "listen = \"127.0.0.1:9999\"\n[worker]\nconcurrency = 3\n")?;
            jail.set_env("LOCKSTEP_OUTBOUND_ALLOW", "127.0.0.0/8, ::1/128");
            jail.set_env("LOCKSTEP_WORKER__CONCURRENCY", "7");
            jail.set_env("LOCKSTEP_SANDBOX_BEARER_TOKEN", "not a config key");
            let c = Config::load(Some(Path::new("l.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9999);
            assert_eq!(c.worker.concurrency, 7);
            assert_eq!(c.outbound_allow.len(), 2);
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKSTEP_OUTBOUND_ALLOW", "localhost");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("not a CIDR"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_nested_key_is_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKSTEP_WORKER__CONCURENCY", "7");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("concurency"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_variable_is_refused_with_the_closest_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKSTEP_DATABSE_URL", "postgres://127.0.0.1/lockstep");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("LOCKSTEP_DATABSE_URL is not a configuration variable"), "{err}");
            assert!(err.contains("did you mean LOCKSTEP_DATABASE_URL?"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut c = Config::defaults();
        c.operator_token = Some("super-secret-operator-token".into());
        c.metrics_token = Some("super-secret-metrics-token".into());
        c.database_url = "postgres://u:pw@127.0.0.1/db".into();
        let key = SecretKey::generate();
        c.secret_keys = vec![key.clone()];
        let shown = format!("{c:?}");
        assert!(!shown.contains("super-secret") && !shown.contains(":pw@"), "{shown}");
        assert!(!shown.contains(key.to_base64().as_str()) && shown.contains(&key.id().to_string()), "{shown}");
    }

    #[test]
    fn secret_keys_are_comma_separated_in_the_environment_and_the_first_comes_first() {
        let (a, b) = (SecretKey::generate(), SecretKey::generate());
        let (a64, b64) = (a.to_base64().to_string(), b.to_base64().to_string());
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKSTEP_SECRET_KEYS", format!("{b64}, {a64}"));
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.secret_keys, vec![b.clone(), a.clone()]);
            jail.create_file("k.toml", &format!("secret_keys = [\"{a64}\"]\n"))?;
            jail.set_env("LOCKSTEP_SECRET_KEYS", "");
            let c = Config::load(Some(Path::new("k.toml"))).map_err(|e| e.to_string())?;
            assert!(c.secret_keys.is_empty(), "the environment overrides the file");
            Ok(())
        });
    }

    #[test]
    fn a_bad_secret_key_is_named_by_position_and_not_repeated() {
        let good = SecretKey::generate().to_base64().to_string();
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOCKSTEP_SECRET_KEYS", format!("{good},dG9vLXNob3J0LWtleQ=="));
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("secret key 2 is 13 bytes long"), "{err}");
            assert!(err.contains("lockstep secret-key"), "{err}");
            assert!(!err.contains("dG9vLXNob3J0LWtleQ"), "{err}");
            jail.set_env("LOCKSTEP_SECRET_KEYS", format!("{good},{good}"));
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("secret keys 1 and 2 are the same key"), "{err}");
            assert!(!err.contains(&good), "{err}");
            Ok(())
        });
    }
}
