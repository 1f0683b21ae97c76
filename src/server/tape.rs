//! A flat, borrowed JSON document for schema validation on the ingest path.
//!
//! `serde_json::Value` costs a `BTreeMap` per object and a `String` per key and string: on a
//! 200-test report, building it took longer than the typed parse and the validation
//! together. [`Document`] is one `Vec` of [`Item`]s in document order (a container is
//! followed by its members and knows where its subtree ends); strings borrow from the
//! request body unless they contain escapes. [`Tape`] implements `jsonschema`'s
//! custom-representation traits on it, so the *same* validator code checks the *same*
//! schema — only the instance is stored differently.
//!
//! Equivalence with `Value`: the document is read by `serde_json`'s own parser through the
//! same visitor calls that build a `Value` (numbers are the same `serde_json::Number`s,
//! strings the same decoded text, the same recursion limit, trailing characters refused).
//! The one difference — an object with a repeated key, where `Value` keeps the last one —
//! is refused here, so the caller falls back to `Value`.

use std::borrow::Cow;
use std::fmt;

use jsonschema::json::{Array, Json, Node, NodeIdentity, Object};
use jsonschema::types::JsonType;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// One value of a [`Document`], or an object member's name.
#[derive(Debug, Clone, PartialEq)]
pub enum Item<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exactly as `serde_json::Value` holds it.
    Number(Number),
    /// A string (borrowed from the input unless it had escapes).
    String(Cow<'a, str>),
    /// An array of `len` elements; its subtree ends before index `end`.
    Array {
        /// Number of elements.
        len: u32,
        /// Index just past the last item of the subtree.
        end: u32,
    },
    /// An object of `len` members, each a [`Item::Key`] followed by its value; its subtree
    /// ends before index `end`.
    Object {
        /// Number of members.
        len: u32,
        /// Index just past the last item of the subtree.
        end: u32,
    },
    /// The name of the object member whose value follows.
    Key(Cow<'a, str>),
}

/// A parsed JSON document: its items in document order, the root first.
#[derive(Debug, Default)]
pub struct Document<'a> {
    items: Vec<Item<'a>>,
}

/// Why a body could not be read as a [`Document`]; the caller falls back to `serde_json`'s
/// `Value`, which says what is wrong.
#[derive(Debug)]
pub struct NotRead;

impl<'a> Document<'a> {
    /// Reads `json`: valid JSON whose objects never repeat a key.
    pub fn parse(json: &'a [u8]) -> Result<Self, NotRead> {
        // A report's JSON has roughly one item per 20 bytes.
        let mut items = Vec::with_capacity(json.len() / 16 + 1);
        let mut de = serde_json::Deserializer::from_slice(json);
        Builder { items: &mut items }
            .deserialize(&mut de)
            .map_err(|_| NotRead)?;
        de.end().map_err(|_| NotRead)?;
        Ok(Self { items })
    }

    /// The root value.
    pub fn root(&self) -> TapeNode<'_> {
        TapeNode {
            items: &self.items,
            at: 0,
        }
    }
}

/// Appends one value (and its subtree) to `items`.
struct Builder<'d, 'a> {
    items: &'d mut Vec<Item<'a>>,
}

impl Builder<'_, '_> {
    /// The index of the next item, as stored in containers.
    fn next_index<E: de::Error>(&self) -> Result<u32, E> {
        u32::try_from(self.items.len()).map_err(|_| E::custom("document too large"))
    }
}

impl<'de> DeserializeSeed<'de> for Builder<'_, 'de> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Stores a map key; borrowed when the input has no escapes in it.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

impl<'de> Visitor<'de> for Builder<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.items.push(Item::Bool(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.items.push(Item::Number(v.into()));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.items.push(Item::Number(v.into()));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `serde_json::Value` does: a non-finite float becomes `null`.
        self.items
            .push(Number::from_f64(v).map_or(Item::Null, Item::Number));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.items.push(Item::String(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.items.push(Item::String(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.items.push(Item::String(Cow::Owned(v)));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.items.push(Item::Null);
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.items.len();
        self.items.push(Item::Array { len: 0, end: 0 });
        let mut len = 0u32;
        while seq
            .next_element_seed(Builder {
                items: &mut *self.items,
            })?
            .is_some()
        {
            len += 1;
        }
        let end = self.next_index()?;
        self.items[at] = Item::Array { len, end };
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.items.len();
        self.items.push(Item::Object { len: 0, end: 0 });
        let mut len = 0u32;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            if has_key(self.items, at, &key) {
                return Err(de::Error::custom("repeated key"));
            }
            self.items.push(Item::Key(key));
            map.next_value_seed(Builder {
                items: &mut *self.items,
            })?;
            len += 1;
        }
        let end = self.next_index()?;
        self.items[at] = Item::Object { len, end };
        Ok(())
    }
}

/// Whether the members read so far of the object at `at` (the last items) include `key`.
fn has_key(items: &[Item<'_>], at: usize, key: &str) -> bool {
    let mut i = at + 1;
    while i < items.len() {
        if matches!(&items[i], Item::Key(seen) if seen == key) {
            return true;
        }
        // Skip the key and its value's subtree.
        i = match items.get(i + 1) {
            Some(Item::Array { end, .. } | Item::Object { end, .. }) => *end as usize,
            _ => i + 2,
        };
    }
    false
}

/// The `jsonschema` representation of a [`Document`].
#[derive(Debug)]
pub struct Tape;

impl Json for Tape {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = String;
    type StringBuffer = Vec<Item<'static>>;

    // Lookups scan the members linearly, so one pass over the members beats a lookup per
    // property as soon as there are a few.
    const KEYS_PER_LOOKUP: usize = 4;
    // A document is a tree.
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Vec<Item<'static>>,
        string: &str,
        f: impl FnOnce(TapeNode<'_>) -> T,
    ) -> T {
        buffer.clear();
        buffer.push(Item::String(Cow::Owned(string.to_owned())));
        f(TapeNode {
            items: buffer,
            at: 0,
        })
    }
}

/// A value of a document: the items and the index of the value's first item.
#[derive(Debug, Clone, Copy)]
pub struct TapeNode<'a> {
    items: &'a [Item<'a>],
    at: usize,
}

impl<'a> TapeNode<'a> {
    fn item(&self) -> &'a Item<'a> {
        &self.items[self.at]
    }

    /// The index just past this value's subtree.
    fn end(&self) -> usize {
        match self.item() {
            Item::Array { end, .. } | Item::Object { end, .. } => *end as usize,
            _ => self.at + 1,
        }
    }

    fn at(&self, at: usize) -> Self {
        Self {
            items: self.items,
            at,
        }
    }
}

impl<'a> Node<'a, Tape> for TapeNode<'a> {
    type Object = TapeNode<'a>;
    type Array = TapeNode<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<TapeNode<'a>> {
        matches!(self.item(), Item::Object { .. }).then_some(*self)
    }

    fn as_array(&self) -> Option<TapeNode<'a>> {
        matches!(self.item(), Item::Array { .. }).then_some(*self)
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        match self.item() {
            Item::String(s) => Some(Cow::Borrowed(s.as_ref())),
            _ => None,
        }
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self.item() {
            Item::Number(n) => Some(n),
            _ => None,
        }
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.item() {
            Item::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.item(), Item::Null)
    }

    fn json_type(&self) -> JsonType {
        match self.item() {
            Item::Null => JsonType::Null,
            Item::Bool(_) => JsonType::Boolean,
            Item::Number(_) => JsonType::Number,
            // A node is never a key: keys are only reached as member names.
            Item::String(_) | Item::Key(_) => JsonType::String,
            Item::Array { .. } => JsonType::Array,
            Item::Object { .. } => JsonType::Object,
        }
    }

    fn equals_value(&self, expected: &Value) -> bool {
        // `const`/`enum` of strings (every enum of the report schema), without building a
        // `Value`; anything else compares as `serde_json` values.
        match (self.item(), expected) {
            (Item::String(s), Value::String(e)) => s == e,
            (Item::String(_), _) => false,
            _ => jsonschema::json::cmp::equal(&self.to_value(), expected),
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(value_at(*self))
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(std::ptr::from_ref(self.item()) as usize))
    }
}

/// The `serde_json::Value` of a node (for error messages and unusual `const`s only).
fn value_at(node: TapeNode<'_>) -> Value {
    match node.item() {
        Item::Null => Value::Null,
        Item::Bool(b) => Value::Bool(*b),
        Item::Number(n) => Value::Number(n.clone()),
        Item::String(s) | Item::Key(s) => Value::String(s.to_string()),
        Item::Array { .. } => Value::Array(Array::elements(&node).map(value_at).collect()),
        Item::Object { .. } => Value::Object(
            Object::members(&node)
                .map(|(k, v)| (k.to_owned(), value_at(v)))
                .collect::<Map<String, Value>>(),
        ),
    }
}

/// The members of an object: `(name, value)`.
pub struct Members<'a> {
    node: TapeNode<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let Item::Key(name) = &self.node.items[self.next] else {
            return None;
        };
        let value = self.node.at(self.next + 1);
        self.next = value.end();
        Some((name.as_ref(), value))
    }
}

impl<'a> Object<'a, Tape> for TapeNode<'a> {
    type Node = TapeNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        match self.item() {
            Item::Object { len, .. } => *len as usize,
            _ => 0,
        }
    }

    fn get(&self, key: &String) -> Option<TapeNode<'a>> {
        self.members()
            .find(|(name, _)| *name == key.as_str())
            .map(|(_, value)| value)
    }

    fn members(&self) -> Members<'a> {
        Members::of(*self)
    }
}

/// The elements of an array.
pub struct Elements<'a> {
    node: TapeNode<'a>,
    next: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<TapeNode<'a>> {
        if self.next >= self.end {
            return None;
        }
        let element = self.node.at(self.next);
        self.next = element.end();
        Some(element)
    }
}

impl<'a> Array<'a, Tape> for TapeNode<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        match self.item() {
            Item::Array { len, .. } => *len as usize,
            _ => 0,
        }
    }

    fn elements(&self) -> Elements<'a> {
        Elements::of(*self)
    }
}

// ---------------------------------------------------------------------------------------
// Reading typed values from a document, as `serde_json::from_value` reads them from a
// `Value` (the same visitor calls for the same input).

/// A `serde` error while reading a typed value from a document.
#[derive(Debug)]
pub struct ReadError(String);

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReadError {}

impl de::Error for ReadError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl<'a> TapeNode<'a> {
    fn unexpected(&self) -> de::Unexpected<'a> {
        match self.item() {
            Item::Null => de::Unexpected::Unit,
            Item::Bool(b) => de::Unexpected::Bool(*b),
            Item::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => de::Unexpected::Unsigned(u),
                (_, Some(i), _) => de::Unexpected::Signed(i),
                (_, _, f) => de::Unexpected::Float(f.unwrap_or_default()),
            },
            Item::String(s) | Item::Key(s) => de::Unexpected::Str(s),
            Item::Array { .. } => de::Unexpected::Seq,
            Item::Object { .. } => de::Unexpected::Map,
        }
    }
}

impl<'de> de::Deserializer<'de> for TapeNode<'de> {
    type Error = ReadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.item() {
            Item::Null => visitor.visit_unit(),
            Item::Bool(b) => visitor.visit_bool(*b),
            Item::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or_default())
                }
            }
            Item::String(s) | Item::Key(s) => match s {
                Cow::Borrowed(b) => visitor.visit_borrowed_str(b),
                Cow::Owned(o) => visitor.visit_str(o),
            },
            Item::Array { len, .. } => {
                let mut seq = Elements::of(self);
                let value = visitor.visit_seq(&mut seq)?;
                match seq.next() {
                    None => Ok(value),
                    Some(_) => Err(de::Error::invalid_length(*len as usize, &"fewer elements")),
                }
            }
            Item::Object { len, .. } => {
                let mut map = MemberAccess {
                    members: Members::of(self),
                    value: None,
                };
                let value = visitor.visit_map(&mut map)?;
                match map.members.next() {
                    None => Ok(value),
                    Some(_) => Err(de::Error::invalid_length(*len as usize, &"fewer members")),
                }
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.item() {
            Item::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.item() {
            Item::String(_) => visitor.visit_enum(VariantAccess {
                variant: self,
                value: None,
            }),
            Item::Object { len: 1, .. } => {
                let mut members = Members::of(self);
                match members.next() {
                    Some((name, value)) => visitor.visit_enum(VariantAccess {
                        variant: name,
                        value: Some(value),
                    }),
                    None => Err(de::Error::invalid_value(
                        de::Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            Item::Object { .. } => Err(de::Error::invalid_value(
                de::Unexpected::Map,
                &"map with a single key",
            )),
            _ => Err(de::Error::invalid_type(self.unexpected(), &"string or map")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        match self.item() {
            Item::Null => visitor.visit_unit(),
            _ => Err(de::Error::invalid_type(self.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ReadError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf seq tuple tuple_struct map struct identifier
    }
}

impl<'a> de::IntoDeserializer<'a, ReadError> for TapeNode<'a> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'a> Elements<'a> {
    fn of(node: TapeNode<'a>) -> Self {
        Self {
            node,
            next: node.at + 1,
            end: node.end(),
        }
    }
}

impl<'a> Members<'a> {
    fn of(node: TapeNode<'a>) -> Self {
        Self {
            node,
            next: node.at + 1,
            end: node.end(),
        }
    }
}

impl<'a> SeqAccess<'a> for Elements<'a> {
    type Error = ReadError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ReadError> {
        self.next().map(|e| seed.deserialize(e)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        match self.node.item() {
            Item::Array { len, .. } => Some(*len as usize),
            _ => None,
        }
    }
}

/// The members of an object, for `visit_map`.
struct MemberAccess<'a> {
    members: Members<'a>,
    value: Option<TapeNode<'a>>,
}

impl<'a> MapAccess<'a> for MemberAccess<'a> {
    type Error = ReadError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ReadError> {
        match self.members.next() {
            Some((_, value)) => {
                self.value = Some(value);
                // The key item sits just before its value.
                seed.deserialize(value.at(value.at - 1)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'a>>(&mut self, seed: V) -> Result<V::Value, ReadError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        match self.members.node.item() {
            Item::Object { len, .. } => Some(*len as usize),
            _ => None,
        }
    }
}

/// An enum: its variant name, and the value of a `{"variant": value}` form.
struct VariantAccess<'a, N> {
    variant: N,
    value: Option<TapeNode<'a>>,
}

impl<'a, N: de::IntoDeserializer<'a, ReadError>> de::EnumAccess<'a> for VariantAccess<'a, N> {
    type Error = ReadError;
    type Variant = VariantValue<'a>;

    fn variant_seed<V: DeserializeSeed<'a>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantValue<'a>), ReadError> {
        let variant = seed.deserialize(self.variant.into_deserializer())?;
        Ok((variant, VariantValue(self.value)))
    }
}

/// The value of an enum variant (none for the `"variant"` form).
struct VariantValue<'a>(Option<TapeNode<'a>>);

impl<'a> de::VariantAccess<'a> for VariantValue<'a> {
    type Error = ReadError;

    fn unit_variant(self) -> Result<(), ReadError> {
        match self.0 {
            None => Ok(()),
            Some(value) => de::Deserialize::deserialize(value),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, ReadError> {
        match self.0 {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, ReadError> {
        match self.0 {
            Some(value) if matches!(value.item(), Item::Array { .. }) => {
                de::Deserializer::deserialize_any(value, visitor)
            }
            _ => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ReadError> {
        match self.0 {
            Some(value) if matches!(value.item(), Item::Object { .. }) => {
                de::Deserializer::deserialize_any(value, visitor)
            }
            _ => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(text: &str) -> Option<Value> {
        let doc = Document::parse(text.as_bytes()).ok()?;
        Some(value_at(doc.root()))
    }

    #[test]
    fn documents_read_back_as_the_same_values() {
        for text in [
            r#"{"a": [1, -2, 3.5, 1e3, 18446744073709551615, -9223372036854775808], "b": {"c": null, "d": true}, "e": "x\"\n\u00e9", "f": [], "g": {}}"#,
            r#"[[[]], {"": ""}, "\ud83d\ude00", 0.0, -0, 1E-7]"#,
            "\"just a string\"",
            "12",
            "null",
        ] {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(round_trip(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn what_value_refuses_is_refused_and_repeated_keys_too() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\":1} x",
            "\"\\ud800\"",
            "1e400",
            &"[".repeat(200),
        ] {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(Document::parse(text.as_bytes()).is_err(), "{text}");
        }
        assert!(Document::parse(br#"{"a": 1, "b": 2, "a": 3}"#).is_err());
        assert!(Document::parse(br#"[{"a": 1}, {"a": 2}]"#).is_ok());
    }

    #[test]
    fn validation_agrees_with_serde_json_values() {
        let schema = json!({
            "type": "object",
            "required": ["id", "tags"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9a-f]{4}$"},
                "n": {"type": ["integer", "null"], "minimum": 1},
                "tags": {"type": "array", "items": {"oneOf": [{"const": "a"}, {"const": "b"}]}, "minItems": 1},
                "m": {"type": "object", "additionalProperties": {"type": "boolean"}},
                "x": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/X"}]}
            },
            "$defs": {"X": {"type": "object", "required": ["k"], "properties": {"k": {"const": 1}}}}
        });
        let on_values = jsonschema::validator_for(&schema).unwrap();
        let on_tapes = jsonschema::options_for::<Tape>().build(&schema).unwrap();
        for text in [
            r#"{"id": "00af", "tags": ["a"]}"#,
            r#"{"id": "00AF", "tags": ["a"]}"#,
            r#"{"id": "00af", "tags": []}"#,
            r#"{"id": "00af", "tags": ["c"]}"#,
            r#"{"id": "00af", "tags": ["a"], "n": 0}"#,
            r#"{"id": "00af", "tags": ["a"], "n": 1.0}"#,
            r#"{"id": "00af", "tags": ["a"], "n": 2.5}"#,
            r#"{"id": "00af", "tags": ["a"], "n": null}"#,
            r#"{"id": "00af", "tags": ["a"], "m": {"p": true, "q": 1}}"#,
            r#"{"id": "00af", "tags": ["a"], "m": {"p": true}}"#,
            r#"{"id": "00af", "tags": ["a"], "x": {"k": 1.0}}"#,
            r#"{"id": "00af", "tags": ["a"], "x": {"k": 2}}"#,
            r#"{"id": "00af", "tags": ["a"], "x": []}"#,
            r#"{"tags": ["a"]}"#,
            r#"["id", "tags"]"#,
        ] {
            let value: Value = serde_json::from_str(text).unwrap();
            let doc = Document::parse(text.as_bytes()).unwrap();
            assert_eq!(
                on_tapes.is_valid(doc.root()),
                on_values.is_valid(&value),
                "{text}"
            );
        }
    }
}
