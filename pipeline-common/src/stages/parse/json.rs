//! The `json` format: a line holding one JSON object, whose fields become `parsed`.

use super::{Parsed, TIME_KEYS};
use crate::doc::read::Reader;
use crate::doc::Value;
use crate::event::exceeds_depth;
use crate::time::parse_log_time;

/// One JSON object line, nested at most `max_depth` deep; `None` otherwise. `line` is the text
/// `reader` reads: the object's strings become spans of it.
pub(super) fn parse(reader: &mut Reader<'_>, line: &str, max_depth: usize) -> Option<Parsed> {
    let t = line.trim();
    if !(t.starts_with('{') && t.ends_with('}')) || exceeds_depth(t.as_bytes(), max_depth) {
        return None;
    }
    let mut object = reader.within(t);
    let Ok(Value::Object(mut m)) = object.read() else {
        return None;
    };
    let (k, v) = (object.owned("format"), object.owned("json"));
    m.insert_text(&object, k, Value::String(v));
    let time = TIME_KEYS.iter().find_map(|k| {
        let t = m.get(&object, k)?.as_text()?;
        parse_log_time(object.text_of(t))
    });
    Some((m, time))
}
