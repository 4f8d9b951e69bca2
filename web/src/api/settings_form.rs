//! A plugin's settings as a form generated from the JSON schema in its manifest: a field per
//! property (text, number, whole number, checkbox, choice), the properties of an object one
//! level down grouped, and a JSON text area for anything else. Posted back, the fields are
//! assembled into the settings object, which the plugin's schema then checks on the server.

use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use {
    crate::error::UiError,
    komander_app::AppError,
    serde_json::{Map, Value},
    std::collections::BTreeMap,
};

/// How a setting is entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SettingKind {
    /// Text.
    String,
    /// A number.
    Number,
    /// A whole number.
    Integer,
    /// A checkbox.
    Boolean,
    /// One of the schema's values.
    Enum,
    /// JSON text: what the form does not model. At the root (pointer `""`) an object merged
    /// into the settings: every setting, or those the schema does not name.
    Json,
}

/// One field of the form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingField {
    /// Where the value goes in the settings: a JSON pointer such as `/db/host`.
    pub pointer: String,
    /// The label: the schema's `title`, or the property's name.
    pub label: String,
    /// The schema's `description`.
    pub hint: String,
    /// How it is entered.
    pub kind: SettingKind,
    /// For a choice: each value as JSON text, and its label.
    pub choices: Vec<(String, String)>,
    /// The schema requires it.
    pub required: bool,
    /// The current value as the field shows it (`true` for a checked box, JSON text for a
    /// choice or JSON).
    pub value: String,
}

/// Fields shown together: the top-level ones, or an object's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettingGroup {
    /// The object's label; `None` for the top level.
    pub legend: Option<String>,
    /// The object's description.
    pub hint: String,
    /// Its fields.
    pub fields: Vec<SettingField>,
}

/// The form's layout as its hidden field carries it: each field's pointer and kind, in the
/// order of the fields `values[f0]`, `values[f1]`…
pub type Layout = Vec<(String, SettingKind)>;

/// The layout of `groups`.
pub fn layout(groups: &[SettingGroup]) -> Layout {
    groups
        .iter()
        .flat_map(|g| &g.fields)
        .map(|f| (f.pointer.clone(), f.kind))
        .collect()
}

/// The form for settings `current` under `schema` (none: any object, as JSON).
#[cfg(feature = "ssr")]
pub fn settings_form(schema: Option<&Value>, current: &Map<String, Value>) -> Vec<SettingGroup> {
    let Some(properties) = schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    else {
        return vec![SettingGroup {
            legend: None,
            hint: String::new(),
            fields: vec![json_field(
                "",
                "Settings (JSON object)",
                &Value::Object(current.clone()),
            )],
        }];
    };
    let schema = schema.unwrap_or(&Value::Null);
    let mut top = Vec::new();
    let mut groups = Vec::new();
    for (name, property) in properties {
        let pointer = format!("/{}", escape(name));
        let value = current.get(name);
        match object_properties(property) {
            Some(inner) => {
                let nested = value.and_then(Value::as_object);
                let fields = inner
                    .iter()
                    .map(|(inner_name, inner_property)| {
                        field(
                            format!("{pointer}/{}", escape(inner_name)),
                            inner_name,
                            inner_property,
                            required(property, inner_name),
                            nested.and_then(|n| n.get(inner_name)),
                        )
                    })
                    .collect();
                groups.push(SettingGroup {
                    legend: Some(label(name, property)),
                    hint: text(property, "description"),
                    fields,
                });
            }
            None => top.push(field(
                pointer,
                name,
                property,
                required(schema, name),
                value,
            )),
        }
    }
    // Settings the schema does not name are kept, as JSON.
    let others: Map<String, Value> = current
        .iter()
        .filter(|(k, _)| !properties.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !others.is_empty() {
        top.push(json_field(
            "",
            "Other settings (JSON object)",
            &Value::Object(others),
        ));
    }
    std::iter::once(SettingGroup {
        legend: None,
        hint: String::new(),
        fields: top,
    })
    .chain(groups)
    .collect()
}

/// The properties of an object property with some, modelled one level down.
#[cfg(feature = "ssr")]
fn object_properties(property: &Value) -> Option<&Map<String, Value>> {
    (property.get("type").and_then(Value::as_str) == Some("object"))
        .then(|| property.get("properties").and_then(Value::as_object))
        .flatten()
        .filter(|p| !p.is_empty())
}

/// A field for the property `name`.
#[cfg(feature = "ssr")]
fn field(
    pointer: String,
    name: &str,
    property: &Value,
    required: bool,
    value: Option<&Value>,
) -> SettingField {
    let kind = kind_of(property);
    let choices = match property.get("enum").and_then(Value::as_array) {
        Some(values) if kind == SettingKind::Enum => values
            .iter()
            .map(|v| {
                let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                (v.to_string(), shown)
            })
            .collect(),
        _ => Vec::new(),
    };
    let value = match (kind, value) {
        (_, None) => String::new(),
        (SettingKind::String, Some(Value::String(s))) => s.clone(),
        (SettingKind::Boolean, Some(v)) => {
            if v.as_bool() == Some(true) {
                "true".to_owned()
            } else {
                String::new()
            }
        }
        (SettingKind::Json, Some(v)) => serde_json::to_string_pretty(v).unwrap_or_default(),
        (_, Some(v)) => v.to_string(),
    };
    SettingField {
        pointer,
        label: label(name, property),
        hint: text(property, "description"),
        kind,
        choices,
        required,
        value,
    }
}

/// A JSON text area at `pointer`.
#[cfg(feature = "ssr")]
fn json_field(pointer: &str, label: &str, value: &Value) -> SettingField {
    SettingField {
        pointer: pointer.to_owned(),
        label: label.to_owned(),
        hint: "JSON, checked on the server.".to_owned(),
        kind: SettingKind::Json,
        choices: Vec::new(),
        required: false,
        value: serde_json::to_string_pretty(value).unwrap_or_default(),
    }
}

/// How a property is entered.
#[cfg(feature = "ssr")]
fn kind_of(property: &Value) -> SettingKind {
    if property.get("enum").and_then(Value::as_array).is_some() {
        return SettingKind::Enum;
    }
    match property.get("type").and_then(Value::as_str) {
        Some("string") => SettingKind::String,
        Some("number") => SettingKind::Number,
        Some("integer") => SettingKind::Integer,
        Some("boolean") => SettingKind::Boolean,
        _ => SettingKind::Json,
    }
}

/// Whether `schema` requires its property `name`.
#[cfg(feature = "ssr")]
fn required(schema: &Value, name: &str) -> bool {
    schema
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|n| n.as_str() == Some(name)))
}

/// The schema's `title` of a property, else its name.
#[cfg(feature = "ssr")]
fn label(name: &str, property: &Value) -> String {
    let title = text(property, "title");
    if title.is_empty() {
        name.to_owned()
    } else {
        title
    }
}

/// A text keyword of a schema, or nothing.
#[cfg(feature = "ssr")]
fn text(schema: &Value, keyword: &str) -> String {
    schema
        .get(keyword)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A property name as a JSON pointer token.
#[cfg(feature = "ssr")]
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The settings the posted fields make: `values` holds each field's text by its name
/// (`f0`, `f1`… in the order of `layout`). An empty field is left out, an unchecked box is
/// `false`.
///
/// # Errors
/// Invalid input naming the field (`values[fN]`) and the setting, for a value that is not of
/// its kind.
#[cfg(feature = "ssr")]
pub fn assemble(
    layout: &Layout,
    values: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, UiError> {
    let mut settings = Map::new();
    for (index, (pointer, kind)) in layout.iter().enumerate() {
        let key = format!("f{index}");
        let text = values.get(&key).map(String::as_str).unwrap_or_default();
        let field = format!("values[{key}]");
        let refuse = |what: String| -> UiError { AppError::invalid(&field, what).into() };
        let setting = if pointer.is_empty() {
            "the settings"
        } else {
            pointer
        };
        let value = match kind {
            SettingKind::Boolean => Value::Bool(text == "true"),
            _ if text.trim().is_empty() => continue,
            SettingKind::String => Value::String(text.to_owned()),
            SettingKind::Integer => Value::from(
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| refuse(format!("{setting}: {text:?} is not a whole number")))?,
            ),
            SettingKind::Number => text
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| refuse(format!("{setting}: {text:?} is not a number")))?,
            SettingKind::Enum | SettingKind::Json => serde_json::from_str(text)
                .map_err(|e| refuse(format!("{setting}: not JSON: {e}")))?,
        };
        if pointer.is_empty() {
            let Value::Object(object) = value else {
                return Err(refuse(format!("{setting}: not a JSON object")));
            };
            settings.extend(object);
        } else {
            insert(&mut settings, pointer, value).map_err(|e| refuse(format!("{setting}: {e}")))?;
        }
    }
    Ok(settings)
}

/// Puts `value` at `pointer` (one or two levels) in `settings`.
#[cfg(feature = "ssr")]
fn insert(settings: &mut Map<String, Value>, pointer: &str, value: Value) -> Result<(), String> {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    match tokens.as_slice() {
        [name] => {
            settings.insert(name.clone(), value);
        }
        [outer, inner] => {
            let object = settings
                .entry(outer.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            object
                .as_object_mut()
                .ok_or("another field set it to something else than an object")?
                .insert(inner.clone(), value);
        }
        _ => return Err(format!("no setting is at {pointer:?}")),
    }
    Ok(())
}

/// The problems of a schema's refusal (`…: /replicas: …; /region: …`) about the setting at
/// `pointer`.
pub fn problems_at(message: &str, pointer: &str) -> Vec<String> {
    let list = message
        .split_once("refuses them: ")
        .map_or(message, |(_, list)| list);
    let prefix = format!("{pointer}:");
    list.split("; ")
        .filter(|p| !pointer.is_empty() && p.starts_with(&prefix))
        .map(str::to_owned)
        .collect()
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["region"],
            "properties": {
                "region": {"enum": ["eu", "us"], "title": "Region"},
                "replicas": {"type": "integer", "description": "How many"},
                "ratio": {"type": "number"},
                "debug": {"type": "boolean"},
                "name": {"type": "string"},
                "tags": {"type": "array"},
                "db": {"type": "object", "required": ["host"], "properties": {
                    "host": {"type": "string"},
                    "port": {"type": "integer"},
                    "tls": {"type": "object", "properties": {"on": {"type": "boolean"}}}
                }}
            }
        })
    }

    #[test]
    fn each_kind_of_property_gets_its_field_and_an_object_one_level_down_its_group() {
        let current = json!({"region": "us", "debug": true, "db": {"port": 5432}, "extra": 1});
        let groups = settings_form(Some(&schema()), current.as_object().unwrap());
        assert_eq!(groups.len(), 2);
        let top = &groups[0].fields;
        let kinds: Vec<(&str, SettingKind)> =
            top.iter().map(|f| (f.pointer.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("/debug", SettingKind::Boolean),
                ("/name", SettingKind::String),
                ("/ratio", SettingKind::Number),
                ("/region", SettingKind::Enum),
                ("/replicas", SettingKind::Integer),
                ("/tags", SettingKind::Json),
                ("", SettingKind::Json),
            ]
        );
        let region = &top[3];
        assert_eq!(region.label, "Region");
        assert!(region.required);
        assert_eq!(region.value, "\"us\"");
        assert_eq!(region.choices[0], ("\"eu\"".to_owned(), "eu".to_owned()));
        assert_eq!(top[0].value, "true");
        assert_eq!(top[4].hint, "How many");
        assert!(top[6].value.contains("\"extra\": 1"));
        let db = &groups[1];
        assert_eq!(db.legend.as_deref(), Some("db"));
        let inner: Vec<(&str, SettingKind, bool)> = db
            .fields
            .iter()
            .map(|f| (f.pointer.as_str(), f.kind, f.required))
            .collect();
        assert_eq!(
            inner,
            [
                ("/db/host", SettingKind::String, true),
                ("/db/port", SettingKind::Integer, false),
                ("/db/tls", SettingKind::Json, false),
            ]
        );
        assert_eq!(db.fields[1].value, "5432");
    }

    #[test]
    fn without_a_schema_the_settings_are_one_json_object() {
        let current = json!({"a": 1});
        let groups = settings_form(None, current.as_object().unwrap());
        assert_eq!(groups[0].fields.len(), 1);
        assert_eq!(groups[0].fields[0].kind, SettingKind::Json);
        let values = BTreeMap::from([("f0".to_owned(), "{\"b\": [1]}".to_owned())]);
        let settings = assemble(&layout(&groups), &values).unwrap();
        assert_eq!(Value::Object(settings), json!({"b": [1]}));
    }

    #[test]
    fn posted_fields_assemble_into_settings_and_bad_values_name_their_field() {
        let groups = settings_form(Some(&schema()), &Map::new());
        let layout = layout(&groups);
        let at = |pointer: &str| {
            format!(
                "f{}",
                layout.iter().position(|(p, _)| p == pointer).unwrap()
            )
        };
        let mut values = BTreeMap::from([
            (at("/region"), "\"eu\"".to_owned()),
            (at("/replicas"), "3".to_owned()),
            (at("/ratio"), "0.5".to_owned()),
            (at("/name"), String::new()),
            (at("/tags"), "[\"a\"]".to_owned()),
            (at("/db/host"), "db.internal".to_owned()),
            (at("/db/tls"), "{\"on\": true}".to_owned()),
        ]);
        let settings = assemble(&layout, &values).unwrap();
        assert_eq!(
            Value::Object(settings),
            json!({"region": "eu", "replicas": 3, "ratio": 0.5, "debug": false,
                "tags": ["a"], "db": {"host": "db.internal", "tls": {"on": true}}})
        );
        values.insert(at("/replicas"), "two".to_owned());
        let error = assemble(&layout, &values).unwrap_err();
        assert_eq!(
            error.field(),
            Some(format!("values[{}]", at("/replicas")).as_str())
        );
        assert!(error.to_string().contains("/replicas"), "{error}");
    }

    #[test]
    fn a_schema_refusal_is_split_by_the_setting_it_is_about() {
        let message = "the plugin's config schema refuses them: /replicas: 0 is less than \
                       the minimum of 1; /region: \"mars\" is not one of [\"eu\",\"us\"]";
        assert_eq!(
            problems_at(message, "/replicas"),
            ["/replicas: 0 is less than the minimum of 1"]
        );
        assert!(problems_at(message, "/ratio").is_empty());
        assert!(problems_at(message, "").is_empty());
    }
}
