//! Validated stage configurations (DESIGN §5). The engine in [`crate::stages`] builds runtime stages
//! from these.

use super::reader::{type_name, Fields};
use super::{FieldPath, UserRegex, ValidationContext, ValidationErrors};
use serde_json::{json, Map, Value};

/// Most custom patterns, mask rules or listed fields one stage may hold.
pub const MAX_STAGE_LIST: usize = 64;

/// One validated stage of a pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageSpec {
    /// Parses a log line into `parsed`.
    Parse(ParseSpec),
    /// Looks an IP up in the MaxMind database.
    Geoip(GeoipSpec),
    /// Redacts PII.
    Mask(MaskSpec),
    /// Renames fields.
    Rename(RenameSpec),
    /// Drops matching events.
    Filter(FilterSpec),
    /// Sets the event hash (the document `_id`).
    Hash(HashSpec),
}

impl StageSpec {
    /// The stage type as written in the definition (`parse`, `geoip`, …); also the stage name in
    /// failures and dead-letter headers.
    pub fn kind(&self) -> &'static str {
        match self {
            StageSpec::Parse(_) => "parse",
            StageSpec::Geoip(_) => "geoip",
            StageSpec::Mask(_) => "mask",
            StageSpec::Rename(_) => "rename",
            StageSpec::Filter(_) => "filter",
            StageSpec::Hash(_) => "hash",
        }
    }

    /// The canonical REST form, every default spelled out.
    pub fn to_json(&self) -> Value {
        match self {
            StageSpec::Parse(s) => {
                let mut v = json!({
                    "type": "parse",
                    "field": s.field.as_str(),
                    "formats": s.formats.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
                    "onFailure": s.on_failure.as_str(),
                });
                if !s.patterns.is_empty() {
                    v["patterns"] = s
                        .patterns
                        .iter()
                        .map(|p| json!({"name": p.name, "regex": p.regex.as_str()}))
                        .collect();
                }
                v
            }
            StageSpec::Geoip(s) => json!({
                "type": "geoip", "field": s.field.as_str(), "target": s.target.as_str()
            }),
            StageSpec::Mask(s) => {
                let rules: Vec<Value> = s
                    .rules
                    .iter()
                    .map(|r| match r {
                        MaskRule::Custom(c) => json!({
                            "name": c.name, "regex": c.regex.as_str(), "replacement": c.replacement
                        }),
                        builtin => Value::String(builtin.name().to_owned()),
                    })
                    .collect();
                let mut v = json!({"type": "mask", "rules": rules, "ipv4": s.ipv4.as_str()});
                if let Some(salt) = &s.salt {
                    v["salt"] = Value::String(salt.clone());
                }
                if let Some(fields) = &s.fields {
                    v["fields"] = fields.iter().map(|f| f.as_str()).collect();
                }
                v
            }
            StageSpec::Rename(s) => {
                let fields: Map<String, Value> = s
                    .fields
                    .iter()
                    .map(|(from, to)| (from.as_str().to_owned(), Value::from(to.as_str())))
                    .collect();
                json!({"type": "rename", "fields": fields})
            }
            StageSpec::Filter(s) => {
                let mut cond = json!({"field": s.field.as_str()});
                match &s.condition {
                    FilterCondition::Eq(v) => cond["eq"] = v.clone(),
                    FilterCondition::In(vs) => cond["in"] = Value::Array(vs.clone()),
                    FilterCondition::Exists(b) => cond["exists"] = Value::Bool(*b),
                    FilterCondition::Regex(r) => cond["regex"] = Value::from(r.as_str()),
                }
                json!({"type": "filter", "drop_if": cond})
            }
            StageSpec::Hash(s) => {
                let mut v = json!({"type": "hash", "target": s.target.as_str()});
                if let Some(fields) = &s.fields {
                    v["fields"] = fields.iter().map(|f| f.as_str()).collect();
                }
                v
            }
        }
    }

    /// Validates one stage object found at `prefix` (e.g. `stages[2]`).
    pub(crate) fn parse(
        v: &Value,
        prefix: String,
        ctx: &ValidationContext,
        errs: &mut ValidationErrors,
    ) -> Option<StageSpec> {
        let f = Fields::object(v, prefix, errs)?;
        let kind = f.required_str("type", errs)?;
        let before = errs.errors().len();
        let spec = match kind {
            "parse" => ParseSpec::parse(&f, ctx, errs).map(StageSpec::Parse),
            "geoip" => {
                f.deny_unknown(&["type", "field", "target"], &[], errs);
                if !ctx.geoip_available {
                    errs.push(f.path("type"), "geoip.database is not configured");
                }
                let field = f
                    .field_path("field", errs)
                    .unwrap_or_else(|| FieldPath::known(DEFAULT_GEOIP_FIELD));
                let target = f
                    .field_path("target", errs)
                    .unwrap_or_else(|| FieldPath::known("geo"));
                Some(StageSpec::Geoip(GeoipSpec { field, target }))
            }
            "mask" => MaskSpec::parse(&f, ctx, errs).map(StageSpec::Mask),
            "rename" => {
                f.deny_unknown(&["type", "fields"], &[], errs);
                let fields = match f.get("fields") {
                    None => RenameSpec::default().fields,
                    Some(Value::Object(map)) if map.len() <= MAX_STAGE_LIST * 2 => {
                        let mut out = Vec::with_capacity(map.len());
                        for (from, to) in map {
                            let at = format!("{}.{from}", f.path("fields"));
                            let from = FieldPath::parse(from).map_err(|e| errs.push(&at, e));
                            let to = match to {
                                Value::String(s) => {
                                    FieldPath::parse(s).map_err(|e| errs.push(&at, e))
                                }
                                other => {
                                    errs.push(
                                        &at,
                                        format!("must be a string, not {}", type_name(other)),
                                    );
                                    Err(())
                                }
                            };
                            if let (Ok(from), Ok(to)) = (from, to) {
                                out.push((from, to));
                            }
                        }
                        out
                    }
                    Some(Value::Object(_)) => {
                        errs.push(f.path("fields"), "too many renames");
                        Vec::new()
                    }
                    Some(other) => {
                        errs.push(
                            f.path("fields"),
                            format!("must be an object, not {}", type_name(other)),
                        );
                        Vec::new()
                    }
                };
                Some(StageSpec::Rename(RenameSpec { fields }))
            }
            "filter" => FilterSpec::parse(&f, ctx, errs).map(StageSpec::Filter),
            "hash" => {
                f.deny_unknown(&["type", "target", "fields"], &[], errs);
                let target = f
                    .field_path("target", errs)
                    .unwrap_or_else(|| FieldPath::known("event_hash"));
                let fields = path_list(&f, "fields", errs);
                Some(StageSpec::Hash(HashSpec { target, fields }))
            }
            other => {
                errs.push(
                    f.path("type"),
                    format!(
                        "unknown stage type {other:?}; expected parse, geoip, mask, rename, filter or hash"
                    ),
                );
                None
            }
        };
        if errs.errors().len() > before {
            None
        } else {
            spec
        }
    }
}

/// A non-empty list of field paths, or `None` when absent.
fn path_list(f: &Fields<'_>, key: &str, errs: &mut ValidationErrors) -> Option<Vec<FieldPath>> {
    let items = f.array(key, MAX_STAGE_LIST, errs)?;
    if items.is_empty() {
        errs.push(f.path(key), "must not be empty when given");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (at, v) in items {
        match v.as_str().map(FieldPath::parse) {
            Some(Ok(p)) => out.push(p),
            Some(Err(e)) => errs.push(at, e),
            None => errs.push(at, "must be a string"),
        }
    }
    Some(out)
}

/// Where the default chain's geoip stage reads the client address: the nginx parser's output.
pub const DEFAULT_GEOIP_FIELD: &str = "parsed.client_ip";

/// A built-in log format of the `parse` stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// nginx/Apache combined log, or its common-log subset.
    Nginx,
    /// Syslog, RFC 5424 or RFC 3164.
    Syslog,
    /// A JSON object on one line.
    Json,
    /// `<ts> - <source> - <LEVEL> - <message>`.
    SimpleSplit,
}

impl LogFormat {
    /// Every built-in format, in the default order of attempts.
    pub const ALL: [LogFormat; 4] = [
        LogFormat::Nginx,
        LogFormat::Syslog,
        LogFormat::Json,
        LogFormat::SimpleSplit,
    ];

    /// The name used in definitions and in `parsed.format`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Syslog => "syslog",
            LogFormat::Json => "json",
            LogFormat::SimpleSplit => "simple_split",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        LogFormat::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What the parse stage does when no format matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Keep the event with `parsed.format = "unknown"`.
    #[default]
    Unknown,
    /// Fail the event at stage `parse` (it goes to the error topic).
    Error,
}

impl OnFailure {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Unknown => "unknown",
            OnFailure::Error => "error",
        }
    }
}

/// A custom parse pattern: a regex whose named groups become `parsed.<group>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPattern {
    /// Written to `parsed.format` when the pattern matches.
    pub name: String,
    /// The compiled regex.
    pub regex: UserRegex,
}

/// `parse` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSpec {
    /// The field holding the log line (default `log_message`).
    pub field: FieldPath,
    /// Built-in formats to try, in order (default: all).
    pub formats: Vec<LogFormat>,
    /// Custom patterns, tried before the built-in formats.
    pub patterns: Vec<NamedPattern>,
    /// What to do when nothing matches.
    pub on_failure: OnFailure,
}

impl Default for ParseSpec {
    fn default() -> Self {
        ParseSpec {
            field: FieldPath::known("log_message"),
            formats: LogFormat::ALL.to_vec(),
            patterns: Vec::new(),
            on_failure: OnFailure::Unknown,
        }
    }
}

fn valid_pattern_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

impl ParseSpec {
    fn parse(f: &Fields<'_>, ctx: &ValidationContext, errs: &mut ValidationErrors) -> Option<Self> {
        f.deny_unknown(
            &["type", "field", "formats", "patterns", "onFailure"],
            &[],
            errs,
        );
        let mut spec = ParseSpec::default();
        if let Some(p) = f.field_path("field", errs) {
            spec.field = p;
        }
        if let Some(items) = f.array("formats", MAX_STAGE_LIST, errs) {
            spec.formats.clear();
            for (at, v) in items {
                match v.as_str().map(|s| (s, LogFormat::from_name(s))) {
                    Some((_, Some(fmt))) if spec.formats.contains(&fmt) => {
                        errs.push(at, "listed twice")
                    }
                    Some((_, Some(fmt))) => spec.formats.push(fmt),
                    Some((s, None)) => errs.push(
                        at,
                        format!(
                            "unknown format {s:?}; expected nginx, syslog, json or simple_split"
                        ),
                    ),
                    None => errs.push(at, "must be a string"),
                }
            }
        }
        if let Some(items) = f.array("patterns", MAX_STAGE_LIST, errs) {
            for (at, v) in items {
                let Some(p) = Fields::object(v, at, errs) else {
                    continue;
                };
                p.deny_unknown(&["name", "regex"], &[], errs);
                let name = p.required_str("name", errs);
                if let Some(name) = name {
                    if !valid_pattern_name(name) || LogFormat::from_name(name).is_some() {
                        errs.push(
                            p.path("name"),
                            "must be 1-64 of [A-Za-z0-9_-] and not a built-in format name",
                        );
                    } else if spec.patterns.iter().any(|q| q.name == name) {
                        errs.push(p.path("name"), "listed twice");
                    }
                }
                let regex = p.required_str("regex", errs).and_then(|src| {
                    UserRegex::compile(src, ctx.regex_size_limit)
                        .and_then(|r| {
                            if r.regex().capture_names().flatten().next().is_none() {
                                Err("regex has no named group, e.g. (?P<message>.*)".to_owned())
                            } else {
                                Ok(r)
                            }
                        })
                        .map_err(|e| errs.push(p.path("regex"), e))
                        .ok()
                });
                if let (Some(name), Some(regex)) = (name, regex) {
                    spec.patterns.push(NamedPattern {
                        name: name.to_owned(),
                        regex,
                    });
                }
            }
        }
        if spec.formats.is_empty() && spec.patterns.is_empty() {
            errs.push(f.path("formats"), "no format and no pattern to try");
        }
        match f.str("onFailure", errs) {
            None => {}
            Some("unknown") => spec.on_failure = OnFailure::Unknown,
            Some("error") => spec.on_failure = OnFailure::Error,
            Some(_) => errs.push(f.path("onFailure"), "must be \"unknown\" or \"error\""),
        }
        Some(spec)
    }
}

/// `geoip` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoipSpec {
    /// The field holding the IP address (default `parsed.client_ip`).
    pub field: FieldPath,
    /// Where the result goes (default `geo`).
    pub target: FieldPath,
}

/// How the mask stage rewrites IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ipv4Mode {
    /// Keep the first octet: `192.168.1.9` → `192.x.x.x`.
    #[default]
    Partial,
    /// `[IPV4_REDACTED]`.
    Redact,
    /// `[IPV4_HASH:<12 hex>]`, a salted sha256 prefix, so equal addresses stay joinable.
    Hash,
}

impl Ipv4Mode {
    /// The name used in definitions.
    pub fn as_str(self) -> &'static str {
        match self {
            Ipv4Mode::Partial => "partial",
            Ipv4Mode::Redact => "redact",
            Ipv4Mode::Hash => "hash",
        }
    }
}

/// A custom mask rule: every match of `regex` becomes `replacement` (taken literally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomMaskRule {
    /// A name for the rule.
    pub name: String,
    /// What to redact.
    pub regex: UserRegex,
    /// The literal replacement text.
    pub replacement: String,
}

/// One rule of the mask stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MaskRule {
    /// Email addresses → `[EMAIL_REDACTED]`.
    Email,
    /// IPv4 addresses, as [`MaskSpec::ipv4`] says.
    Ipv4,
    /// IPv6 addresses → `[IPV6_REDACTED]`.
    Ipv6,
    /// Luhn-valid card numbers, 13–19 digits with optional spaces or dashes → `[CC_REDACTED]`.
    CreditCard,
    /// A user regex.
    Custom(CustomMaskRule),
}

impl MaskRule {
    /// The rule's name as written.
    pub fn name(&self) -> &str {
        match self {
            MaskRule::Email => "email",
            MaskRule::Ipv4 => "ipv4",
            MaskRule::Ipv6 => "ipv6",
            MaskRule::CreditCard => "credit_card",
            MaskRule::Custom(c) => &c.name,
        }
    }
}

/// `mask` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskSpec {
    /// The rules (default: email, ipv4, ipv6, credit_card). Built-in rules always run in the order
    /// ipv6, ipv4, credit_card, email (so that no rule's output feeds another); custom rules follow
    /// in the order listed.
    pub rules: Vec<MaskRule>,
    /// IPv4 treatment (default `partial`).
    pub ipv4: Ipv4Mode,
    /// Salt for `ipv4: hash`; required in that mode.
    pub salt: Option<String>,
    /// Only these subtrees are masked; `None` masks every string field (values and keys).
    pub fields: Option<Vec<FieldPath>>,
}

impl Default for MaskSpec {
    fn default() -> Self {
        MaskSpec {
            rules: vec![
                MaskRule::Email,
                MaskRule::Ipv4,
                MaskRule::Ipv6,
                MaskRule::CreditCard,
            ],
            ipv4: Ipv4Mode::Partial,
            salt: None,
            fields: None,
        }
    }
}

impl MaskSpec {
    fn parse(f: &Fields<'_>, ctx: &ValidationContext, errs: &mut ValidationErrors) -> Option<Self> {
        f.deny_unknown(&["type", "rules", "ipv4", "salt", "fields"], &[], errs);
        let mut spec = MaskSpec::default();
        if let Some(items) = f.array("rules", MAX_STAGE_LIST, errs) {
            spec.rules.clear();
            for (at, v) in items {
                let rule = match v {
                    Value::String(s) => match s.as_str() {
                        "email" => MaskRule::Email,
                        "ipv4" => MaskRule::Ipv4,
                        "ipv6" => MaskRule::Ipv6,
                        "credit_card" => MaskRule::CreditCard,
                        other => {
                            errs.push(at, format!("unknown rule {other:?}; expected email, ipv4, ipv6, credit_card or {{name, regex, replacement}}"));
                            continue;
                        }
                    },
                    Value::Object(_) => {
                        let Some(c) = Fields::object(v, at.clone(), errs) else {
                            continue;
                        };
                        c.deny_unknown(&["name", "regex", "replacement"], &[], errs);
                        let name = c.required_str("name", errs);
                        if name.is_some_and(|n| !valid_pattern_name(n)) {
                            errs.push(c.path("name"), "must be 1-64 of [A-Za-z0-9_-]");
                        }
                        let regex = c.required_str("regex", errs).and_then(|src| {
                            UserRegex::compile(src, ctx.regex_size_limit)
                                .and_then(|r| {
                                    if r.regex().is_match("") {
                                        Err("regex matches the empty string".to_owned())
                                    } else {
                                        Ok(r)
                                    }
                                })
                                .map_err(|e| errs.push(c.path("regex"), e))
                                .ok()
                        });
                        let replacement = c.str("replacement", errs).unwrap_or("[REDACTED]");
                        if replacement.len() > 256 {
                            errs.push(c.path("replacement"), "at most 256 bytes");
                        }
                        if replacement
                            .bytes()
                            .any(|b| b.is_ascii_digit() || b == b'@' || b == b':')
                        {
                            errs.push(
                                c.path("replacement"),
                                "must not contain digits, '@' or ':' (masking must stay idempotent)",
                            );
                        }
                        match (name, regex) {
                            (Some(name), Some(regex)) => MaskRule::Custom(CustomMaskRule {
                                name: name.to_owned(),
                                regex,
                                replacement: replacement.to_owned(),
                            }),
                            _ => continue,
                        }
                    }
                    other => {
                        errs.push(
                            at,
                            format!("must be a string or an object, not {}", type_name(other)),
                        );
                        continue;
                    }
                };
                if spec.rules.iter().any(|r| r.name() == rule.name()) {
                    errs.push(at, "listed twice");
                } else {
                    spec.rules.push(rule);
                }
            }
            if spec.rules.is_empty() {
                errs.push(f.path("rules"), "must not be empty");
            }
        }
        // A replacement that another custom rule would match again breaks idempotence.
        let customs: Vec<&CustomMaskRule> = spec
            .rules
            .iter()
            .filter_map(|r| match r {
                MaskRule::Custom(c) => Some(c),
                _ => None,
            })
            .collect();
        for (i, rule) in spec.rules.iter().enumerate() {
            let MaskRule::Custom(c) = rule else { continue };
            if let Some(other) = customs
                .iter()
                .find(|o| o.regex.regex().is_match(&c.replacement))
            {
                errs.push(
                    format!("{}[{i}].replacement", f.path("rules")),
                    format!(
                        "is matched by rule {:?}, so masking would not be idempotent",
                        other.name
                    ),
                );
            }
        }
        match f.str("ipv4", errs) {
            None => {}
            Some("partial") => spec.ipv4 = Ipv4Mode::Partial,
            Some("redact") => spec.ipv4 = Ipv4Mode::Redact,
            Some("hash") => spec.ipv4 = Ipv4Mode::Hash,
            Some(_) => errs.push(
                f.path("ipv4"),
                "must be \"partial\", \"redact\" or \"hash\"",
            ),
        }
        spec.salt = f.str("salt", errs).map(str::to_owned);
        if spec.ipv4 == Ipv4Mode::Hash && spec.rules.contains(&MaskRule::Ipv4) {
            match &spec.salt {
                None => errs.push(f.path("salt"), "is required when ipv4 is \"hash\""),
                Some(s) if s.len() < 8 => errs.push(f.path("salt"), "must be at least 8 bytes"),
                _ => {}
            }
        }
        spec.fields = path_list(f, "fields", errs);
        Some(spec)
    }
}

/// `rename` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameSpec {
    /// `(from, to)` pairs, applied in order; dotted paths address nested fields exactly.
    pub fields: Vec<(FieldPath, FieldPath)>,
}

impl Default for RenameSpec {
    /// The defaults of the replaced system (timestamp→event_timestamp, time→event_time,
    /// msg→message, lvl→level), applied both at the top level of the event and inside `parsed`,
    /// where the parse stage puts a log line's own fields.
    fn default() -> Self {
        const PAIRS: [(&str, &str); 8] = [
            ("lvl", "level"),
            ("msg", "message"),
            ("parsed.lvl", "parsed.level"),
            ("parsed.msg", "parsed.message"),
            ("parsed.time", "parsed.event_time"),
            ("parsed.timestamp", "parsed.event_timestamp"),
            ("time", "event_time"),
            ("timestamp", "event_timestamp"),
        ];
        RenameSpec {
            fields: PAIRS
                .iter()
                .map(|(a, b)| (FieldPath::known(a), FieldPath::known(b)))
                .collect(),
        }
    }
}

/// The condition of a `filter` stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterCondition {
    /// The field equals this JSON value.
    Eq(Value),
    /// The field equals one of these values.
    In(Vec<Value>),
    /// The field is present (`true`) or absent (`false`).
    Exists(bool),
    /// The field is a string (or number) matching this regex.
    Regex(UserRegex),
}

/// `filter` stage configuration: drop the event when `field` meets `condition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterSpec {
    /// The field tested.
    pub field: FieldPath,
    /// The test.
    pub condition: FilterCondition,
}

impl FilterSpec {
    fn parse(f: &Fields<'_>, ctx: &ValidationContext, errs: &mut ValidationErrors) -> Option<Self> {
        f.deny_unknown(&["type", "drop_if"], &[], errs);
        let Some(cond) = f.get("drop_if") else {
            errs.push(f.path("drop_if"), "is required");
            return None;
        };
        let c = Fields::object(cond, f.path("drop_if"), errs)?;
        c.deny_unknown(&["field", "eq", "in", "exists", "regex"], &[], errs);
        let field = if c.get("field").is_none() {
            errs.push(c.path("field"), "is required");
            None
        } else {
            c.field_path("field", errs)
        };
        let ops: Vec<&str> = ["eq", "in", "exists", "regex"]
            .into_iter()
            .filter(|k| c.obj.contains_key(*k))
            .collect();
        if ops.len() != 1 {
            errs.push(
                c.path("eq"),
                "exactly one of eq, in, exists, regex is required",
            );
            return None;
        }
        // `null` is the value of `eq`; for the other operators it names nothing to test.
        if ops[0] != "eq" && c.obj.get(ops[0]).is_some_and(Value::is_null) {
            errs.push(c.path(ops[0]), "must not be null");
            return None;
        }
        let condition = match ops[0] {
            "eq" => Some(FilterCondition::Eq(c.obj.get("eq")?.clone())),
            "in" => c
                .array("in", 1024, errs)
                .map(|vs| FilterCondition::In(vs.into_iter().map(|(_, v)| v.clone()).collect())),
            "exists" => match c.obj.get("exists") {
                Some(Value::Bool(b)) => Some(FilterCondition::Exists(*b)),
                _ => {
                    errs.push(c.path("exists"), "must be a boolean");
                    None
                }
            },
            _ => c.str("regex", errs).and_then(|src| {
                UserRegex::compile(src, ctx.regex_size_limit)
                    .map_err(|e| errs.push(c.path("regex"), e))
                    .ok()
                    .map(FilterCondition::Regex)
            }),
        };
        Some(FilterSpec {
            field: field?,
            condition: condition?,
        })
    }
}

/// `hash` stage configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashSpec {
    /// Where the hex digest goes (default `event_hash`).
    pub target: FieldPath,
    /// Hash only these fields of the event as received; `None` hashes the whole event.
    pub fields: Option<Vec<FieldPath>>,
}

impl Default for HashSpec {
    fn default() -> Self {
        HashSpec {
            target: FieldPath::known("event_hash"),
            fields: None,
        }
    }
}
