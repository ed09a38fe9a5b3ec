//! An ACL rule set in Mosquitto's `acl_file` format: parsed, printed and evaluated.
//!
//! The embedded broker and an external Mosquitto must protect the topic tree identically, so
//! the in-process broker reads the very file Mosquitto would read and evaluates it with
//! Mosquitto's rules (`user` blocks of `topic` lines, global `pattern` lines with `%c` and `%u`,
//! subscriptions allowed only inside a readable pattern). mqtt5's own ACL format cannot do this:
//! it has no `%c`, which `responses/<clientId>` needs. `deny` lines are refused rather than
//! guessed at, because Mosquitto's ordering of denials across user and pattern lists is not
//! something our generated rules need. No I/O here; reading the file is the caller's job.

use std::fmt;

/// What a rule grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribe to, and receive, matching topics.
    Read,
    /// Publish to matching topics (including retained messages and wills).
    Write,
    /// Both.
    ReadWrite,
}

impl Access {
    fn grants_read(self) -> bool {
        matches!(self, Self::Read | Self::ReadWrite)
    }

    fn grants_write(self) -> bool {
        matches!(self, Self::Write | Self::ReadWrite)
    }

    fn keyword(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::ReadWrite => "readwrite",
        }
    }
}

/// Whom a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A `topic` line before any `user` line: clients without a username.
    Anonymous,
    /// A `topic` line inside a `user <name>` block.
    User(String),
    /// A `pattern` line: every client, with `%c` (client id) and `%u` (username) substituted.
    Pattern,
}

/// One line of the rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// Whom it applies to.
    pub scope: Scope,
    /// What it grants.
    pub access: Access,
    /// The topic filter it covers; may contain `+`, `#`, and for patterns `%c` / `%u`.
    pub topic: String,
}

/// A whole ACL: everything not granted is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclRules {
    rules: Vec<AclRule>,
}

/// Why an ACL file was refused, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct AclParseError {
    /// The line that could not be understood.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl AclRules {
    /// An empty rule set (refuses everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a rule at the end.
    pub fn push(&mut self, scope: Scope, access: Access, topic: impl Into<String>) {
        self.rules.push(AclRule {
            scope,
            access,
            topic: topic.into(),
        });
    }

    /// The rules in order.
    pub fn rules(&self) -> &[AclRule] {
        &self.rules
    }

    /// Parses Mosquitto's `acl_file` syntax. Unknown keywords and `deny` are errors, not
    /// warnings: a typo in an ACL must not silently widen or narrow access.
    pub fn parse(text: &str) -> Result<Self, AclParseError> {
        let mut rules = Self::new();
        let mut user: Option<String> = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let err = |message: String| AclParseError {
                line: line_no,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" => {
                    if rest.is_empty() {
                        return Err(err("`user` needs a name".into()));
                    }
                    user = Some(rest.to_owned());
                }
                "topic" | "pattern" => {
                    let (access, topic) = split_access(rest).map_err(err)?;
                    if topic.is_empty() {
                        return Err(err(format!("`{keyword}` needs a topic")));
                    }
                    let scope = match (keyword, &user) {
                        ("pattern", _) => Scope::Pattern,
                        (_, Some(name)) => Scope::User(name.clone()),
                        (_, None) => Scope::Anonymous,
                    };
                    rules.push(scope, access, topic);
                }
                other => return Err(err(format!("unknown keyword `{other}`"))),
            }
        }
        Ok(rules)
    }

    /// Prints the rules as a Mosquitto `acl_file`: anonymous lines first, then patterns, then
    /// one block per user, each in the order the rules were added.
    pub fn to_mosquitto(&self) -> String {
        let mut out = String::new();
        let lines = |out: &mut String, keyword: &str, pick: &dyn Fn(&Scope) -> bool| {
            for rule in self.rules.iter().filter(|r| pick(&r.scope)) {
                out.push_str(&format!(
                    "{keyword} {} {}\n",
                    rule.access.keyword(),
                    rule.topic
                ));
            }
        };
        lines(&mut out, "topic", &|s| *s == Scope::Anonymous);
        lines(&mut out, "pattern", &|s| *s == Scope::Pattern);
        let mut users: Vec<&str> = Vec::new();
        for rule in &self.rules {
            if let Scope::User(name) = &rule.scope {
                if !users.contains(&name.as_str()) {
                    users.push(name);
                }
            }
        }
        for name in users {
            out.push_str(&format!("\nuser {name}\n"));
            lines(
                &mut out,
                "topic",
                &|s| matches!(s, Scope::User(n) if n == name),
            );
        }
        out
    }

    /// May this client publish (or leave a will) on `topic`?
    pub fn allows_publish(&self, username: Option<&str>, client_id: &str, topic: &str) -> bool {
        self.applicable(username, client_id)
            .any(|(access, pattern)| access.grants_write() && topic_matches(&pattern, topic))
    }

    /// May this client subscribe to `filter`? Like Mosquitto, the whole filter must lie inside
    /// one readable pattern; a shared subscription (`$share/<group>/<filter>`) is judged by its
    /// filter.
    pub fn allows_subscribe(&self, username: Option<&str>, client_id: &str, filter: &str) -> bool {
        let filter = strip_share(filter);
        self.applicable(username, client_id)
            .any(|(access, pattern)| access.grants_read() && filter_within(filter, &pattern))
    }

    /// The (access, expanded topic) pairs that apply to one client.
    fn applicable<'a>(
        &'a self,
        username: Option<&'a str>,
        client_id: &'a str,
    ) -> impl Iterator<Item = (Access, String)> + 'a {
        self.rules.iter().filter_map(move |rule| {
            let applies = match &rule.scope {
                Scope::Anonymous => username.is_none(),
                Scope::User(name) => username == Some(name.as_str()),
                Scope::Pattern => true,
            };
            if !applies {
                return None;
            }
            if rule.scope != Scope::Pattern {
                return Some((rule.access, rule.topic.clone()));
            }
            expand(&rule.topic, username, client_id).map(|topic| (rule.access, topic))
        })
    }
}

impl fmt::Display for AclRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_mosquitto())
    }
}

/// Splits `[read|write|readwrite] <topic>`; Mosquitto defaults to readwrite.
fn split_access(rest: &str) -> Result<(Access, &str), String> {
    let (first, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let access = match first {
        "read" => Access::Read,
        "write" => Access::Write,
        "readwrite" => Access::ReadWrite,
        "deny" => {
            return Err("`deny` rules are not supported; grant only what is needed".into());
        }
        _ => return Ok((Access::ReadWrite, rest)),
    };
    Ok((access, tail.trim()))
}

/// Substitutes `%c` and `%u`. Like Mosquitto, a name containing `+`, `#` or `/` never matches,
/// so a client id cannot widen its own pattern; a missing username never matches `%u`.
fn expand(pattern: &str, username: Option<&str>, client_id: &str) -> Option<String> {
    let unsafe_name = |name: &str| name.contains(['+', '#', '/']);
    let mut out = pattern.to_owned();
    if out.contains("%c") {
        if unsafe_name(client_id) {
            return None;
        }
        out = out.replace("%c", client_id);
    }
    if out.contains("%u") {
        let name = username.filter(|n| !unsafe_name(n))?;
        out = out.replace("%u", name);
    }
    Some(out)
}

fn strip_share(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, f)| f)
}

/// MQTT topic matching of a concrete `topic` against a `filter`. A leading wildcard does not
/// match a `$` topic (MQTT 3.1.1 §4.7.2).
pub(crate) fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Is every topic matched by `filter` also matched by `pattern`? (Mosquitto's
/// `mosquitto_sub_matches_acl`.)
fn filter_within(filter: &str, pattern: &str) -> bool {
    if filter.starts_with('$') && (pattern.starts_with('+') || pattern.starts_with('#')) {
        return false;
    }
    let mut p = pattern.split('/');
    let mut f = filter.split('/');
    loop {
        match (p.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(fl)) if fl != "#" => {}
            (Some(pl), Some(fl)) if pl == fl && fl != "+" && fl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment
topic read public/#
pattern readwrite sync/%c
pattern read users/%u/inbox

user alice
topic write a/+/b
topic c/#
";

    #[test]
    fn parse_reads_every_kind_of_line_and_prints_it_back() {
        let rules = AclRules::parse(SAMPLE).unwrap();
        assert_eq!(rules.rules().len(), 5);
        assert_eq!(rules.rules()[0].scope, Scope::Anonymous);
        assert_eq!(rules.rules()[1].scope, Scope::Pattern);
        assert_eq!(rules.rules()[3].scope, Scope::User("alice".into()));
        assert_eq!(rules.rules()[4].access, Access::ReadWrite);
        let printed = rules.to_mosquitto();
        assert_eq!(AclRules::parse(&printed).unwrap(), rules, "{printed}");
    }

    #[test]
    fn parse_refuses_what_it_does_not_understand() {
        for (text, line) in [
            ("topic deny a/b", 1),
            ("\n\nusr alice", 3),
            ("user", 1),
            ("topic read", 1),
            ("pattern", 1),
        ] {
            assert_eq!(AclRules::parse(text).unwrap_err().line, line, "{text}");
        }
    }

    #[test]
    fn publish_rules() {
        let rules = AclRules::parse(SAMPLE).unwrap();
        let cases = [
            (Some("alice"), "c1", "a/x/b", true),
            (Some("alice"), "c1", "a/x/y/b", false),
            (Some("alice"), "c1", "c/d/e", true),
            (Some("alice"), "c1", "c", true),
            (Some("alice"), "c1", "sync/c1", true),
            (Some("alice"), "c1", "sync/c2", false),
            (Some("alice"), "c1", "public/x", false),
            (None, "c1", "public/x", false),
            (Some("bob"), "c1", "a/x/b", false),
            (Some("bob"), "c1", "sync/c1", true),
            (Some("bob"), "c/1", "sync/c/1", false),
            (Some("bob"), "#", "sync/#", false),
        ];
        for (user, client, topic, allowed) in cases {
            assert_eq!(
                rules.allows_publish(user, client, topic),
                allowed,
                "{user:?} {client} {topic}"
            );
        }
    }

    #[test]
    fn subscribe_rules() {
        let rules = AclRules::parse(SAMPLE).unwrap();
        let cases = [
            (None, "c1", "public/#", true),
            (None, "c1", "public/+/x", true),
            (None, "c1", "#", false),
            (None, "c1", "+/x", false),
            (Some("alice"), "c1", "public/x", false),
            (Some("alice"), "c1", "users/alice/inbox", true),
            (Some("alice"), "c1", "users/+/inbox", false),
            (Some("alice"), "c1", "users/bob/inbox", false),
            (Some("alice"), "c1", "c/#", true),
            (Some("alice"), "c1", "$share/g/c/x", true),
            (Some("alice"), "c1", "a/x/b", false),
            (None, "c1", "users/%u/inbox", false),
            (Some("u+"), "c1", "users/u+/inbox", false),
        ];
        for (user, client, filter, allowed) in cases {
            assert_eq!(
                rules.allows_subscribe(user, client, filter),
                allowed,
                "{user:?} {client} {filter}"
            );
        }
    }

    #[test]
    fn topic_matching_follows_mqtt() {
        for (filter, topic, matches) in [
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/+", "a/b", true),
            ("a/+", "a/b/c", false),
            ("+/x", "$SYS/x", false),
            ("#", "$SYS/x", false),
            ("a/b", "a/b", true),
            ("a/b", "a/b/", false),
        ] {
            assert_eq!(topic_matches(filter, topic), matches, "{filter} {topic}");
        }
    }
}
