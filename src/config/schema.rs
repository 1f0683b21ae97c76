//! The JSON Schema of `.cimon.yml` (`schemas/policy.v1.json`), generated from
//! [`super::file`] and simplified so that errors point at the field that is wrong.

use super::file::ConfigFile;

/// The JSON Schema of `.cimon.yml` (`schemas/policy.v1.json`).
pub fn schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(ConfigFile)).unwrap_or_default();
    drop_null(&mut schema);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "$id".into(),
            "https://cimon.dev/schemas/policy.v1.json".into(),
        );
    }
    schema
}

/// Optional keys are simply optional: `anyOf [T, null]` becomes `T` and `["string", "null"]`
/// becomes `"string"`, so a schema error points at the field that is wrong, not its parent;
/// enums of documented constants become plain `enum`s, whose errors list the words.
fn drop_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    if let Value::Object(map) = v {
        if let Some(Value::Array(alts)) = map.get("anyOf") {
            let kept: Vec<Value> = alts
                .iter()
                .filter(|a| a.get("type") != Some(&Value::from("null")))
                .cloned()
                .collect();
            if kept.len() == 1 && alts.len() == 2 {
                map.remove("anyOf");
                if let Value::Object(inner) = &kept[0] {
                    for (k, val) in inner {
                        map.entry(k.clone()).or_insert(val.clone());
                    }
                }
            }
        }
        // `oneOf` of documented constants → `enum`, whose error lists the allowed words.
        if let Some(Value::Array(alts)) = map.get("oneOf") {
            let consts: Option<Vec<Value>> = alts.iter().map(|a| a.get("const").cloned()).collect();
            if let Some(words) = consts {
                map.remove("oneOf");
                map.insert("enum".into(), Value::Array(words));
            }
        }
        if let Some(Value::Array(types)) = map.get("type") {
            let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            if kept.len() == 1 {
                map.insert("type".into(), kept[0].clone());
            }
        }
        for child in map.values_mut() {
            drop_null(child);
        }
    } else if let Value::Array(items) = v {
        items.iter_mut().for_each(drop_null);
    }
}
