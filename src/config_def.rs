//! Kafka's `ConfigDef`: one typed row per config key (name, type, default, validator,
//! documentation, scope, whether it can change at run time), value parsing as Kafka parses each
//! type, and the `server.properties` syntax. A leaf: it imports nothing from the crate, so the
//! broker config (`config`), the log's topic config (`log::config`) and the APIs can all use it.

use std::collections::BTreeMap;

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value that does not parse as the key's type or fails its validator.
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `--config` file that cannot be read.
    #[error("cannot read config file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// A command-line argument that is not `--name value` or `--name=value`.
    #[error("bad argument {0:?} (see --help)")]
    Arg(String),
    /// A key no table defines.
    #[error("unknown config {0}")]
    Unknown(String),
}

/// Builds a [`ConfigError::Invalid`].
pub fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { key: key.into(), value: value.into(), reason: reason.into() }
}

/// Kafka's DescribeConfigs `config_type` codes (`DescribeConfigsResponse.ConfigType`).
pub mod config_type {
    /// No type known.
    pub const UNKNOWN: i8 = 0;
    /// `ConfigDef.Type.BOOLEAN`.
    pub const BOOLEAN: i8 = 1;
    /// `ConfigDef.Type.STRING`.
    pub const STRING: i8 = 2;
    /// `ConfigDef.Type.INT`.
    pub const INT: i8 = 3;
    /// `ConfigDef.Type.SHORT`.
    pub const SHORT: i8 = 4;
    /// `ConfigDef.Type.LONG`.
    pub const LONG: i8 = 5;
    /// `ConfigDef.Type.DOUBLE`.
    pub const DOUBLE: i8 = 6;
    /// `ConfigDef.Type.LIST`.
    pub const LIST: i8 = 7;
    /// `ConfigDef.Type.CLASS`.
    pub const CLASS: i8 = 8;
    /// `ConfigDef.Type.PASSWORD`.
    pub const PASSWORD: i8 = 9;
}

/// Kafka's DescribeConfigs `config_source` codes (`DescribeConfigsResponse.ConfigSource`).
pub mod config_source {
    /// Unknown source.
    pub const UNKNOWN: i8 = 0;
    /// A per-topic override (AlterConfigs, CreateTopics).
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    /// A per-broker dynamic config (Odradek has none).
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    /// A cluster-wide dynamic default (Odradek has none).
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    /// Set at start-up: properties file, environment, flag or `--override`.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// The key's built-in default.
    pub const DEFAULT_CONFIG: i8 = 5;
    /// A broker logger level.
    pub const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
}

/// A key's value type, as Kafka's `ConfigDef.Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `true` or `false`, any case.
    Boolean,
    /// Free text.
    String,
    /// A 32-bit signed integer.
    Int,
    /// A 64-bit signed integer.
    Long,
    /// A 64-bit float.
    Double,
    /// Comma-separated strings; the empty string is the empty list.
    List,
    /// A secret (never reported).
    Password,
    /// A Java class name (accepted as text).
    Class,
}

impl Type {
    /// The DescribeConfigs `config_type` code of this type.
    pub const fn code(self) -> i8 {
        match self {
            Type::Boolean => config_type::BOOLEAN,
            Type::String => config_type::STRING,
            Type::Int => config_type::INT,
            Type::Long => config_type::LONG,
            Type::Double => config_type::DOUBLE,
            Type::List => config_type::LIST,
            Type::Password => config_type::PASSWORD,
            Type::Class => config_type::CLASS,
        }
    }
}

/// Which resource a key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A broker key (Kafka's `KafkaConfig`).
    Broker,
    /// A topic key (Kafka's `LogConfig` / `TopicConfig`).
    Topic,
    /// A group key (Kafka's `GroupConfig`).
    Group,
}

/// A key's validator, as Kafka's `ConfigDef.Range`, `ValidString` and `ValidList`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validator {
    /// Any value of the type.
    Any,
    /// `Range.atLeast(min)` for INT and LONG.
    AtLeast(i64),
    /// `Range.between(min, max)` for INT and LONG.
    Between(i64, i64),
    /// `Range.between(min, max)` for DOUBLE.
    Ratio(f64, f64),
    /// `ValidString.in(..)`: exactly one of these.
    OneOf(&'static [&'static str]),
    /// `ValidList.in(..)`: every element one of these; the empty list is valid.
    ListOf(&'static [&'static str]),
}

/// One config key: Kafka's `ConfigDef.define(name, type, default, validator, importance, doc)`.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Kafka's name, e.g. `log.segment.bytes`.
    pub name: &'static str,
    /// The value type.
    pub ty: Type,
    /// Kafka's default as text; `None` is Kafka's `null` (unset).
    pub default: Option<&'static str>,
    /// What a value must satisfy.
    pub validator: Validator,
    /// One line for DescribeConfigs' `documentation` and the README.
    pub doc: &'static str,
    /// The resource the key belongs to.
    pub scope: Scope,
    /// Whether it can change while the broker runs (AlterConfigs); not read-only.
    pub dynamic: bool,
}

/// A parsed value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A BOOLEAN.
    Bool(bool),
    /// A STRING, PASSWORD or CLASS.
    Str(String),
    /// An INT.
    Int(i32),
    /// A LONG.
    Long(i64),
    /// A DOUBLE.
    Double(f64),
    /// A LIST.
    List(Vec<String>),
}

impl std::fmt::Display for Value {
    /// Kafka's `ConfigDef.convertToString`: lists joined by `,`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Long(l) => write!(f, "{l}"),
            Value::Double(d) => write!(f, "{d:?}"),
            Value::List(l) => f.write_str(&l.join(",")),
        }
    }
}

impl ConfigKey {
    /// Parses `raw` as this key's type and checks it against the validator.
    pub fn parse(&self, raw: &str) -> Result<Value, ConfigError> {
        let v = raw.trim();
        let value = match self.ty {
            Type::Boolean => Value::Bool(boolean(self.name, v)?),
            Type::String | Type::Password | Type::Class => Value::Str(v.to_string()),
            Type::Int => Value::Int(num(self.name, v)?),
            Type::Long => Value::Long(num(self.name, v)?),
            Type::Double => Value::Double(num(self.name, v)?),
            Type::List => Value::List(list(v)),
        };
        self.check(raw, &value)?;
        Ok(value)
    }

    /// The default, parsed; `None` when the key has no default.
    pub fn parsed_default(&self) -> Result<Option<Value>, ConfigError> {
        self.default.map(|d| self.parse(d)).transpose()
    }

    fn check(&self, raw: &str, value: &Value) -> Result<(), ConfigError> {
        let whole = match value {
            Value::Int(i) => Some(*i as i64),
            Value::Long(l) => Some(*l),
            _ => None,
        };
        let fail = |reason: String| Err(invalid(self.name, raw, reason));
        match (self.validator, whole, value) {
            (Validator::Any, _, _) => Ok(()),
            (Validator::AtLeast(min), Some(n), _) if n < min => fail(format!("must be at least {min}")),
            (Validator::Between(min, max), Some(n), _) if n < min || n > max => fail(format!("must be between {min} and {max}")),
            (Validator::Ratio(min, max), _, Value::Double(d)) if !(min..=max).contains(d) => fail(format!("must be between {min} and {max}")),
            (Validator::OneOf(valid), _, Value::Str(s)) if !valid.contains(&s.as_str()) => fail(format!("must be one of {}", valid.join(", "))),
            (Validator::ListOf(valid), _, Value::List(items)) => match items.iter().find(|i| !valid.contains(&i.as_str())) {
                Some(bad) => fail(format!("{bad:?} is not one of {}", valid.join(", "))),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }
}

/// The row named `name` in `table`.
pub fn find<'a>(table: &'a [ConfigKey], name: &str) -> Option<&'a ConfigKey> {
    table.iter().find(|k| k.name == name)
}

/// Parses a number, naming the key in the error (Kafka: "Not a number of type INT").
pub fn num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    v.trim().parse::<T>().map_err(|e| invalid(key, v, e.to_string()))
}

/// Parses a BOOLEAN as Kafka does: `true` or `false`, ignoring case.
pub fn boolean(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, v, "expected true or false")),
    }
}

/// Parses a LIST as Kafka does: split on commas, each item trimmed; `""` is the empty list.
pub fn list(v: &str) -> Vec<String> {
    let v = v.trim();
    if v.is_empty() {
        return Vec::new();
    }
    v.split(',').map(|s| s.trim().to_string()).collect()
}

/// Every key of `table` resolved over `raw` (raw value, else the default), parsed and validated.
#[derive(Debug, Clone)]
pub struct Values {
    values: BTreeMap<&'static str, Option<Value>>,
}

impl Values {
    /// Resolves and validates every row of `table`; keys in `raw` outside it are ignored here.
    pub fn parse<'a>(table: impl IntoIterator<Item = &'a ConfigKey>, raw: &BTreeMap<String, String>) -> Result<Values, ConfigError> {
        let mut values = BTreeMap::new();
        for key in table {
            let value = match raw.get(key.name) {
                // A key whose default is null treats an empty value as unset (KAFKA_LOG_RETENTION_MS= in a compose file).
                Some(v) if key.default.is_none() && v.trim().is_empty() => None,
                Some(v) => Some(key.parse(v)?),
                None => key.parsed_default()?,
            };
            values.insert(key.name, value);
        }
        Ok(Values { values })
    }

    /// The value of `name`, `None` when unset without a default.
    pub fn get(&self, name: &str) -> Result<Option<&Value>, ConfigError> {
        self.values.get(name).map(Option::as_ref).ok_or_else(|| ConfigError::Unknown(name.into()))
    }

    fn need(&self, name: &str) -> Result<&Value, ConfigError> {
        self.get(name)?.ok_or_else(|| invalid(name, "", "has no value and no default"))
    }

    /// An INT key's value.
    pub fn int(&self, name: &str) -> Result<i32, ConfigError> {
        match self.need(name)? {
            Value::Int(i) => Ok(*i),
            other => Err(wrong_type(name, other, "INT")),
        }
    }

    /// A LONG key's value (an INT widens).
    pub fn long(&self, name: &str) -> Result<i64, ConfigError> {
        match self.need(name)? {
            Value::Long(l) => Ok(*l),
            Value::Int(i) => Ok(*i as i64),
            other => Err(wrong_type(name, other, "LONG")),
        }
    }

    /// An INT or LONG key's value that must not be negative (a count, a size, an interval).
    pub fn unsigned(&self, name: &str) -> Result<u64, ConfigError> {
        let n = self.long(name)?;
        u64::try_from(n).map_err(|_| invalid(name, &n.to_string(), "must be at least 0"))
    }

    /// A BOOLEAN key's value.
    pub fn boolean(&self, name: &str) -> Result<bool, ConfigError> {
        match self.need(name)? {
            Value::Bool(b) => Ok(*b),
            other => Err(wrong_type(name, other, "BOOLEAN")),
        }
    }

    /// A STRING key's value; `None` when unset without a default.
    pub fn string(&self, name: &str) -> Result<Option<&str>, ConfigError> {
        match self.get(name)? {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(name, other, "STRING")),
        }
    }

    /// A DOUBLE key's value.
    pub fn double(&self, name: &str) -> Result<f64, ConfigError> {
        match self.need(name)? {
            Value::Double(d) => Ok(*d),
            other => Err(wrong_type(name, other, "DOUBLE")),
        }
    }

    /// A LIST key's value.
    pub fn list(&self, name: &str) -> Result<&[String], ConfigError> {
        match self.need(name)? {
            Value::List(l) => Ok(l),
            other => Err(wrong_type(name, other, "LIST")),
        }
    }
}

/// A typed read of a key of another type: a bug in a table, reported rather than panicking.
fn wrong_type(name: &str, v: &Value, want: &str) -> ConfigError {
    invalid(name, &v.to_string(), format!("is not read as {want}"))
}

/// `server.properties` syntax: `key=value` or `key: value`, `#`/`!` comments.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let i = l.find(['=', ':'])?;
            Some((l[..i].trim().to_string(), l[i + 1..].trim().to_string()))
        })
        .collect()
}

/// Renders rows of three cells as a Markdown table under `header`, for the README.
pub fn markdown_table(header: [&str; 3], rows: &[[String; 3]]) -> String {
    let mut out = format!("| {} | {} | {} |\n|---|---|---|\n", header[0], header[1], header[2]);
    for [a, b, c] in rows {
        out.push_str(&format!("| {a} | {b} | {c} |\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: ConfigKey = ConfigKey {
        name: "cleanup.policy",
        ty: Type::List,
        default: Some("delete"),
        validator: Validator::ListOf(&["compact", "delete"]),
        doc: "",
        scope: Scope::Topic,
        dynamic: true,
    };

    #[test]
    fn lists_parse_as_kafka_does() {
        assert_eq!(POLICY.parse("").unwrap(), Value::List(vec![]));
        assert_eq!(POLICY.parse(" compact , delete").unwrap().to_string(), "compact,delete");
        assert!(POLICY.parse("delete,").is_err(), "an empty element is not a valid policy");
        assert!(POLICY.parse("bogus").is_err());
    }

    #[test]
    fn ranges_and_types() {
        let k = ConfigKey { name: "n", ty: Type::Int, default: Some("1"), validator: Validator::AtLeast(1), doc: "", scope: Scope::Broker, dynamic: false };
        assert_eq!(k.parse(" 7 ").unwrap(), Value::Int(7));
        assert!(k.parse("0").is_err());
        assert!(k.parse("2147483648").is_err(), "an INT is 32-bit");
        let r = ConfigKey { ty: Type::Double, validator: Validator::Ratio(0.0, 1.0), ..k };
        assert!(r.parse("1.5").is_err());
        assert_eq!(r.parse("0.5").unwrap().to_string(), "0.5");
        assert_eq!(Type::List.code(), config_type::LIST);
    }

    #[test]
    fn values_resolve_defaults_and_nulls() {
        static T: &[ConfigKey] = &[
            ConfigKey { name: "a", ty: Type::Long, default: None, validator: Validator::Any, doc: "", scope: Scope::Broker, dynamic: false },
            ConfigKey { name: "b", ty: Type::Boolean, default: Some("true"), validator: Validator::Any, doc: "", scope: Scope::Broker, dynamic: false },
        ];
        let raw: BTreeMap<String, String> = [("a".to_string(), " ".to_string())].into();
        let v = Values::parse(T, &raw).unwrap();
        assert_eq!(v.get("a").unwrap(), None);
        assert!(v.boolean("b").unwrap());
        assert!(v.int("b").is_err());
        assert!(matches!(v.get("c"), Err(ConfigError::Unknown(_))));
    }
}
