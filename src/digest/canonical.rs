//! The canonical byte form (see the parent module) written straight from
//! serde, without building a [`serde_json::Value`] first.
//!
//! Owns one rule: its bytes equal [`super::write_canonical`] of
//! `serde_json::to_value` of the same value, for every value (tested
//! against it, on arbitrary JSON and on real planning histories). It only
//! saves the tree: a `Value` allocates every key and string and a map node
//! per object, which made compaction's digests cost ~10 µs per event.
//!
//! How: scalars are written in place. An object's members are written into
//! a scratch buffer, one range each, then copied out sorted by key; a
//! member whose value is null writes nothing and is left out. Everything
//! `to_value` decides (numbers, which values are null, map keys, a
//! `RawValue`) is decided the same way here, mostly by asking `Value`.

use std::borrow::Cow;
use std::ops::Range;

use serde::ser::{self, Error as _, Impossible, Serialize};
use serde_json::{Error, Value};

use super::{write_canonical, write_str};

/// serde_json's name for a `RawValue` serialized as a struct.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Appends the canonical form of `v` to `out`.
pub(super) fn write<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), Error> {
    if let Written::Null = v.serialize(Canon { out })? {
        out.extend_from_slice(b"null");
    }
    Ok(())
}

/// What a value wrote: nothing (it is null) or its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Null,
    Value,
}

/// Writes one value; a null writes nothing (its container decides).
struct Canon<'a> {
    out: &'a mut Vec<u8>,
}

impl Canon<'_> {
    /// A scalar as `to_value` makes it (a non-finite float is null).
    fn scalar(self, v: Value) -> Result<Written, Error> {
        if v.is_null() {
            return Ok(Written::Null);
        }
        write_canonical(&v, self.out);
        Ok(Written::Value)
    }

    fn str(self, s: &str) -> Result<Written, Error> {
        write_str(s, self.out);
        Ok(Written::Value)
    }

    /// `{"variant":` then the inner value, then `}`; a null inner value
    /// leaves `{}` (its member is dropped).
    fn variant<T: Serialize + ?Sized>(self, variant: &str, value: &T) -> Result<Written, Error> {
        self.out.push(b'{');
        let member = self.out.len();
        write_str(variant, self.out);
        self.out.push(b':');
        if let Written::Null = value.serialize(Canon { out: self.out })? {
            self.out.truncate(member);
        }
        self.out.push(b'}');
        Ok(Written::Value)
    }
}

/// `serialize_<type>` methods that write the `Value` the number makes (as
/// `to_value` does), through the serializer's own `scalar`.
macro_rules! scalars_from_value {
    ($ok:ty; $($method:ident: $t:ty),*) => {$(
        fn $method(self, v: $t) -> Result<$ok, Error> {
            self.scalar(Value::from(v))
        }
    )*};
}

impl<'a> ser::Serializer for Canon<'a> {
    type Ok = Written;
    type Error = Error;
    type SerializeSeq = Array<'a>;
    type SerializeTuple = Array<'a>;
    type SerializeTupleStruct = Array<'a>;
    type SerializeTupleVariant = Array<'a>;
    type SerializeMap = Object<'a>;
    type SerializeStruct = Object<'a>;
    type SerializeStructVariant = Object<'a>;

    fn serialize_bool(self, v: bool) -> Result<Written, Error> {
        self.scalar(Value::Bool(v))
    }
    scalars_from_value!(Written;
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_f32: f32, serialize_f64: f64);
    fn serialize_i128(self, v: i128) -> Result<Written, Error> {
        self.scalar(serde_json::to_value(v)?)
    }
    fn serialize_u128(self, v: u128) -> Result<Written, Error> {
        self.scalar(serde_json::to_value(v)?)
    }
    fn serialize_char(self, v: char) -> Result<Written, Error> {
        self.str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<Written, Error> {
        self.str(v)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Written, Error> {
        use ser::SerializeSeq as _;
        let mut array = self.serialize_seq(Some(v.len()))?;
        for b in v {
            array.serialize_element(b)?;
        }
        array.end()
    }
    fn serialize_none(self) -> Result<Written, Error> {
        Ok(Written::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Written, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Written, Error> {
        Ok(Written::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Written, Error> {
        Ok(Written::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Written, Error> {
        self.str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Written, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Written, Error> {
        self.variant(variant, value)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Array<'a>, Error> {
        self.out.push(b'[');
        Ok(Array {
            out: self.out,
            first: true,
            variant: false,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Array<'a>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Array<'a>, Error> {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.extend_from_slice(b":[");
        Ok(Array {
            out: self.out,
            first: true,
            variant: true,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Object<'a>, Error> {
        Ok(Object::new(self.out, false))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Object<'a>, Error> {
        let mut object = Object::new(self.out, false);
        object.raw = name == RAW_VALUE_TOKEN;
        Ok(object)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Object<'a>, Error> {
        self.out.push(b'{');
        write_str(variant, self.out);
        self.out.push(b':');
        Ok(Object::new(self.out, true))
    }
}

/// A JSON array being written; a null element is written as `null`.
struct Array<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// Inside `{"variant":…}`: one more `}` at the end.
    variant: bool,
}

impl Array<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        if let Written::Null = value.serialize(Canon { out: self.out })? {
            self.out.extend_from_slice(b"null");
        }
        Ok(())
    }

    fn finish(self) -> Result<Written, Error> {
        self.out.push(b']');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(Written::Value)
    }
}

/// serde's four sequence traits, each an [`Array`].
macro_rules! array_traits {
    ($($name:ident :: $element:ident),*) => {$(
        impl ser::$name for Array<'_> {
            type Ok = Written;
            type Error = Error;
            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<Written, Error> {
                self.finish()
            }
        }
    )*};
}

array_traits!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// A JSON object being gathered: members' values in `scratch`, written out
/// sorted by key at the end.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    scratch: Vec<u8>,
    members: Vec<(Cow<'static, str>, Range<usize>)>,
    /// A map's key, waiting for its value.
    key: Option<String>,
    /// Inside `{"variant":…}`: one more `}` at the end.
    variant: bool,
    /// serde_json's `RawValue`: its one field is JSON text.
    raw: bool,
}

/// An object's members: key and the range of its value in `scratch`.
type Members = Vec<(Cow<'static, str>, Range<usize>)>;

/// Spare buffers per thread, so that an object does not allocate its
/// scratch and member list (malloc was a third of compaction's digest
/// work). Bounded: a few buffers, none kept above a size.
#[derive(Default)]
struct Spares {
    scratch: Vec<Vec<u8>>,
    members: Vec<Members>,
}

/// Spare buffers kept per thread (objects nest about this deep).
const SPARES_KEPT: usize = 16;
/// A scratch buffer larger than this is freed, not kept.
const SPARE_SCRATCH_MAX: usize = 1 << 20;

thread_local! {
    static SPARES: std::cell::RefCell<Spares> = std::cell::RefCell::default();
}

impl<'a> Object<'a> {
    fn new(out: &'a mut Vec<u8>, variant: bool) -> Object<'a> {
        let (scratch, members) = SPARES.with_borrow_mut(|s| {
            (
                s.scratch.pop().unwrap_or_default(),
                s.members.pop().unwrap_or_default(),
            )
        });
        Object {
            out,
            scratch,
            members,
            key: None,
            variant,
            raw: false,
        }
    }

    fn member<T: Serialize + ?Sized>(
        &mut self,
        key: Cow<'static, str>,
        value: &T,
    ) -> Result<(), Error> {
        let start = self.scratch.len();
        if let Written::Value = value.serialize(Canon {
            out: &mut self.scratch,
        })? {
            self.members.push((key, start..self.scratch.len()));
        } else {
            // A later null still replaces an earlier value of the key,
            // as inserting into a map does.
            self.members.push((key, start..start));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Written, Error> {
        // Stable: of members with one key, the last is kept (a map insert).
        self.members
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.out.push(b'{');
        let mut first = true;
        for (i, (key, range)) in self.members.iter().enumerate() {
            let superseded = self.members.get(i + 1).is_some_and(|(next, _)| next == key);
            if superseded || range.is_empty() {
                continue;
            }
            if !std::mem::take(&mut first) {
                self.out.push(b',');
            }
            write_str(key, self.out);
            self.out.push(b':');
            self.out.extend_from_slice(&self.scratch[range.clone()]);
        }
        self.out.push(b'}');
        if self.variant {
            self.out.push(b'}');
        }
        Ok(Written::Value)
    }

    /// `RawValue`'s field: its JSON text, parsed and written canonically,
    /// as `to_value` parses it.
    fn raw_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Value::String(text) = serde_json::to_value(value)? else {
            return Err(Error::custom("a RawValue's field is its JSON text"));
        };
        let parsed: Value = serde_json::from_str(&text)?;
        write_canonical(&parsed, self.out);
        Ok(())
    }
}

impl ser::SerializeMap for Object<'_> {
    type Ok = Written;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(key.serialize(MapKey)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error::custom("a map value without its key"))?;
        self.member(Cow::Owned(key), value)
    }
    fn end(self) -> Result<Written, Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Object<'_> {
    type Ok = Written;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match self.raw {
            true => self.raw_field(value),
            false => self.member(Cow::Borrowed(key), value),
        }
    }
    fn end(self) -> Result<Written, Error> {
        match self.raw {
            true => Ok(Written::Value),
            false => self.finish(),
        }
    }
}

impl ser::SerializeStructVariant for Object<'_> {
    type Ok = Written;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.member(Cow::Borrowed(key), value)
    }
    fn end(self) -> Result<Written, Error> {
        self.finish()
    }
}

impl Drop for Object<'_> {
    fn drop(&mut self) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut members = std::mem::take(&mut self.members);
        if scratch.capacity() > SPARE_SCRATCH_MAX {
            return;
        }
        scratch.clear();
        members.clear();
        SPARES.with_borrow_mut(|s| {
            if s.scratch.len() < SPARES_KEPT {
                s.scratch.push(scratch);
                s.members.push(members);
            }
        });
    }
}

/// A map key as `to_value` accepts it: a string, or a scalar written as
/// one. Anything else is an error, as there.
struct MapKey;

impl MapKey {
    fn scalar(self, v: Value) -> Result<String, Error> {
        match v {
            Value::Number(n) => Ok(n.to_string()),
            _ => Err(key_must_be_a_string()),
        }
    }
}

fn key_must_be_a_string() -> Error {
    Error::custom("key must be a string")
}

impl ser::Serializer for MapKey {
    type Ok = String;
    type Error = Error;
    type SerializeSeq = Impossible<String, Error>;
    type SerializeTuple = Impossible<String, Error>;
    type SerializeTupleStruct = Impossible<String, Error>;
    type SerializeTupleVariant = Impossible<String, Error>;
    type SerializeMap = Impossible<String, Error>;
    type SerializeStruct = Impossible<String, Error>;
    type SerializeStructVariant = Impossible<String, Error>;

    fn serialize_bool(self, v: bool) -> Result<String, Error> {
        Ok(v.to_string())
    }
    scalars_from_value!(String;
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64);
    fn serialize_i128(self, v: i128) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_u128(self, v: u128) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, v: f32) -> Result<String, Error> {
        float_key(&v, v.is_finite())
    }
    fn serialize_f64(self, v: f64) -> Result<String, Error> {
        float_key(&v, v.is_finite())
    }
    fn serialize_char(self, v: char) -> Result<String, Error> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, Error> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, Error> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_must_be_a_string())
    }
}

/// A float map key as serde_json writes it into a `Value`: the number as
/// its serializer writes it, and only a finite one.
fn float_key<T: Serialize>(v: &T, finite: bool) -> Result<String, Error> {
    match finite {
        true => serde_json::to_string(v),
        false => Err(Error::custom(
            "float key must be finite (got NaN or +/-inf)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::time::Duration;

    use proptest::prelude::*;
    use serde::Serialize;
    use serde_json::value::RawValue;
    use serde_json::Value;

    use super::super::write_canonical;

    /// The rule's other side: the `Value` tree, written canonically.
    fn via_value<T: Serialize + ?Sized>(v: &T) -> Result<String, String> {
        let value = serde_json::to_value(v).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        write_canonical(&value, &mut out);
        Ok(String::from_utf8(out).expect("UTF-8"))
    }

    fn streamed<T: Serialize + ?Sized>(v: &T) -> Result<String, String> {
        let mut out = Vec::new();
        super::write(v, &mut out).map_err(|e| e.to_string())?;
        Ok(String::from_utf8(out).expect("UTF-8"))
    }

    fn same<T: Serialize + ?Sized + std::fmt::Debug>(v: &T) -> String {
        let (a, b) = (streamed(v), via_value(v));
        assert_eq!(a, b, "{v:?}");
        a.expect("canonical")
    }

    #[derive(Serialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Unit,
        Newtype(Option<u8>),
        Tuple(u8, Option<u8>),
        Struct { b: Option<u8>, a: u8 },
    }

    #[derive(Serialize, Debug)]
    struct Unit;

    #[derive(Serialize, Debug)]
    struct Wrapper(Vec<Option<i64>>);

    #[derive(Serialize, Debug)]
    struct Inner {
        zeta: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        alpha: f32,
    }

    #[derive(Serialize, Debug)]
    struct Every {
        z: u64,
        a: i64,
        big: u128,
        neg: i128,
        nan: f64,
        inf: f32,
        third: f64,
        tenth: f32,
        c: char,
        quote: &'static str,
        #[serde(with = "serde_bytes_as_array")]
        bytes: Vec<u8>,
        unit: (),
        unit_struct: Unit,
        kinds: Vec<Kind>,
        newtype_null: Kind,
        wrapper: Wrapper,
        tuple: (u8, Option<u8>, &'static str),
        int_keys: BTreeMap<i32, u8>,
        bool_keys: HashMap<bool, Option<u8>>,
        enum_keys: BTreeMap<KeyKind, u8>,
        inner: Inner,
        #[serde(flatten)]
        flat: BTreeMap<String, Value>,
        raw: Box<RawValue>,
        metadata: Value,
    }

    #[derive(Serialize, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum KeyKind {
        Second,
        First,
    }

    /// Bytes through `serialize_bytes` (a `Vec<u8>` is a sequence).
    mod serde_bytes_as_array {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn every_serde_shape_writes_what_the_value_tree_writes() {
        let every = Every {
            z: u64::MAX,
            a: i64::MIN,
            big: u128::from(u64::MAX),
            neg: i128::from(i64::MIN),
            nan: f64::NAN,
            inf: f32::INFINITY,
            third: 1.0 / 3.0,
            tenth: 0.1,
            c: '"',
            quote: "a \"quoted\"\n\u{1}é😀",
            bytes: vec![0, 7, 255],
            unit: (),
            unit_struct: Unit,
            kinds: vec![
                Kind::Unit,
                Kind::Newtype(Some(1)),
                Kind::Newtype(None),
                Kind::Tuple(2, None),
                Kind::Struct { b: None, a: 3 },
                Kind::Struct { b: Some(4), a: 5 },
            ],
            newtype_null: Kind::Newtype(None),
            wrapper: Wrapper(vec![Some(-1), None]),
            tuple: (1, None, "t"),
            int_keys: [(-5, 1), (10, 2), (2, 3)].into_iter().collect(),
            bool_keys: [(true, Some(1)), (false, None)].into_iter().collect(),
            enum_keys: [(KeyKind::Second, 1), (KeyKind::First, 2)]
                .into_iter()
                .collect(),
            inner: Inner {
                zeta: None,
                skipped: None,
                alpha: 2.5,
            },
            flat: [
                ("mid".to_string(), Value::from(1)),
                ("null_member".to_string(), Value::Null),
            ]
            .into_iter()
            .collect(),
            raw: RawValue::from_string(r#"{ "y": [1, null, {"b":null,"a":2}], "x": 1.50 }"#.into())
                .expect("raw"),
            metadata: serde_json::json!({"k": {"b": [null, {}], "a": null}, "e": []}),
        };
        let text = same(&every);
        assert!(
            text.starts_with(r#"{"a":-9223372036854775808,"big":18446744073709551615,"#),
            "{text}"
        );
        assert!(text.contains(r#""newtype_null":{}"#), "{text}");
        assert!(
            !text.contains("nan") && !text.contains("null_member"),
            "{text}"
        );
    }

    #[test]
    fn what_the_value_tree_refuses_is_refused() {
        let big: u128 = u128::from(u64::MAX) + 1;
        assert!(streamed(&big).is_err() && via_value(&big).is_err());
        let key: BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into_iter().collect();
        assert!(streamed(&key).is_err() && via_value(&key).is_err());
        struct FloatKey(f64);
        impl Serialize for FloatKey {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(&self.0, &1)?;
                m.end()
            }
        }
        assert!(streamed(&FloatKey(f64::NAN)).is_err() && via_value(&FloatKey(f64::NAN)).is_err());
        for k in [0.1, -2.5e300, 3.0] {
            assert_eq!(streamed(&FloatKey(k)), via_value(&FloatKey(k)));
        }
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_even_a_null_one() {
        struct Repeats(Vec<(&'static str, Option<u8>)>);
        impl Serialize for Repeats {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(None)?;
                for (k, v) in &self.0 {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
        impl std::fmt::Debug for Repeats {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        assert_eq!(
            same(&Repeats(vec![
                ("b", Some(1)),
                ("a", Some(2)),
                ("b", Some(3))
            ])),
            r#"{"a":2,"b":3}"#
        );
        assert_eq!(same(&Repeats(vec![("a", Some(1)), ("a", None)])), "{}");
        assert_eq!(
            same(&Repeats(vec![("a", None), ("a", Some(1))])),
            r#"{"a":1}"#
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-c\"\\\\\\n\u{0}-\u{7f}é]{0,6}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-d]{0,3}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_json_writes_what_the_value_tree_writes(v in arb_json()) {
            prop_assert_eq!(streamed(&v), via_value(&v));
        }

        #[test]
        fn strings_are_escaped_as_serde_json_escapes_them(
            s in prop_oneof!["[ -~]{0,12}", "\\PC{0,12}", any::<String>()]
        ) {
            prop_assert_eq!(streamed(&s), serde_json::to_string(&s).map_err(|e| e.to_string()));
        }
    }

    /// Real histories: every event of parties planned by the real agents
    /// (fork and deletion included), and their folded state.
    #[test]
    fn planning_histories_write_what_the_value_tree_writes() {
        use crate::app::{ForkChange, NewFork, NewInput, NewParty};
        use crate::{App, Config};
        let app = App::start_new(Config::default()).expect("app");
        let mut ids = Vec::new();
        for text in [
            "birthday party for 30 guests in Lakewood, budget $2000, jungle theme",
            "vegan chocolate cake and a magician for 12 kids on Saturday",
        ] {
            let ack = app
                .create_party(
                    NewParty {
                        initial_inputs: vec![NewInput {
                            content: text.into(),
                            ..NewInput::default()
                        }],
                        ..NewParty::default()
                    },
                    None,
                )
                .expect("create");
            assert!(app.wait_settled(&ack.party_id, ack.seq, Duration::from_secs(60)));
            ids.push(ack.party_id);
        }
        let change = ForkChange::Add(NewInput {
            content: "what if we invite 50 instead".into(),
            ..NewInput::default()
        });
        let fork = NewFork {
            changes: vec![change],
            ..NewFork::default()
        };
        let forked = app.fork_party(&ids[0], fork, None).expect("fork");
        ids.push(forked.ack.party_id.clone());
        assert!(app.wait_settled(
            &forked.ack.party_id,
            forked.ack.seq,
            Duration::from_secs(60)
        ));
        for id in &ids {
            let party = app.party(id).expect("party");
            same(party.as_ref());
            for ev in app.events(id, 0, usize::MAX).expect("events") {
                same(ev.as_ref());
            }
        }
        app.delete_party(&ids[1], None, None).expect("delete");
        for ev in app.events(&ids[1], 0, usize::MAX).expect("events") {
            same(ev.as_ref());
        }
        app.stop();
    }
}
