//! Reading a container's log for why it failed: the shapes Go, Java, Python, Node.js and
//! shell programs print when a name does not resolve, a dependency refuses the
//! connection, the Kubernetes API forbids a call, the disk is full, a file or an
//! environment variable is missing, a command does not exist — each with the thing it
//! names (the host, the host:port, the service account, the path, the variable).

/// What a log says went wrong, with the thing to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A host name that does not resolve.
    UnknownHost { host: String },
    /// A dependency that refuses connections (`host:port`, or a host).
    ConnectionRefused { address: String },
    /// A dependency that does not answer in time.
    ConnectionTimedOut { address: String },
    /// The Kubernetes API refused a call: who, what verb, on what.
    Forbidden { account: String, verb: String, resource: String, namespace: Option<String> },
    /// The file system refused access to a path.
    PermissionDenied { path: String },
    /// A full disk (ENOSPC), at a path when the log names one.
    NoSpace { path: Option<String> },
    /// An environment variable the program needs and does not have.
    MissingVariable { name: String },
    /// A file (usually configuration) that does not exist.
    MissingFile { path: String },
    /// A command or executable that is not in the image.
    CommandNotFound { command: String },
    /// Credentials a dependency refused.
    AuthenticationFailed { detail: String },
    /// A runtime out of its own heap (Java, Node), not the container's limit.
    HeapExhausted { detail: String },
}

/// A problem and the log line it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub problem: Problem,
    pub line: String,
}

/// The problem `log` shows: of the lines that name one, the last (a program's last
/// words are its reason for stopping; what follows them is unwinding).
pub fn read(log: &str) -> Option<Finding> {
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let (at, mut finding) = lines
        .iter()
        .enumerate()
        .rev()
        .find_map(|(at, line)| problem(line).map(|problem| (at, Finding { problem, line: shorten(line) })))?;
    // A full disk's path is often on an earlier line (`… in dir /data/kafka`).
    if let Problem::NoSpace { path: path @ None } = &mut finding.problem {
        *path = lines[..at].iter().rev().find_map(|line| {
            line.split_whitespace()
                .map(|w| w.trim_matches(|c| "\"'`:,;()[]".contains(c)))
                .find(|w| w.len() > 1 && w.starts_with('/') && !w.starts_with("//"))
                .map(str::to_string)
        });
    }
    Some(finding)
}

/// A line as evidence: at most 300 characters.
fn shorten(line: &str) -> String {
    if line.chars().count() <= 300 {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(300).collect::<String>())
    }
}

/// The text after `marker` in `line` (case-insensitive), up to the first of `ends`.
fn after<'a>(line: &'a str, marker: &str, ends: &[char]) -> Option<&'a str> {
    let at = line.to_lowercase().find(&marker.to_lowercase())? + marker.len();
    let rest = line.get(at..)?.trim_start();
    let end = rest.find(|c: char| ends.contains(&c) || c.is_whitespace()).unwrap_or(rest.len());
    let found = rest[..end].trim_matches(|c: char| "\"'`()[],;".contains(c));
    (!found.is_empty()).then_some(found)
}

/// Quoted text after `marker`: `marker "x"` or `marker 'x'`.
fn quoted_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let at = line.to_lowercase().find(&marker.to_lowercase())? + marker.len();
    let rest = line.get(at..)?;
    let open = rest.find(['"', '\'', '`'])?;
    let quote = rest[open..].chars().next()?;
    let inner = &rest[open + 1..];
    let close = inner.find(quote)?;
    (close > 0).then(|| &inner[..close])
}

/// The `host:port` in `text`: the first word that is one.
fn address_in(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || "\"'(),;[]".contains(c))
        .map(|word| word.trim_end_matches(['.', ':']))
        .find(|word| {
            word.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && !port.is_empty()
                    && port.len() <= 5
                    && port.chars().all(|c| c.is_ascii_digit())
                    && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_[]:".contains(c))
                    && !host.contains("//")
            })
        })
        .map(str::to_string)
}

fn problem(line: &str) -> Option<Problem> {
    let lower = line.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));

    // The Kubernetes API: `pods is forbidden: User "system:serviceaccount:ns:sa" cannot
    // list resource "pods" in API group "" in the namespace "ns"`.
    if lower.contains("forbidden") && lower.contains("cannot ") && lower.contains("user") {
        let user = quoted_after(line, "user")?;
        let account = user.strip_prefix("system:serviceaccount:").map(|a| a.replacen(':', "/", 1));
        let verb = after(line, "cannot", &[])?.to_string();
        let resource = quoted_after(line, "resource")
            .map(|resource| match quoted_after(line, "api group") {
                Some(group) if !group.is_empty() => format!("{resource}.{group}"),
                _ => resource.to_string(),
            })
            .unwrap_or_else(|| "it".into());
        return Some(Problem::Forbidden {
            account: account.unwrap_or_else(|| user.to_string()),
            verb,
            resource,
            namespace: quoted_after(line, "in the namespace").map(str::to_string),
        });
    }
    if has(&["no space left on device", "enospc", "disk quota exceeded"]) {
        let candidates = [
            quoted_after(line, "open"),
            after(line, "write ", &[':']),
            after(line, "open ", &[':']),
            quoted_after(line, "file"),
        ];
        let path = candidates.into_iter().flatten().find(|p| p.starts_with('/')).map(str::to_string);
        return Some(Problem::NoSpace { path });
    }
    // Name resolution: Go's `lookup redis on 10.96.0.10:53: no such host`, Java's
    // UnknownHostException, Node's ENOTFOUND, curl's and libpq's wording.
    if line.contains("ENOTFOUND")
        || has(&[
            "no such host",
            "unknownhostexception",
            "could not resolve host",
            "could not translate host name",
            "name or service not known",
            "temporary failure in name resolution",
            "nodename nor servname",
            "failed to resolve",
            "eai_again",
        ])
    {
        let host = after(line, "lookup ", &[':'])
            .or_else(|| after(line, "unknownhostexception:", &[':']))
            .or_else(|| after(line, "enotfound", &[':']))
            .or_else(|| after(line, "could not resolve host:", &[]))
            .or_else(|| quoted_after(line, "could not translate host name"))
            .or_else(|| quoted_after(line, "failed to resolve"))
            .or_else(|| quoted_after(line, "host"))
            .map(str::to_string)
            .or_else(|| address_in(line).map(|a| a.rsplit_once(':').map_or(a.clone(), |(h, _)| h.to_string())))?;
        return Some(Problem::UnknownHost { host });
    }
    if has(&["connection refused", "econnrefused", "connectexception: connection refused", "errno 111"]) {
        return Some(Problem::ConnectionRefused { address: dependency_address(line)? });
    }
    if has(&["i/o timeout", "etimedout", "connection timed out", "connect timed out", "sockettimeoutexception"])
        && let Some(address) = dependency_address(line)
    {
        return Some(Problem::ConnectionTimedOut { address });
    }
    if has(&["password authentication failed", "access denied for user", "authentication failed", "wrongpass"]) {
        return Some(Problem::AuthenticationFailed { detail: shorten(line) });
    }
    if has(&["outofmemoryerror", "javascript heap out of memory", "heap limit allocation failed"]) {
        return Some(Problem::HeapExhausted { detail: shorten(line) });
    }
    // A command missing from the image, as the runtime or a shell says it.
    let shell = ["sh:", "/bin/sh:", "bash:", "/bin/bash:", "ash:", "/bin/ash:", "env:", "/usr/bin/env:"]
        .iter()
        .any(|prefix| lower.starts_with(prefix));
    if has(&["executable file not found", "command not found"])
        || shell && lower.contains(": not found")
        || lower.starts_with("exec ") && lower.contains("no such file or directory")
    {
        let command = quoted_after(line, "exec:")
            .or_else(|| after(line, "exec ", &[':']))
            .or_else(|| {
                // `sh: 1: migrate: not found`, `bash: migrate: command not found`.
                let before = &line[..lower.find(if lower.contains("command not found") {
                    "command not found"
                } else {
                    "not found"
                })?];
                before.trim_end().trim_end_matches(':').rsplit(':').next().map(str::trim)
            })
            .filter(|c| !c.is_empty())?;
        return Some(Problem::CommandNotFound { command: command.to_string() });
    }
    if let Some(name) = missing_variable(line) {
        return Some(Problem::MissingVariable { name });
    }
    if has(&[
        "no such file or directory",
        "filenotfounderror",
        "filenotfoundexception",
        "enoent",
        "cannot find the file",
    ]) {
        let path = quoted_after(line, "directory:")
            .or_else(|| quoted_after(line, "open"))
            .or_else(|| after(line, "filenotfoundexception:", &[]))
            .or_else(|| after(line, "open ", &[':']))
            .or_else(|| {
                line.split_whitespace().map(|w| w.trim_matches(|c| "\"'`:,()".contains(c))).find(|w| w.starts_with('/'))
            })?;
        return Some(Problem::MissingFile { path: path.to_string() });
    }
    // A program's own words for a configuration it cannot find.
    if is_config(&lower)
        && has(&[
            "is missing",
            "not found",
            "cannot open",
            "could not open",
            "does not exist",
            "unable to read",
            "failed to read",
        ])
    {
        let path = line
            .split_whitespace()
            .map(|w| w.trim_matches(|c| "\"'`:,;()".contains(c)))
            .find(|w| w.starts_with('/') || w.contains('.') && is_config(w) && !w.ends_with('.'))
            .unwrap_or("its configuration file");
        return Some(Problem::MissingFile { path: path.to_string() });
    }
    if lower.contains("permission denied") || lower.contains("eacces") || lower.contains("operation not permitted") {
        let path = quoted_after(line, "permission denied:")
            .or_else(|| quoted_after(line, "open"))
            .or_else(|| quoted_after(line, "directory"))
            .or_else(|| after(line, "open ", &[':']))
            .or_else(|| after(line, "mkdir ", &[':']))
            .or_else(|| {
                line.split_whitespace().map(|w| w.trim_matches(|c| "\"'`:,()".contains(c))).find(|w| w.starts_with('/'))
            })
            .unwrap_or("a path");
        return Some(Problem::PermissionDenied { path: path.to_string() });
    }
    None
}

/// The address a failed connection was to: its `host:port`, else the host libpq or
/// a client library names (`connection to server at "db" (10.0.0.5), port 5432`).
fn dependency_address(line: &str) -> Option<String> {
    if let (Some(host), Some(port)) = (quoted_after(line, "server at"), after(line, "port ", &[' ', ':', ','])) {
        return Some(format!("{host}:{port}"));
    }
    if let Some(host) = quoted_after(line, "server at").or_else(|| quoted_after(line, "host")) {
        return Some(host.to_string());
    }
    // A URL's host names the dependency better than the address it resolved to.
    if let Some(rest) = line.split("://").nth(1) {
        let authority =
            rest.split(|c: char| c == '/' || c == '"' || c == '\'' || c.is_whitespace()).next().unwrap_or("");
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        if address_in(authority).is_some() {
            return Some(authority.to_string());
        }
    }
    let address = address_in(line)?;
    // `dial tcp: lookup …` aside, Go names the peer after `dial tcp`.
    Some(
        after(line, "dial tcp ", &[])
            .map(|a| a.trim_end_matches(':').to_string())
            .filter(|a| a.contains(':'))
            .unwrap_or(address),
    )
}

/// The environment variable `line` says is missing, if it says so: `DATABASE_URL is not
/// set`, `You must specify POSTGRES_PASSWORD`, Python's `KeyError: 'DATABASE_URL'`,
/// Spring's `Could not resolve placeholder 'DB_HOST'`.
pub fn missing_variable(line: &str) -> Option<String> {
    let lower = line.to_lowercase();
    let quoted = |marker: &str| quoted_after(line, marker).filter(|name| looks_like_variable(name)).map(str::to_string);
    if lower.contains("keyerror") {
        return quoted("keyerror");
    }
    if lower.contains("could not resolve placeholder") {
        return quoted("placeholder");
    }
    if ![
        "is not set",
        "not set",
        "not specified",
        "must specify",
        "is required",
        "must be set",
        "missing environment",
        "missing required environment",
        "undefined variable",
        "environment variable",
        "env var",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return None;
    }
    line.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
        .find(|word| looks_like_variable(word))
        .map(str::to_string)
}

fn looks_like_variable(word: &str) -> bool {
    let shaped = word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && word.chars().next().is_some_and(|c| c.is_ascii_uppercase());
    let not_a_level = !["ERROR", "FATAL", "WARN", "WARNING", "INFO", "DEBUG", "PANIC", "CRITICAL"].contains(&word);
    shaped && not_a_level && (word.len() >= 3 && word.contains('_') || word.len() >= 4)
}

/// Whether `path` is a configuration file by its name.
pub fn is_config(path: &str) -> bool {
    let path = path.to_lowercase();
    ["config", ".yaml", ".yml", ".json", ".toml", ".conf", ".ini", ".properties", ".env", "settings"]
        .iter()
        .any(|w| path.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem_of(log: &str) -> Problem {
        read(log).unwrap_or_else(|| panic!("nothing read from:\n{log}")).problem
    }

    #[test]
    fn names_that_do_not_resolve_name_the_host_in_every_runtime() {
        let go = "2026/12/05 10:00:01 starting api v1.4.2\n2026/12/05 10:00:01 connecting to cache\n\
                  2026/12/05 10:00:02 fatal: dial tcp: lookup redis-master on 10.96.0.10:53: no such host\n";
        assert_eq!(problem_of(go), Problem::UnknownHost { host: "redis-master".into() });
        let java = "2026-12-05 10:00:02.123 ERROR 1 --- [main] o.s.boot.SpringApplication : Application run failed\n\
                    java.net.UnknownHostException: postgres.db.svc.cluster.local: Name or service not known\n\
                    \tat java.base/java.net.Inet6AddressImpl.lookupAllHostAddr(Native Method)\n";
        assert_eq!(problem_of(java), Problem::UnknownHost { host: "postgres.db.svc.cluster.local".into() });
        let node = "Error: getaddrinfo ENOTFOUND mongo-0.mongo\n    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26) {\n  errno: -3008,\n}\n";
        assert_eq!(problem_of(node), Problem::UnknownHost { host: "mongo-0.mongo".into() });
        let libpq = "psycopg2.OperationalError: could not translate host name \"orders-db\" to address: Name or service not known\n";
        assert_eq!(problem_of(libpq), Problem::UnknownHost { host: "orders-db".into() });
    }

    #[test]
    fn refused_connections_name_the_host_and_port() {
        let go = "{\"level\":\"error\",\"msg\":\"cannot reach the database\",\"error\":\"dial tcp 10.0.12.7:5432: connect: connection refused\"}";
        assert_eq!(problem_of(go), Problem::ConnectionRefused { address: "10.0.12.7:5432".into() });
        let node = "Error: connect ECONNREFUSED 10.96.44.2:6379\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)\n";
        assert_eq!(problem_of(node), Problem::ConnectionRefused { address: "10.96.44.2:6379".into() });
        let python = "Traceback (most recent call last):\n  File \"/app/main.py\", line 12, in <module>\n    conn = psycopg2.connect(dsn)\n\
                      psycopg2.OperationalError: connection to server at \"orders-db\" (10.0.3.4), port 5432 failed: Connection refused\n\
                      \tIs the server running on that host and accepting TCP/IP connections?\n";
        assert_eq!(problem_of(python), Problem::ConnectionRefused { address: "orders-db:5432".into() });
        let redis = "redis.exceptions.ConnectionError: Error 111 connecting to cache:6379. Connection refused.\n";
        assert_eq!(problem_of(redis), Problem::ConnectionRefused { address: "cache:6379".into() });
    }

    #[test]
    fn forbidden_calls_name_the_account_verb_and_resource() {
        let log = "E1205 10:00:02.000000       1 reflector.go:147] failed to list *v1.ConfigMap: configmaps is forbidden: \
                   User \"system:serviceaccount:shop:default\" cannot list resource \"configmaps\" in API group \"\" in the namespace \"shop\"\n";
        assert_eq!(
            problem_of(log),
            Problem::Forbidden {
                account: "shop/default".into(),
                verb: "list".into(),
                resource: "configmaps".into(),
                namespace: Some("shop".into())
            }
        );
        let grouped = "leases.coordination.k8s.io \"lock\" is forbidden: User \"system:serviceaccount:ops:operator\" cannot get resource \"leases\" in API group \"coordination.k8s.io\" in the namespace \"ops\"";
        assert!(
            matches!(problem_of(grouped), Problem::Forbidden { resource, .. } if resource == "leases.coordination.k8s.io")
        );
    }

    #[test]
    fn full_disks_missing_commands_and_files_are_told_apart() {
        let postgres = "2026-12-05 10:00:02.000 UTC [1] LOG:  database system is ready\n\
                        2026-12-05 10:10:02.000 UTC [88] PANIC:  could not write to file \"pg_wal/xlogtemp.88\": No space left on device\n";
        assert!(matches!(problem_of(postgres), Problem::NoSpace { .. }));
        let absolute =
            "PANIC:  could not write to file \"/var/lib/postgresql/data/pg_wal/xlogtemp.88\": No space left on device";
        assert_eq!(
            problem_of(absolute),
            Problem::NoSpace { path: Some("/var/lib/postgresql/data/pg_wal/xlogtemp.88".into()) }
        );
        let go = "error writing segment: write /data/segments/000123.log: no space left on device";
        assert_eq!(problem_of(go), Problem::NoSpace { path: Some("/data/segments/000123.log".into()) });
        assert_eq!(
            problem_of("/bin/sh: 1: migrate: not found"),
            Problem::CommandNotFound { command: "migrate".into() }
        );
        assert_eq!(
            problem_of("bash: gunicorn: command not found"),
            Problem::CommandNotFound { command: "gunicorn".into() }
        );
        assert_eq!(
            problem_of("exec: \"./server\": executable file not found in $PATH"),
            Problem::CommandNotFound { command: "./server".into() }
        );
        assert_eq!(
            problem_of("exec /docker-entrypoint.sh: no such file or directory"),
            Problem::CommandNotFound { command: "/docker-entrypoint.sh".into() }
        );
        let python = "Traceback (most recent call last):\n  File \"/app/app.py\", line 3, in <module>\n    open('/etc/app/settings.yaml')\n\
                      FileNotFoundError: [Errno 2] No such file or directory: '/etc/app/settings.yaml'\n";
        assert_eq!(problem_of(python), Problem::MissingFile { path: "/etc/app/settings.yaml".into() });
        let node = "Error: ENOENT: no such file or directory, open '/app/config/production.json'";
        assert_eq!(problem_of(node), Problem::MissingFile { path: "/app/config/production.json".into() });
        let denied = "mkdir: cannot create directory '/var/lib/app/cache': Permission denied";
        assert_eq!(problem_of(denied), Problem::PermissionDenied { path: "/var/lib/app/cache".into() });
    }

    #[test]
    fn missing_variables_are_named_in_every_shape() {
        let python = "Traceback (most recent call last):\n  File \"/app/settings.py\", line 8, in <module>\n    DATABASE_URL = os.environ['DATABASE_URL']\n\
                      \x20 File \"/usr/local/lib/python3.12/os.py\", line 714, in __getitem__\n    raise KeyError(key) from None\nKeyError: 'DATABASE_URL'\n";
        assert_eq!(problem_of(python), Problem::MissingVariable { name: "DATABASE_URL".into() });
        let spring = "Caused by: java.lang.IllegalArgumentException: Could not resolve placeholder 'PAYMENTS_API_KEY' in value \"${PAYMENTS_API_KEY}\"";
        assert_eq!(problem_of(spring), Problem::MissingVariable { name: "PAYMENTS_API_KEY".into() });
        let postgres = "Error: Database is uninitialized and superuser password is not specified.\n       You must specify POSTGRES_PASSWORD to a non-empty value for the\n       superuser.";
        assert_eq!(problem_of(postgres), Problem::MissingVariable { name: "POSTGRES_PASSWORD".into() });
        assert_eq!(missing_variable("ERROR connection refused"), None);
        assert_eq!(missing_variable("FATAL: JWT_SECRET must be set"), Some("JWT_SECRET".into()));
    }

    #[test]
    fn programs_own_words_for_a_missing_configuration_count() {
        let log = "INFO payment-api starting\nFATAL configuration file /etc/payment/config.yaml is missing; refusing to start\n";
        assert_eq!(problem_of(log), Problem::MissingFile { path: "/etc/payment/config.yaml".into() });
        assert_eq!(read("INFO loaded configuration from /etc/app/config.yaml"), None);
    }

    #[test]
    fn healthy_logs_say_nothing() {
        let log = "INFO starting\nINFO loaded configuration from /etc/app/config.yaml\nINFO listening on :8080\nGET /healthz 200\n";
        assert_eq!(read(log), None);
    }
}
