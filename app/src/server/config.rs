//! Settings: every environment variable DreamOps reads, parsed once at start-up into
//! [`Settings`]. `.env.example` documents each one; defaults are safe for local use.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

/// The DreamOps version, from the workspace's Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything configurable about one server instance.
#[derive(Debug)]
pub struct Settings {
    /// How to reach PostgreSQL.
    pub database: DatabaseSettings,
    /// Where local state lives: the embedded PostgreSQL cluster (when `DATABASE_URL` is
    /// unset) and, later, generated development keys. `DREAMOPS_DATA_DIR`, default `.data`.
    pub data_dir: PathBuf,
    /// How logs are written.
    pub log: LogSettings,
    /// How long in-flight requests may take to finish after SIGTERM or Ctrl-C.
    /// `SHUTDOWN_TIMEOUT_SECS`, default 20.
    pub shutdown_timeout: Duration,
    /// Sign-in sessions.
    pub sessions: SessionSettings,
    /// `LEPTOS_ENV`: `PROD` (or `production`) for a deployment, which refuses to start
    /// without `DREAMOPS_SECRET_KEY` and `PUBLIC_URL`; anything else is development.
    pub production: bool,
    /// `PUBLIC_URL`: where people reach DreamOps (e.g. `https://dreamops.example.com`),
    /// for links in messages, the demo cluster's kubeconfig and Stripe's return
    /// addresses. Unset (development only): the address of the request or this instance.
    pub public_url: Option<String>,
    /// `DREAMOPS_SECRET_KEY`: the key that seals stored credentials (kubeconfigs,
    /// integration secrets, API keys of LLM providers, PagerDuty and Slack): 64 hex
    /// characters, optionally after its id (`2:<hex>`, id 1 to 255, default 1), the same
    /// at every instance. Unset (development only): a key generated into
    /// `<data dir>/secret.key` on first start.
    pub secret_key: Option<SecretKey>,
    /// `DREAMOPS_PREVIOUS_SECRET_KEYS`: keys that sealed credentials before a rotation,
    /// `<id>:<hex>` comma-separated: still opened, never used to seal; `dreamops
    /// reseal` seals everything with the current key, after which they can go.
    pub previous_secret_keys: Vec<SecretKey>,
    /// Payments.
    pub stripe: StripeSettings,
    /// Payments in rupees through PhonePe.
    pub phonepe: PhonePeSettings,
    /// `GITHUB_API_BASE`: where GitHub's REST API is, default `https://api.github.com`
    /// (a GitHub Enterprise Server's is `https://<host>/api/v3`).
    pub github_api_base: String,
    /// `NOTION_API_BASE`: where Notion's API is, default `https://api.notion.com`.
    pub notion_api_base: String,
    /// The embedded agent.
    pub agent: AgentSettings,
    /// PagerDuty write-back and Slack messages.
    pub outbound: OutboundSettings,
    /// Email.
    pub mail: MailSettings,
    /// `INGEST_RATE_SCALE`: multiplies each plan's ingestion rate (ingestion's rate
    /// limits); 0 turns the limits off. Default 1.
    pub ingest_rate_scale: f64,
    /// `API_RATE_SCALE`: multiplies the public API's request limits per key and per
    /// team; 0 turns them off. Default 1.
    pub api_rate_scale: f64,
    /// `METRICS_TOKEN`: `/metrics` answers only requests carrying `Authorization: Bearer
    /// <token>` (the operator's scraper). Unset: `/metrics` is not served.
    pub metrics_token: Option<SecretString>,
}

/// How teams pay for upgrades: `BILLING_MODE`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BillingMode {
    /// Real payments through the providers configured: Stripe's own checkout and
    /// customer portal (`STRIPE_SECRET_KEY` set), PhonePe's pay page
    /// (`PHONEPE_MERCHANT_ID` and `PHONEPE_SALT_KEY` set), or both.
    Live,
    /// Simulated: a built-in checkout page taking Stripe's test cards, which delivers
    /// signed Stripe events to the same webhook endpoint. No money moves.
    #[default]
    Test,
    /// No upgrades: the pricing page says so.
    Off,
}

impl BillingMode {
    /// `BILLING_MODE` (`live`, `test` or `off`; `stripe` is read as `live`) given
    /// whether a payment provider's keys are set (Stripe's, PhonePe's) and whether this
    /// is production. Unset: live with keys; without any, test mode in development and
    /// no upgrades in production — a deployment never gives plans away because a key
    /// was forgotten.
    fn decide(value: Option<&str>, has_keys: bool, production: bool) -> Result<Self, ConfigError> {
        match value.map(|value| value.trim().to_ascii_lowercase()).as_deref() {
            None if has_keys => Ok(BillingMode::Live),
            None if production => Ok(BillingMode::Off),
            None | Some("test") => Ok(BillingMode::Test),
            Some("live" | "stripe") if has_keys => Ok(BillingMode::Live),
            Some("off") => Ok(BillingMode::Off),
            _ => Err(ConfigError::Invalid {
                variable: "BILLING_MODE",
                value: value.unwrap_or_default().to_string(),
                expected: "live (needs STRIPE_SECRET_KEY, or PHONEPE_MERCHANT_ID and PHONEPE_SALT_KEY), test (simulated payments) or off (no upgrades)",
            }),
        }
    }
}

/// Payments through Stripe, or simulated in test mode ([`BillingMode`]).
#[derive(Debug, Default)]
pub struct StripeSettings {
    /// `BILLING_MODE`: how upgrades are paid, if at all.
    pub mode: BillingMode,
    /// `STRIPE_SECRET_KEY` (`sk_live_...` or `sk_test_...`): set, checkout and the
    /// customer portal are Stripe's own and test mode is off.
    pub secret_key: Option<SecretString>,
    /// `STRIPE_WEBHOOK_SECRETS`: the endpoint's signing secrets (`whsec_...`), comma
    /// separated — two while rotating. Unset: a development secret derived from the
    /// secret key (the same at every instance sharing `DREAMOPS_SECRET_KEY`).
    pub webhook_secrets: Vec<SecretString>,
    /// `STRIPE_PRICE_STARTER`, `STRIPE_PRICE_PRO`, `STRIPE_PRICE_ENTERPRISE`: the Stripe
    /// price id of each paid plan, as (plan id, price id).
    pub prices: Vec<(String, String)>,
    /// `STRIPE_API_BASE`: where the Stripe API is, default Stripe's own (tests point
    /// it at a loopback server).
    pub api_base: Option<String>,
}

impl StripeSettings {
    /// Whether payments are simulated.
    pub fn test_mode(&self) -> bool {
        self.mode == BillingMode::Test
    }

    /// Whether teams can buy upgrades on this deployment.
    pub fn upgrades(&self) -> bool {
        self.mode != BillingMode::Off
    }

    /// The price id of `plan`.
    pub fn price_of(&self, plan: &str) -> Option<&str> {
        self.prices.iter().find(|(id, _)| id == plan).map(|(_, price)| price.as_str())
    }

    /// The plan sold at `price`.
    pub fn plan_of(&self, price: &str) -> Option<&str> {
        self.prices.iter().find(|(_, id)| id == price).map(|(plan, _)| plan.as_str())
    }
}

/// PhonePe's payment gateway, the provider teams paying in rupees choose: a merchant
/// id and a salt key with its index, as PhonePe issues them. Unset, PhonePe is offered
/// only in test mode, simulated by DreamOps itself (`billing::phonepe::sandbox`).
#[derive(Debug, Default)]
pub struct PhonePeSettings {
    /// `PHONEPE_MERCHANT_ID`.
    pub merchant_id: Option<String>,
    /// `PHONEPE_SALT_KEY`: the key every `X-VERIFY` checksum is made with.
    pub salt_key: Option<SecretString>,
    /// `PHONEPE_SALT_INDEX`: the salt key's index, default 1.
    pub salt_index: u32,
    /// `PHONEPE_API_BASE`: where PhonePe's API is, default its production host
    /// (`https://api.phonepe.com/apis/hermes`; its sandbox is
    /// `https://api-preprod.phonepe.com/apis/pg-sandbox`).
    pub api_base: Option<String>,
}

impl PhonePeSettings {
    /// PhonePe's production host.
    pub const PRODUCTION: &'static str = "https://api.phonepe.com/apis/hermes";

    /// Whether a merchant account is configured.
    pub fn configured(&self) -> bool {
        self.merchant_id.is_some() && self.salt_key.is_some()
    }
}

/// Sign-in sessions and their cookie.
#[derive(Debug)]
pub struct SessionSettings {
    /// `SESSION_IDLE_TIMEOUT_MINS`: a session unused this long ends, default 720 (12 h).
    pub idle_timeout: Duration,
    /// `SESSION_MAX_AGE_HOURS`: a session ends this long after sign-in however busy,
    /// default 168 (7 days).
    pub max_age: Duration,
    /// `SECURE_COOKIES`: `true` when served over HTTPS. The cookie is then `Secure` and
    /// named with the `__Host-` prefix (bound to this host, path `/`). Default `false`.
    pub secure_cookies: bool,
    /// `CLIENT_IP_HEADER`: the header a trusted proxy puts the client's address in
    /// (e.g. `Fly-Client-IP`); unset, the connection's peer address is used.
    pub client_ip_header: Option<String>,
    /// `SIGN_UPS_PER_ADDRESS`: sign-ups one client address may make in 10 minutes,
    /// default 10.
    pub sign_ups_per_address: i64,
    /// `SIGN_UPS_IN_ALL`: sign-ups the whole deployment takes in 10 minutes, default 300.
    pub sign_ups_in_all: i64,
}

/// The most often a session in use is written back to push its idle expiry out.
const SESSION_RENEWAL: Duration = Duration::from_secs(60);

impl SessionSettings {
    /// How often a session in use is renewed: once a minute, or twice per idle timeout
    /// when that is shorter, so that a session ends within its idle timeout plus this.
    pub fn renewal(&self) -> Duration {
        SESSION_RENEWAL.min(self.idle_timeout / 2)
    }

    /// The session cookie's name.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies { "__Host-dreamops_session" } else { "dreamops_session" }
    }
}

/// How to reach PostgreSQL.
#[derive(Debug)]
pub struct DatabaseSettings {
    /// `DATABASE_URL`; when unset the server runs its own PostgreSQL in the data directory.
    pub url: Option<SecretString>,
    /// `DATABASE_MAX_CONNECTIONS`, default 10.
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECS`: how long a request waits for a free connection
    /// before failing, default 5.
    pub acquire_timeout_secs: u64,
}

/// How logs are written.
#[derive(Debug)]
pub struct LogSettings {
    /// `LOG_FORMAT`: `pretty` (default, for people) or `json` (for log collectors).
    pub format: LogFormat,
    /// `RUST_LOG`: which events are recorded, default `info`.
    pub filter: String,
}

/// The shape of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A variable that is set but cannot be used.
    #[error("{variable}={value:?} is not valid: {expected}")]
    Invalid { variable: &'static str, value: String, expected: &'static str },
    /// Production (`LEPTOS_ENV=PROD`) without variables it cannot do without.
    #[error(
        "LEPTOS_ENV=PROD needs {}: DREAMOPS_SECRET_KEY is the key every instance seals stored credentials with (64 hex characters, the same everywhere; `openssl rand -hex 32`), PUBLIC_URL the address people reach DreamOps at, SMTP_URL the mail server that sends password resets and invitations",
        .0.join(", ")
    )]
    MissingInProduction(Vec<&'static str>),
}

impl Settings {
    /// Reads the settings from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, which returns a variable's value if set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let mut settings = Settings {
            database: DatabaseSettings {
                url: read("DATABASE_URL").map(SecretString::from),
                max_connections: parse(&read, "DATABASE_MAX_CONNECTIONS", 10, "a whole number from 1 to 1000", |n| {
                    (1..=1000).contains(n)
                })?,
                acquire_timeout_secs: parse(
                    &read,
                    "DATABASE_ACQUIRE_TIMEOUT_SECS",
                    5,
                    "a whole number of seconds from 1 to 600",
                    |n| (1..=600).contains(n),
                )?,
            },
            data_dir: read("DREAMOPS_DATA_DIR").map_or_else(|| PathBuf::from(".data"), PathBuf::from),
            log: LogSettings {
                format: match read("LOG_FORMAT").as_deref().map(str::to_ascii_lowercase).as_deref() {
                    None | Some("pretty") => LogFormat::Pretty,
                    Some("json") => LogFormat::Json,
                    Some(_) => {
                        return Err(ConfigError::Invalid {
                            variable: "LOG_FORMAT",
                            value: read("LOG_FORMAT").unwrap_or_default(),
                            expected: "`pretty` or `json`",
                        });
                    }
                },
                filter: read("RUST_LOG").unwrap_or_else(|| "info".to_string()),
            },
            shutdown_timeout: Duration::from_secs(parse(
                &read,
                "SHUTDOWN_TIMEOUT_SECS",
                20,
                "a whole number of seconds from 0 to 3600",
                |n| *n <= 3600,
            )?),
            sessions: SessionSettings {
                idle_timeout: Duration::from_secs(
                    60 * parse(
                        &read,
                        "SESSION_IDLE_TIMEOUT_MINS",
                        720,
                        "a whole number of minutes from 1 to 43200",
                        |n| (1..=43_200).contains(n),
                    )?,
                ),
                max_age: Duration::from_secs(
                    3600 * parse(&read, "SESSION_MAX_AGE_HOURS", 168, "a whole number of hours from 1 to 8760", |n| {
                        (1..=8760).contains(n)
                    })?,
                ),
                secure_cookies: parse(&read, "SECURE_COOKIES", false, "`true` or `false`", |_| true)?,
                client_ip_header: read("CLIENT_IP_HEADER").map(|name| name.trim().to_ascii_lowercase()),
                sign_ups_per_address: parse(
                    &read,
                    "SIGN_UPS_PER_ADDRESS",
                    10,
                    "a whole number from 1 to 1000000",
                    |n| (1..=1_000_000).contains(n),
                )?,
                sign_ups_in_all: parse(&read, "SIGN_UPS_IN_ALL", 300, "a whole number from 1 to 1000000", |n| {
                    (1..=1_000_000).contains(n)
                })?,
            },
            stripe: StripeSettings {
                mode: BillingMode::default(),
                secret_key: read("STRIPE_SECRET_KEY").map(|key| SecretString::from(key.trim().to_string())),
                webhook_secrets: read("STRIPE_WEBHOOK_SECRETS")
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|secret| !secret.is_empty())
                            .map(|secret| SecretString::from(secret.to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
                prices: [
                    ("starter", "STRIPE_PRICE_STARTER"),
                    ("pro", "STRIPE_PRICE_PRO"),
                    ("enterprise", "STRIPE_PRICE_ENTERPRISE"),
                ]
                .into_iter()
                .map(|(plan, variable)| {
                    // Test mode sells every plan at a made-up price id.
                    (
                        plan.to_string(),
                        read(variable).map_or_else(|| format!("price_test_{plan}"), |p| p.trim().to_string()),
                    )
                })
                .collect(),
                api_base: read("STRIPE_API_BASE").map(|url| url.trim().to_string()),
            },
            phonepe: PhonePeSettings {
                merchant_id: read("PHONEPE_MERCHANT_ID").map(|id| id.trim().to_string()),
                salt_key: read("PHONEPE_SALT_KEY").map(|key| SecretString::from(key.trim().to_string())),
                salt_index: parse(&read, "PHONEPE_SALT_INDEX", 1, "a whole number from 1 to 999", |n| {
                    (1..=999).contains(n)
                })?,
                api_base: read("PHONEPE_API_BASE").map(|url| url.trim().trim_end_matches('/').to_string()),
            },
            github_api_base: read("GITHUB_API_BASE").map_or_else(
                || "https://api.github.com".to_string(),
                |url| url.trim().trim_end_matches('/').to_string(),
            ),
            notion_api_base: read("NOTION_API_BASE").map_or_else(
                || "https://api.notion.com".to_string(),
                |url| url.trim().trim_end_matches('/').to_string(),
            ),
            agent: AgentSettings {
                workers: parse(&read, "AGENT_WORKERS", 2, "a whole number from 0 (off) to 64", |n| *n <= 64)?,
                lease: Duration::from_secs(parse(
                    &read,
                    "AGENT_LEASE_SECS",
                    30,
                    "a whole number of seconds from 2 to 600",
                    |n| (2..=600).contains(n),
                )?),
                max_attempts: parse(&read, "AGENT_MAX_ATTEMPTS", 5, "a whole number from 1 to 20", |n| {
                    (1..=20).contains(n)
                })?,
                team_concurrency: parse(&read, "AGENT_TEAM_CONCURRENCY", 1, "a whole number from 1 to 1000", |n| {
                    (1..=1000).contains(n)
                })?,
                llm: llm_settings(&read)?,
                remediation: RemediationSettings {
                    verify: Duration::from_secs(parse(
                        &read,
                        "REMEDIATION_VERIFY_SECS",
                        120,
                        "a whole number of seconds from 1 to 1800",
                        |n| (1..=1800).contains(n),
                    )?),
                    max_automatic_per_hour: parse(
                        &read,
                        "REMEDIATION_MAX_PER_HOUR",
                        5,
                        "a whole number from 0 (never automatic) to 1000",
                        |n| (0..=1000).contains(n),
                    )?,
                },
            },
            outbound: OutboundSettings {
                pagerduty_api: read("PAGERDUTY_API_BASE")
                    .map(|url| url.trim().trim_end_matches('/').to_string())
                    .unwrap_or_else(|| "https://api.pagerduty.com".into()),
                max_attempts: parse(&read, "OUTBOUND_MAX_ATTEMPTS", 5, "a whole number from 1 to 20", |n| {
                    (1..=20).contains(n)
                })?,
                allow_http: parse(&read, "OUTBOUND_ALLOW_HTTP", false, "true or false", |_| true)?,
                allow_private: parse(&read, "OUTBOUND_ALLOW_PRIVATE", false, "true or false", |_| true)?,
            },
            mail: MailSettings {
                smtp_url: read("SMTP_URL").map(|url| SecretString::from(url.trim().to_string())),
                from: read("MAIL_FROM").map_or_else(|| MailSettings::default().from, |from| from.trim().to_string()),
                max_attempts: parse(&read, "MAIL_MAX_ATTEMPTS", 8, "a whole number from 1 to 20", |n| {
                    (1..=20).contains(n)
                })?,
                workers: parse(&read, "MAIL_WORKERS", 2, "a whole number from 0 (none here) to 16", |n| *n <= 16)?,
            },
            production: matches!(
                read("LEPTOS_ENV").map(|env| env.trim().to_ascii_lowercase()).as_deref(),
                Some("prod" | "production")
            ),
            public_url: read("PUBLIC_URL").map(|url| url.trim().trim_end_matches('/').to_string()),
            ingest_rate_scale: parse(&read, "INGEST_RATE_SCALE", 1.0, "a number from 0 (no limits) to 1000", |n| {
                (0.0..=1000.0).contains(n)
            })?,
            api_rate_scale: parse(&read, "API_RATE_SCALE", 1.0, "a number from 0 (no limits) to 1000", |n| {
                (0.0..=1000.0).contains(n)
            })?,
            metrics_token: read("METRICS_TOKEN").map(|token| SecretString::from(token.trim().to_string())),
            secret_key: read("DREAMOPS_SECRET_KEY")
                .map(|key| SecretKey::parse("DREAMOPS_SECRET_KEY", &key, 1))
                .transpose()?,
            previous_secret_keys: read("DREAMOPS_PREVIOUS_SECRET_KEYS")
                .map(|list| previous_secret_keys(&list))
                .transpose()?
                .unwrap_or_default(),
        };
        settings.stripe.mode = BillingMode::decide(
            read("BILLING_MODE").as_deref(),
            settings.stripe.secret_key.is_some() || settings.phonepe.configured(),
            settings.production,
        )?;
        settings.check_production()?;
        Ok(settings)
    }

    /// In production, the variables a deployment cannot do without: without the secret
    /// key each instance would seal with a key of its own that no other instance (nor
    /// itself after a redeploy) can open; without the public address links point at
    /// whatever address a request happened to use.
    fn check_production(&self) -> Result<(), ConfigError> {
        let missing: Vec<&'static str> = [
            ("DREAMOPS_SECRET_KEY", self.secret_key.is_none()),
            ("PUBLIC_URL", self.public_url.is_none()),
            ("SMTP_URL", self.mail.smtp_url.is_none()),
        ]
        .into_iter()
        .filter_map(|(variable, missing)| missing.then_some(variable))
        .collect();
        if self.production && !missing.is_empty() {
            return Err(ConfigError::MissingInProduction(missing));
        }
        Ok(())
    }
}

/// A key that seals stored credentials, and the id written in front of what it seals.
#[derive(Clone, Debug)]
pub struct SecretKey {
    /// 1 to 255.
    pub id: u8,
    /// 64 hex characters.
    pub key: SecretString,
}

impl SecretKey {
    /// `[<id>:]<64 hex characters>`, the id `default_id` when left out.
    fn parse(variable: &'static str, text: &str, default_id: u8) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::Invalid {
            variable,
            value: "(hidden)".to_string(),
            expected: "64 hexadecimal characters (32 random bytes), optionally after a key id from 1 to 255 and a colon",
        };
        let text = text.trim();
        let (id, key) = match text.split_once(':') {
            Some((id, key)) => (id.trim().parse::<u8>().ok().filter(|id| *id > 0).ok_or_else(invalid)?, key.trim()),
            None => (default_id, text),
        };
        if key.len() != 64 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        Ok(SecretKey { id, key: SecretString::from(key.to_string()) })
    }
}

/// `DREAMOPS_PREVIOUS_SECRET_KEYS`: `<id>:<hex>`, comma-separated, ids given.
fn previous_secret_keys(list: &str) -> Result<Vec<SecretKey>, ConfigError> {
    let variable = "DREAMOPS_PREVIOUS_SECRET_KEYS";
    list.split(',')
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(|key| {
            if !key.contains(':') {
                return Err(ConfigError::Invalid {
                    variable,
                    value: "(hidden)".to_string(),
                    expected: "each key after its id and a colon (`1:<64 hex characters>`)",
                });
            }
            SecretKey::parse(variable, key, 1)
        })
        .collect()
}

/// The LLM providers: Anthropic when `ANTHROPIC_API_KEY` is set, an OpenAI-compatible
/// endpoint when `OPENAI_BASE_URL` is, in the order `LLM_PROVIDERS` names
/// (`anthropic,openai` by default).
fn llm_settings(read: &impl Fn(&str) -> Option<String>) -> Result<LlmSettings, ConfigError> {
    let anthropic = read("ANTHROPIC_API_KEY").map(|key| Provider {
        kind: ProviderKind::Anthropic,
        base_url: read("ANTHROPIC_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into()),
        api_key: Some(SecretString::from(key.trim().to_string())),
        model: read("ANTHROPIC_MODEL").unwrap_or_else(|| "claude-sonnet-4-5".into()),
    });
    let openai = read("OPENAI_BASE_URL").map(|base| Provider {
        kind: ProviderKind::OpenAiCompatible,
        base_url: base.trim().to_string(),
        api_key: read("OPENAI_API_KEY").map(|key| SecretString::from(key.trim().to_string())),
        model: read("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
    });
    let order = read("LLM_PROVIDERS").unwrap_or_else(|| "anthropic,openai".into());
    let mut providers = Vec::new();
    for name in order.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        let provider = match name {
            "anthropic" => anthropic.clone(),
            "openai" => openai.clone(),
            _ => {
                return Err(ConfigError::Invalid {
                    variable: "LLM_PROVIDERS",
                    value: order.clone(),
                    expected: "`anthropic` and/or `openai`, comma-separated",
                });
            }
        };
        providers.extend(provider);
    }
    let defaults = LlmSettings::default();
    Ok(LlmSettings {
        providers,
        timeout: Duration::from_secs(parse(
            read,
            "LLM_TIMEOUT_SECS",
            defaults.timeout.as_secs(),
            "a whole number of seconds from 1 to 300",
            |n| (1..=300).contains(n),
        )?),
        monthly_tokens: parse(
            read,
            "LLM_MONTHLY_TOKENS",
            defaults.monthly_tokens,
            "a whole number of tokens, 0 or more",
            |n| *n >= 0,
        )?,
        redact: parse(read, "LLM_REDACT", true, "`true` or `false`", |_| true)?,
    })
}

/// Parses an optional variable, falling back to `default` when it is unset.
fn parse<T: FromStr>(
    read: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: T,
    expected: &'static str,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError> {
    let Some(value) = read(variable) else { return Ok(default) };
    match value.trim().parse::<T>() {
        Ok(parsed) if valid(&parsed) => Ok(parsed),
        _ => Err(ConfigError::Invalid { variable, value, expected }),
    }
}

/// How the agent runs on this instance.
#[derive(Clone, Debug, Default)]
pub struct AgentSettings {
    /// `AGENT_WORKERS`: concurrent analyses on this instance; 0 disables the agent here.
    pub workers: usize,
    /// `AGENT_LEASE_SECS`: how long a job stays a worker's without renewal.
    pub lease: Duration,
    /// `AGENT_MAX_ATTEMPTS`: attempts before a job is parked as failed.
    pub max_attempts: i32,
    /// `AGENT_TEAM_CONCURRENCY`: analyses of one team running at once across every
    /// instance, so that one team's slow cluster or LLM cannot hold all the workers.
    pub team_concurrency: i64,
    /// The LLMs that add their analysis, if any.
    pub llm: LlmSettings,
    /// How actions are verified and how many may be taken automatically.
    pub remediation: RemediationSettings,
}

/// How remediation runs on this deployment.
#[derive(Clone, Debug)]
pub struct RemediationSettings {
    /// `REMEDIATION_VERIFY_SECS`: how long a changed workload has to recover.
    pub verify: Duration,
    /// `REMEDIATION_MAX_PER_HOUR`: automatic actions per cluster and hour.
    pub max_automatic_per_hour: i64,
}

impl Default for RemediationSettings {
    fn default() -> Self {
        RemediationSettings { verify: Duration::from_secs(120), max_automatic_per_hour: 5 }
    }
}

/// What the deployment's outbound calls need.
#[derive(Clone, Debug)]
pub struct OutboundSettings {
    /// `PAGERDUTY_API_BASE`: PagerDuty's REST API.
    pub pagerduty_api: String,
    /// `OUTBOUND_MAX_ATTEMPTS`: attempts before a call is parked as failed.
    pub max_attempts: i32,
    /// `OUTBOUND_ALLOW_HTTP`: accept `http://` destinations (tests, private networks).
    pub allow_http: bool,
    /// `OUTBOUND_ALLOW_PRIVATE`: accept destinations on loopback, private and link-local
    /// addresses (self-hosted deployments on a private network, tests).
    pub allow_private: bool,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        OutboundSettings {
            pagerduty_api: "https://api.pagerduty.com".into(),
            max_attempts: 5,
            allow_http: false,
            allow_private: false,
        }
    }
}

/// How mails leave.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `SMTP_URL`: the SMTP server mails are handed to. `smtps://user:password@host:465`
    /// speaks TLS from the start; `smtp://user:password@host:587?tls=required` upgrades
    /// with STARTTLS (`tls=opportunistic`: when the server offers it); `smtp://host:25`
    /// is plain, for a relay on a private network. Required in production; unset in
    /// development, mails are written to the log and listed at `/dev/mail`.
    pub smtp_url: Option<SecretString>,
    /// `MAIL_FROM`: the sender, e.g. `DreamOps <noreply@dreamops.example.com>`.
    pub from: String,
    /// `MAIL_MAX_ATTEMPTS`: attempts to hand a mail over before it is parked as failed.
    pub max_attempts: i32,
    /// `MAIL_WORKERS`: mails this instance hands over at once (0: other instances send).
    pub workers: usize,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings { smtp_url: None, from: "DreamOps <noreply@localhost>".into(), max_attempts: 8, workers: 2 }
    }
}

/// Which API a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderKind {
    /// `POST {base}/v1/messages` with `x-api-key` and `anthropic-version`.
    Anthropic,
    /// `POST {base}/chat/completions` with an optional bearer key.
    OpenAiCompatible,
}

/// One LLM endpoint.
#[derive(Clone, Debug)]
pub struct Provider {
    pub kind: ProviderKind,
    /// `https://api.anthropic.com`, or an OpenAI-compatible base such as
    /// `http://vllm:8000/v1`.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub model: String,
}

impl Provider {
    /// `provider/model`, as shown beside the analysis.
    pub fn name(&self) -> String {
        let kind = match self.kind {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAiCompatible => "openai-compatible",
        };
        format!("{kind}/{}", self.model)
    }
}

/// How the deployment uses LLMs.
#[derive(Clone, Debug)]
pub struct LlmSettings {
    /// Tried in order; empty: no LLM.
    pub providers: Vec<Provider>,
    /// `LLM_TIMEOUT_SECS`: one request's limit.
    pub timeout: Duration,
    /// `LLM_MONTHLY_TOKENS`: tokens each team may use per calendar month.
    pub monthly_tokens: i64,
    /// `LLM_REDACT`: redact what is sent (on unless set to `false`).
    pub redact: bool,
}

impl Default for LlmSettings {
    fn default() -> Self {
        LlmSettings { providers: Vec::new(), timeout: Duration::from_secs(30), monthly_tokens: 200_000, redact: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_are_local_and_safe() {
        let s = settings(&[]).unwrap();
        assert!(s.database.url.is_none());
        assert_eq!(s.database.max_connections, 10);
        assert_eq!(s.data_dir, PathBuf::from(".data"));
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert_eq!(s.shutdown_timeout, Duration::from_secs(20));
        assert_eq!(s.sessions.idle_timeout, Duration::from_secs(12 * 3600));
        assert_eq!(s.sessions.max_age, Duration::from_secs(7 * 24 * 3600));
        assert!(!s.sessions.secure_cookies);
        assert_eq!(s.sessions.cookie_name(), "dreamops_session");
    }

    #[test]
    fn secure_cookies_take_the_host_prefix() {
        let s = settings(&[("SECURE_COOKIES", "true")]).unwrap();
        assert_eq!(s.sessions.cookie_name(), "__Host-dreamops_session");
        assert!(settings(&[("SECURE_COOKIES", "yes")]).is_err());
    }

    #[test]
    fn reads_each_variable() {
        let s = settings(&[
            ("DATABASE_URL", "postgres://u:p@db/dreamops"),
            ("DATABASE_MAX_CONNECTIONS", "25"),
            ("DREAMOPS_DATA_DIR", "/var/lib/dreamops"),
            ("LOG_FORMAT", "JSON"),
            ("SHUTDOWN_TIMEOUT_SECS", "0"),
        ])
        .unwrap();
        assert_eq!(s.database.url.unwrap().expose_secret(), "postgres://u:p@db/dreamops");
        assert_eq!(s.database.max_connections, 25);
        assert_eq!(s.data_dir, PathBuf::from("/var/lib/dreamops"));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.shutdown_timeout, Duration::ZERO);
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert!(settings(&[("DATABASE_URL", "  ")]).unwrap().database.url.is_none());
    }

    #[test]
    fn invalid_values_name_the_variable() {
        let error = settings(&[("DATABASE_MAX_CONNECTIONS", "lots")]).unwrap_err();
        assert!(error.to_string().starts_with("DATABASE_MAX_CONNECTIONS=\"lots\" is not valid"), "{error}");
        assert!(settings(&[("DATABASE_MAX_CONNECTIONS", "0")]).is_err());
        assert!(settings(&[("LOG_FORMAT", "xml")]).unwrap_err().to_string().contains("LOG_FORMAT"));
    }

    #[test]
    fn production_needs_the_secret_key_the_public_address_and_a_mail_server() {
        let key = "ab".repeat(32);
        assert!(!settings(&[]).unwrap().production, "development by default");
        assert_eq!(
            settings(&[("LEPTOS_ENV", "PROD")]).unwrap_err(),
            ConfigError::MissingInProduction(vec!["DREAMOPS_SECRET_KEY", "PUBLIC_URL", "SMTP_URL"])
        );
        assert_eq!(
            settings(&[("LEPTOS_ENV", "prod"), ("PUBLIC_URL", "https://x.example"), ("SMTP_URL", "smtp://mail:25")])
                .unwrap_err(),
            ConfigError::MissingInProduction(vec!["DREAMOPS_SECRET_KEY"])
        );
        let s = settings(&[
            ("LEPTOS_ENV", "production"),
            ("PUBLIC_URL", "https://x.example/"),
            ("DREAMOPS_SECRET_KEY", &key),
            ("SMTP_URL", "smtps://user:pass@mail.example"),
        ])
        .unwrap();
        assert!(s.production);
        assert_eq!(s.public_url.as_deref(), Some("https://x.example"));
        assert!(!settings(&[("LEPTOS_ENV", "DEV")]).unwrap().production);
    }

    #[test]
    fn a_deployment_without_payment_keys_sells_nothing_unless_its_operator_chose_test_mode() {
        let key = "ab".repeat(32);
        let production = [
            ("LEPTOS_ENV", "PROD"),
            ("PUBLIC_URL", "https://x.example"),
            ("DREAMOPS_SECRET_KEY", &key),
            ("SMTP_URL", "smtp://mail.example:25"),
        ];
        let mode = |extra: &[(&str, &str)]| {
            let vars: Vec<(&str, &str)> = production.iter().chain(extra).copied().collect();
            settings(&vars).map(|s| (s.stripe.mode, s.stripe.test_mode(), s.stripe.upgrades()))
        };
        assert_eq!(mode(&[]).unwrap(), (BillingMode::Off, false, false), "production, no key: no upgrades");
        assert_eq!(mode(&[("BILLING_MODE", "test")]).unwrap(), (BillingMode::Test, true, true));
        assert_eq!(mode(&[("STRIPE_SECRET_KEY", "sk_live_x")]).unwrap(), (BillingMode::Live, false, true));
        assert_eq!(mode(&[("STRIPE_SECRET_KEY", "sk_live_x"), ("BILLING_MODE", "off")]).unwrap().0, BillingMode::Off);
        assert_eq!(
            mode(&[("STRIPE_SECRET_KEY", "sk_live_x"), ("BILLING_MODE", "stripe")]).unwrap().0,
            BillingMode::Live
        );
        let phonepe = [("PHONEPE_MERCHANT_ID", "M1"), ("PHONEPE_SALT_KEY", "salt")];
        assert_eq!(mode(&phonepe).unwrap(), (BillingMode::Live, false, true), "PhonePe alone sells too");
        assert!(mode(&[("BILLING_MODE", "stripe")]).is_err(), "live without keys");
        assert!(mode(&[("BILLING_MODE", "live"), ("PHONEPE_MERCHANT_ID", "M1")]).is_err(), "half of PhonePe's keys");
        assert!(mode(&[("BILLING_MODE", "free")]).is_err());
        assert_eq!(settings(&[]).unwrap().stripe.mode, BillingMode::Test, "development: simulated payments");
    }

    #[test]
    fn secret_keys_carry_an_id_and_previous_keys_must_name_theirs() {
        let key = "ab".repeat(32);
        let s = settings(&[("DREAMOPS_SECRET_KEY", &key)]).unwrap();
        assert_eq!(s.secret_key.unwrap().id, 1);
        let s = settings(&[
            ("DREAMOPS_SECRET_KEY", &format!("3:{key}")),
            ("DREAMOPS_PREVIOUS_SECRET_KEYS", &format!("1:{key}, 2:{}", "cd".repeat(32))),
        ])
        .unwrap();
        assert_eq!(s.secret_key.unwrap().id, 3);
        assert_eq!(s.previous_secret_keys.iter().map(|k| k.id).collect::<Vec<_>>(), [1, 2]);
        for (variable, value) in [
            ("DREAMOPS_SECRET_KEY", "0:".to_string() + &key),
            ("DREAMOPS_SECRET_KEY", "256:".to_string() + &key),
            ("DREAMOPS_SECRET_KEY", key[..62].to_string()),
            ("DREAMOPS_PREVIOUS_SECRET_KEYS", key.clone()),
        ] {
            let error = settings(&[(variable, &value)]).unwrap_err().to_string();
            assert!(error.starts_with(variable) && !error.contains(&key[..32]), "{error}");
        }
    }

    #[test]
    fn the_database_url_never_prints() {
        let s = settings(&[("DATABASE_URL", "postgres://u:hunter2@db/x")]).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
