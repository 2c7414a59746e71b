//! JAAS configuration as Kafka reads it (`sasl.jaas.config` values and the sections of a JAAS
//! file): `LoginModule flag key="value" ...;`. Tokens are read as Kafka's JaasConfig reads them
//! with Java's StreamTokenizer: bare words, double-quoted strings with backslash escapes, `//` and
//! `/* */` comments.

use super::oauthbearer::ValidatorOptions;
use std::collections::{BTreeMap, HashMap};

/// One login module entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasEntry {
    /// The login module class (`org.apache.kafka.common.security.plain.PlainLoginModule`).
    pub login_module: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub flag: String,
    /// The options, in order of their names.
    pub options: BTreeMap<String, String>,
}

/// Why a JAAS text could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid JAAS configuration: {0}")]
pub struct JaasError(pub String);

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

fn tokens(text: &str) -> Result<Vec<Token>, JaasError> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                loop {
                    match chars.next() {
                        Some('/') if last == '*' => break,
                        Some(c) => last = c,
                        None => return Err(JaasError("unterminated comment".into())),
                    }
                }
            }
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(c) => s.push(c),
                            None => return Err(JaasError("unterminated quoted value".into())),
                        },
                        Some(c) => s.push(c),
                        None => return Err(JaasError("unterminated quoted value".into())),
                    }
                }
                out.push(Token::Quoted(s));
            }
            '=' | ';' | '{' | '}' => out.push(Token::Punct(c)),
            c => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '=' | ';' | '{' | '}' | '"') {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: std::vec::IntoIter<Token>,
    peeked: Option<Token>,
}

impl Parser {
    fn new(text: &str) -> Result<Parser, JaasError> {
        Ok(Parser { tokens: tokens(text)?.into_iter(), peeked: None })
    }
    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.tokens.next();
        }
        self.peeked.as_ref()
    }
    fn next(&mut self) -> Option<Token> {
        self.peek();
        self.peeked.take()
    }
    fn word(&mut self, what: &str) -> Result<String, JaasError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(JaasError(format!("expected {what}, found {other:?}"))),
        }
    }
    fn punct(&mut self, p: char) -> Result<(), JaasError> {
        match self.next() {
            Some(Token::Punct(c)) if c == p => Ok(()),
            other => Err(JaasError(format!("expected '{p}', found {other:?}"))),
        }
    }

    /// `LoginModule flag (key=value)* ;`
    fn entry(&mut self) -> Result<JaasEntry, JaasError> {
        let login_module = self.word("a login module class")?;
        let flag = self.word("a control flag")?;
        if !matches!(flag.to_ascii_lowercase().as_str(), "required" | "requisite" | "sufficient" | "optional") {
            return Err(JaasError(format!("{login_module}: invalid control flag {flag:?}")));
        }
        let mut options = BTreeMap::new();
        loop {
            match self.next() {
                Some(Token::Punct(';')) => break,
                Some(Token::Word(key)) => {
                    self.punct('=')?;
                    let value = match self.next() {
                        Some(Token::Word(v)) | Some(Token::Quoted(v)) => v,
                        other => return Err(JaasError(format!("{login_module}: option {key} has no value (found {other:?})"))),
                    };
                    options.insert(key, value);
                }
                other => return Err(JaasError(format!("{login_module}: expected an option or ';', found {other:?}"))),
            }
        }
        Ok(JaasEntry { login_module, flag: flag.to_ascii_lowercase(), options })
    }
}

/// Parses a `sasl.jaas.config` value: one or more entries, each ending in `;`.
pub fn parse_entries(text: &str) -> Result<Vec<JaasEntry>, JaasError> {
    let mut p = Parser::new(text)?;
    let mut entries = Vec::new();
    while p.peek().is_some() {
        entries.push(p.entry()?);
    }
    if entries.is_empty() {
        return Err(JaasError("no login module entry".into()));
    }
    Ok(entries)
}

/// Parses a JAAS file: `Context { entries };` sections, by context name.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, Vec<JaasEntry>>, JaasError> {
    let mut p = Parser::new(text)?;
    let mut sections = BTreeMap::new();
    while p.peek().is_some() {
        let name = p.word("a context name")?;
        p.punct('{')?;
        let mut entries = Vec::new();
        while p.peek() != Some(&Token::Punct('}')) {
            if p.peek().is_none() {
                return Err(JaasError(format!("section {name} is not closed")));
            }
            entries.push(p.entry()?);
        }
        p.punct('}')?;
        p.punct(';')?;
        sections.insert(name, entries);
    }
    Ok(sections)
}

/// The PLAIN users of `entries` (options `user_<name>="<password>"`).
pub fn plain_users(entries: &[JaasEntry]) -> HashMap<String, String> {
    entries
        .iter()
        .flat_map(|e| e.options.iter())
        .filter_map(|(k, v)| k.strip_prefix("user_").map(|u| (u.to_string(), v.clone())))
        .collect()
}

/// OAUTHBEARER's unsecured validator options of `entries`.
pub fn validator_options(entries: &[JaasEntry]) -> ValidatorOptions {
    let mut o = ValidatorOptions::default();
    for (k, v) in entries.iter().flat_map(|e| e.options.iter()) {
        match k.as_str() {
            "unsecuredValidatorPrincipalClaimName" if !v.trim().is_empty() => o.principal_claim = v.trim().to_string(),
            "unsecuredValidatorScopeClaimName" if !v.trim().is_empty() => o.scope_claim = v.trim().to_string(),
            "unsecuredValidatorRequiredScope" => o.required_scope = v.split_whitespace().map(str::to_string).collect(),
            "unsecuredValidatorAllowableClockSkewMs" => o.allowable_clock_skew_ms = v.trim().parse().unwrap_or(0).max(0),
            _ => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_jaas_config_values_parse_as_kafka_reads_them() {
        let e = parse_entries(r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a \"q\" b" user_admin="admin-secret" user_alice=alice;"#).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].login_module, "org.apache.kafka.common.security.plain.PlainLoginModule");
        assert_eq!(e[0].options["password"], "a \"q\" b");
        let users = plain_users(&e);
        assert_eq!((users.len(), users["alice"].as_str(), users["admin"].as_str()), (2, "alice", "admin-secret"));
        for bad in ["", "Module required a=\"b\"", "Module maybe;", "Module required a;", "Module required a=\"b;", "Module required a=;"] {
            assert!(parse_entries(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn jaas_files_have_sections() {
        let text = "// broker\nKafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n  user_bob=\"b\";\n  /* a second module */ org.apache.kafka.common.security.scram.ScramLoginModule required;\n};\nsasl_ssl.KafkaServer { x.Y optional; };\n";
        let f = parse_file(text).unwrap();
        assert_eq!(f["KafkaServer"].len(), 2);
        assert_eq!(plain_users(&f["KafkaServer"])["bob"], "b");
        assert_eq!(f["sasl_ssl.KafkaServer"][0].flag, "optional");
        assert!(parse_file("KafkaServer { x.Y required;").is_err());
        assert!(parse_file("KafkaServer { x.Y required; }").is_err());
    }

    #[test]
    fn unsecured_validator_options() {
        let e = parse_entries("org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredValidatorRequiredScope=\"a b\" unsecuredValidatorPrincipalClaimName=\"email\" unsecuredValidatorAllowableClockSkewMs=\"500\";").unwrap();
        let o = validator_options(&e);
        assert_eq!((o.required_scope, o.principal_claim.as_str(), o.scope_claim.as_str(), o.allowable_clock_skew_ms), (vec!["a".to_string(), "b".to_string()], "email", "scope", 500));
    }
}
