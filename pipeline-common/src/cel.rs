//! CEL expressions (the Common Expression Language, with the `cel` crate): a broker source's
//! `filter.cel` and the `filter` stage's `drop_if.cel`.
//!
//! An expression is compiled once, when its definition is built, and evaluated per event. Its
//! cost is bounded three ways, since CEL has no loops but comprehensions (`all`, `exists`,
//! `exists_one`, `map`, `filter`) run over lists the event supplies:
//! - the source is at most [`MAX_CEL_BYTES`] and nests at most [`MAX_CEL_DEPTH`] levels (the
//!   parser's and the evaluator's recursion);
//! - a comprehension may not run inside another one's body, so one evaluation is linear in the
//!   size of the event times the size of the expression;
//! - `matches` is not offered (the crate compiles its regex on every call).
//!
//! A variable that is missing, a field that is absent or a type mismatch is an evaluation error,
//! which the callers treat as "no match".

use crate::doc::{Fields, Object, Texts, Value};
use cel::common::ast::{EntryExpr, Expr};
use cel::{Context, Env, IdedExpr, Program};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Longest accepted expression, in bytes.
pub const MAX_CEL_BYTES: usize = 2048;
/// Deepest accepted nesting of an expression.
pub const MAX_CEL_DEPTH: u16 = 32;

/// The environment every expression compiles and runs in: CEL's standard library, without the
/// optional features of the crate (see the module documentation).
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib()))
}

/// Why a CEL source does not compile, with where (1-based line and column) when the parser says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", position.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default())]
pub struct CelCompileError {
    /// Line and column of the error, when known.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub message: String,
}

impl CelCompileError {
    fn plain(message: impl Into<String>) -> Self {
        CelCompileError {
            position: None,
            message: message.into(),
        }
    }
}

/// A compiled CEL expression that yields a boolean. Equal when the sources are equal.
#[derive(Clone)]
pub struct CelExpression {
    source: Arc<str>,
    program: Arc<Program>,
    /// The identifiers it reads, so an evaluation binds only those.
    variables: Arc<[String]>,
}

impl fmt::Debug for CelExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CelExpression").field(&self.source).finish()
    }
}

impl PartialEq for CelExpression {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}
impl Eq for CelExpression {}

impl CelExpression {
    /// Compiles `source` within the limits of the module documentation.
    pub fn compile(source: &str) -> Result<CelExpression, CelCompileError> {
        if source.trim().is_empty() {
            return Err(CelCompileError::plain("must not be empty"));
        }
        if source.len() > MAX_CEL_BYTES {
            return Err(CelCompileError::plain(format!(
                "at most {MAX_CEL_BYTES} bytes"
            )));
        }
        let program = on_compile_stack(|| compile_checked(source))??;
        let variables = program
            .references()
            .variables()
            .into_iter()
            .map(str::to_owned)
            .collect();
        Ok(CelExpression {
            source: Arc::from(source),
            program: Arc::new(program),
            variables,
        })
    }

    /// The source as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the expression reads variable `name`.
    pub fn reads(&self, name: &str) -> bool {
        self.variables.iter().any(|v| v == name)
    }

    /// The identifiers the expression reads (comprehension variables included).
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates the expression with `attributes` (CloudEvents attributes by name; a dotted
    /// name such as `customer.tier` reads as `customer.tier` in CEL too) and `data` bound.
    /// `Err` says why it gave no boolean.
    pub fn evaluate(&self, attributes: &[(&str, &str)], data: &Fields) -> Result<bool, String> {
        let mut context = Context::with_env(Arc::clone(env()));
        bind_attributes(&mut context, attributes, |name| self.reads(name));
        if self.reads("data") {
            context.add_variable_from_value("data", data_value(data));
        }
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!(
                "the expression gave {:?}, not a boolean",
                other.type_of()
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The event's data as a CEL value: the one place that reads the document model for CEL.
/// Integers that fit become `int` (so `data.n + 1` and `data.n > 1000` need no conversion),
/// other numbers `double`, as CEL reads JSON.
fn data_value(data: &Fields) -> cel::Value {
    fn convert(v: &Value, texts: &Texts) -> cel::Value {
        match v {
            Value::Null => cel::Value::Null,
            Value::Bool(b) => cel::Value::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => cel::Value::Int(i),
                None => n
                    .as_u64()
                    .map(cel::Value::UInt)
                    .unwrap_or_else(|| cel::Value::Float(n.as_f64().unwrap_or(f64::NAN))),
            },
            Value::String(t) => cel::Value::String(Arc::new(texts.get(*t).to_owned())),
            Value::Array(items) => {
                cel::Value::List(Arc::new(items.iter().map(|x| convert(x, texts)).collect()))
            }
            Value::Object(o) => object(o, texts),
        }
    }
    fn object(o: &Object, texts: &Texts) -> cel::Value {
        let map: std::collections::HashMap<cel::objects::Key, cel::Value> = o
            .members()
            .iter()
            .map(|(k, v)| {
                let key = cel::objects::Key::String(Arc::new(texts.get(*k).to_owned()));
                (key, convert(v, texts))
            })
            .collect();
        cel::Value::Map(cel::objects::Map { map: Arc::new(map) })
    }
    object(&data.root, &data.texts)
}

/// Binds the attributes the expression reads; `a.b` becomes variable `a`, a map holding `b`.
fn bind_attributes(
    context: &mut Context<'_, '_>,
    attributes: &[(&str, &str)],
    reads: impl Fn(&str) -> bool,
) {
    let mut nested: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for (name, value) in attributes {
        match name.split_once('.') {
            None if reads(name) => context.add_variable_from_value(*name, *value),
            None => {}
            Some((root, rest)) if reads(root) => {
                match nested.iter_mut().find(|(r, _)| r == &root) {
                    Some((_, members)) => members.push((rest, value)),
                    None => nested.push((root, vec![(rest, value)])),
                }
            }
            Some(_) => {}
        }
    }
    for (root, members) in nested {
        let map: std::collections::HashMap<String, String> = members
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        context.add_variable_from_value(root, map);
    }
}

/// The crate's parser recurses deeply per nesting level (an unoptimized build needs several
/// MiB for [`MAX_CEL_DEPTH`] levels), more than an async runtime's threads have; compiling runs on
/// a thread of its own with this stack.
const COMPILE_STACK_BYTES: usize = 32 << 20;

fn on_compile_stack<T: Send>(work: impl FnOnce() -> T + Send) -> Result<T, CelCompileError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("cel-compile".into())
            .stack_size(COMPILE_STACK_BYTES)
            .spawn_scoped(scope, work)
            .map_err(|e| CelCompileError::plain(format!("cannot start the compiler: {e}")))?
            .join()
            .map_err(|_| CelCompileError::plain("the compiler failed on this expression"))
    })
}

/// Parses with the depth limit, compiles as the environment compiles (macros expanded), and
/// checks the shape of the result.
fn compile_checked(source: &str) -> Result<Program, CelCompileError> {
    let env = env();
    env.parser()
        .max_recursion_depth(MAX_CEL_DEPTH)
        .parse(source)
        .map_err(first_error)?;
    let program = env.compile(source).map_err(first_error)?;
    check_shape(program.expression()).map_err(CelCompileError::plain)?;
    Ok(program)
}

fn first_error(errors: cel::ParseErrors) -> CelCompileError {
    match errors.errors.into_iter().next() {
        Some(e) => CelCompileError {
            position: (e.pos.0 > 0 && e.pos.1 > 0).then_some((e.pos.0 as usize, e.pos.1 as usize)),
            message: e.msg,
        },
        None => CelCompileError::plain("does not compile"),
    }
}

/// Refuses a tree deeper than [`MAX_CEL_DEPTH`] (evaluation recurses once per level, on the
/// caller's stack) and a comprehension inside another one's loop body or condition.
fn check_shape(root: &IdedExpr) -> Result<(), String> {
    // (expression, its depth, whether it runs once per element of an enclosing comprehension)
    let mut stack: Vec<(&IdedExpr, u16, bool)> = vec![(root, 1, false)];
    while let Some((node, depth, in_body)) = stack.pop() {
        if depth > MAX_CEL_DEPTH {
            return Err(format!(
                "nests deeper than {MAX_CEL_DEPTH} levels; split long chains of operators"
            ));
        }
        let d = depth + 1;
        match &node.expr {
            Expr::Comprehension(c) => {
                if in_body {
                    return Err(
                        "a comprehension (all, exists, exists_one, map, filter) may not \
                                run inside another one's body"
                            .into(),
                    );
                }
                stack.extend([
                    (&c.iter_range, d, false),
                    (&c.accu_init, d, false),
                    (&c.result, d, false),
                    (&c.loop_cond, d, true),
                    (&c.loop_step, d, true),
                ]);
            }
            Expr::Call(call) => {
                stack.extend(call.target.iter().map(|t| (t.as_ref(), d, in_body)));
                stack.extend(call.args.iter().map(|a| (a, d, in_body)));
            }
            Expr::List(list) => stack.extend(list.elements.iter().map(|e| (e, d, in_body))),
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        stack.push((&m.key, d, in_body));
                        stack.push((&m.value, d, in_body));
                    }
                }
            }
            Expr::Select(select) => stack.push((&select.operand, d, in_body)),
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        stack.push((&f.value, d, in_body));
                    }
                }
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: serde_json::Value) -> Fields {
        Fields::from_map(v.as_object().unwrap())
    }

    #[test]
    fn evaluates_attributes_and_data() {
        let e = CelExpression::compile(
            "type == 'order.created' && customer.tier == 'premium' && data.amount > 1000",
        )
        .unwrap();
        let attrs = [
            ("type", "order.created"),
            ("customer.tier", "premium"),
            ("id", "1"),
        ];
        assert_eq!(
            e.evaluate(&attrs, &data(json!({"amount": 1500.5}))),
            Ok(true)
        );
        assert_eq!(e.evaluate(&attrs, &data(json!({"amount": 10}))), Ok(false));
        let missing = e.evaluate(&attrs, &data(json!({})));
        assert!(missing.unwrap_err().contains("amount"));
        let no_attr = e.evaluate(&[("type", "order.created")], &data(json!({"amount": 2000})));
        assert!(no_attr.is_err());
        let number = CelExpression::compile("data.amount").unwrap();
        assert!(number
            .evaluate(&[], &data(json!({"amount": 1})))
            .unwrap_err()
            .contains("not a boolean"));
    }

    #[test]
    fn compile_errors_carry_their_position() {
        let err = CelExpression::compile("data.amount >").unwrap_err();
        assert_eq!(err.position, Some((1, 14)), "{err}");
        assert!(err.to_string().starts_with("line 1, column 14: "), "{err}");
        let err = CelExpression::compile("true &&\n  (1 <").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(2), "{err}");
    }

    #[test]
    fn cost_is_bounded() {
        assert!(CelExpression::compile("").is_err());
        assert!(CelExpression::compile(&"1 + ".repeat(600)).is_err());
        let deep = format!("{}true{}", "(".repeat(40), ")".repeat(40));
        assert!(CelExpression::compile(&deep).is_err());
        let long_sum = format!("data.n{} > 0", " + 1".repeat(40));
        assert!(CelExpression::compile(&long_sum)
            .unwrap_err()
            .message
            .contains("deeper"));
        // Logical chains are balanced by the parser: forty alternatives are fine.
        let any_of = (0..40)
            .map(|i| format!("data.n == {i}"))
            .collect::<Vec<_>>()
            .join(" || ");
        let any_of = CelExpression::compile(&any_of).unwrap();
        assert_eq!(any_of.evaluate(&[], &data(json!({"n": 39}))), Ok(true));
        let nested = CelExpression::compile("data.a.all(x, data.a.exists(y, x == y))").unwrap_err();
        assert!(nested.message.contains("comprehension"), "{nested}");
        // Side by side (one after another) is linear, so it is fine.
        let sequential = CelExpression::compile("data.a.map(x, x + 1).all(y, y > 1)").unwrap();
        assert_eq!(
            sequential.evaluate(&[], &data(json!({"a": [1, 2]}))),
            Ok(true)
        );
        assert!(CelExpression::compile("data.s.matches('a+')")
            .unwrap()
            .evaluate(&[], &data(json!({"s": "aa"})))
            .is_err());
    }

    #[test]
    fn equal_by_source() {
        let a = CelExpression::compile("true").unwrap();
        assert_eq!(a, CelExpression::compile("true").unwrap());
        assert_ne!(a, CelExpression::compile("false").unwrap());
        assert_eq!(a.as_str(), "true");
    }
}
