//! Go's YAML decoding rules, applied on top of serde-saphyr by wrapping its deserializer
//! ([`GoRules`]), so every config section decodes a file the way the Go tools do:
//!
//! - **null is the zero value.** An empty value (`timeout:`), `~` or `null` gives a text
//!   field `""`, a number `0` and a boolean `false`, as `gopkg.in/yaml` sets a Go field to
//!   its zero value; lists and mappings were already empty and optional fields absent. A
//!   field whose blackbox_exporter default is not the zero value keeps its default instead,
//!   as yaml.v3 leaves such a field untouched: see [`keep_default_on_null!`].
//! - **A quoted scalar is text.** `ttl: "64"` is refused for a number or boolean field
//!   (`cannot unmarshal !!str `64` into int`), as both Go YAML libraries refuse it;
//!   yaml.v3's YAML 1.1 spellings `yes`/`no`/`on`/`off` still work for booleans.
//! - **`!!binary` is bytes.** A binary scalar decodes from base64 into a text field when the
//!   bytes are UTF-8, and into a byte field ([`GoBytes`]: dialogue steps) whatever they are.
//!
//! The wrapper forwards everything else unchanged, so positions and `Spanned` values work as
//! before. It also records the field path for [`parse`](super::parse)'s errors (the map keys
//! and list indexes being read, see [`path`](super::path)): every value goes through this one
//! wrapper layer. The config types see it through a type-erased deserializer ([`deserialize`]),
//! so its code and serde-saphyr's are compiled once, not once per config type.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};
use serde::{Deserialize, Serialize};

use super::erase::{DynDe, Holder};
use super::path::{self, Segment};

/// `T` from serde-saphyr's deserializer `d` with Go's rules.
///
/// `T`'s own code sees only the type-erased deserializer of [`erase`](super::erase), so
/// serde's derived code is compiled once per config type, and serde-saphyr's and
/// [`GoRules`]' once in all, instead of once per type and nesting layer.
pub(super) fn deserialize<'de, T: Deserialize<'de>, D>(d: D) -> Result<T, serde_saphyr::Error>
where
    D: Deserializer<'de, Error = serde_saphyr::Error>,
{
    let mut held = Holder(Some(GoRules(d)));
    T::deserialize(DynDe(&mut held)).map_err(super::erase::Error::into_inner)
}

fn is_saphyr_error<E>() -> bool {
    typeid::of::<E>() == std::any::TypeId::of::<serde_saphyr::Error>()
}

/// `e` as serde-saphyr's error, when that is its type (it is for every deserializer
/// [`GoRules`] wraps; serde's trait methods only say "some deserializer").
pub(super) fn into_saphyr_error<E>(e: E) -> Result<serde_saphyr::Error, E> {
    if !is_saphyr_error::<E>() {
        return Err(e);
    }
    let e = std::mem::ManuallyDrop::new(e);
    // SAFETY: `E` has the type id of `serde_saphyr::Error`, a type without lifetime
    // parameters, so `E` is that type; `e` is not dropped, so the value moves exactly once.
    Ok(unsafe { std::ptr::read(&*e as *const E as *const serde_saphyr::Error) })
}

/// serde-saphyr's error as `E`: itself when `E` is that type, else its text.
pub(super) fn from_saphyr_error<E: de::Error>(e: serde_saphyr::Error) -> E {
    if !is_saphyr_error::<E>() {
        return E::custom(e);
    }
    let e = std::mem::ManuallyDrop::new(e);
    // SAFETY: `E` has the type id of `serde_saphyr::Error`, a type without lifetime
    // parameters, so it is that type; `e` is not dropped, so the value moves exactly once.
    unsafe { std::ptr::read(&*e as *const serde_saphyr::Error as *const E) }
}

/// A deserializer that decodes with Go's YAML rules (see the module docs).
pub(super) struct GoRules<D>(pub(super) D);

/// What a scalar request wants; decides its zero value and which scalars it takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Bool,
    Int,
    Float,
    Str,
    Bytes,
    Char,
}

impl Want {
    /// Go's name for the type, as its "cannot unmarshal" errors print it.
    fn go_name(self) -> &'static str {
        match self {
            Want::Bool => "bool",
            Want::Int => "int",
            Want::Float => "float64",
            Want::Str | Want::Char => "string",
            Want::Bytes => "[]byte",
        }
    }
}

/// `expected …` text of a refused scalar; `clean_message` turns the serde error into Go's.
struct GoType(&'static str);

impl de::Expected for GoType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "Go {}", self.0)
    }
}

fn is_binary_tag(tag: Option<&str>) -> bool {
    matches!(
        tag,
        Some("!!binary" | "!binary" | "tag:yaml.org,2002:binary" | "tag:yaml.org,2002:!binary")
    )
}

/// Base64 as YAML writes it: line breaks and spaces inside are ignored.
fn decode_binary<E: de::Error>(text: &str) -> Result<Vec<u8>, E> {
    use base64::Engine as _;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    crate::base::go::BASE64_STD
        .decode(compact.as_bytes())
        .map_err(|e| E::custom(format!("!!binary value is not valid base64: {e}")))
}

/// A text scalar, its `!!binary` tag decoded; `Err(bytes)` when binary bytes are not UTF-8.
fn tagged_text<'de, D: Deserializer<'de>>(d: D) -> Result<Result<String, Vec<u8>>, D::Error> {
    let serde_saphyr::Tagged(text, tag) = serde_saphyr::Tagged::<String>::deserialize(d)?;
    if is_binary_tag(tag.as_deref()) {
        let bytes = decode_binary::<D::Error>(&text)?;
        return Ok(String::from_utf8(bytes).map_err(|e| e.into_bytes()));
    }
    Ok(Ok(text))
}

/// The visitor behind every scalar request: null gives the zero value, a present value is
/// read with Go's rules and handed to the caller's visitor (`inner`, in a [`Wrap`]).
struct Scalar<V> {
    want: Want,
    inner: V,
}

impl<V> Scalar<V> {
    /// Go's "cannot unmarshal !!str `64` into int", as a serde type error so that
    /// serde-saphyr attaches the position; `clean_message` prints it in Go's words.
    fn refuse<E: de::Error>(&self, tag: &str, value: &dyn fmt::Display) -> E {
        E::invalid_type(
            Unexpected::Other(&format!("{GO_TAG}{tag} `{value}`")),
            &GoType(self.want.go_name()),
        )
    }
}

/// Marks a refused scalar in serde's message, for `clean_message`.
pub(super) const GO_TAG: &str = "!!";

impl<'de, V: Visitor<'de>> Visitor<'de> for Scalar<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_unit()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        match self.want {
            Want::Bool => self.inner.visit_bool(false),
            Want::Int => self.inner.visit_u64(0),
            Want::Float => self.inner.visit_f64(0.0),
            Want::Str => self.inner.visit_str(""),
            Want::Bytes => self.inner.visit_byte_buf(Vec::new()),
            // Go has no char; a one-character field left empty is still empty.
            Want::Char => Err(self.refuse("null", &"")),
        }
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        match self.want {
            Want::Str => match tagged_text(d)? {
                Ok(text) => self.inner.visit_string(text),
                Err(_) => Err(de::Error::custom(
                    "!!binary value is not UTF-8 text, which this field needs",
                )),
            },
            Want::Bytes => match tagged_text(d)? {
                Ok(text) => self.inner.visit_byte_buf(text.into_bytes()),
                Err(bytes) => self.inner.visit_byte_buf(bytes),
            },
            Want::Char => d.deserialize_char(self.inner),
            Want::Bool | Want::Int | Want::Float => d.deserialize_any(self),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        match self.want {
            Want::Bool => self.inner.visit_bool(v),
            _ => Err(self.refuse("bool", &v)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        match self.want {
            Want::Int | Want::Float => self.inner.visit_i64(v),
            _ => Err(self.refuse("int", &v)),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        match self.want {
            Want::Int | Want::Float => self.inner.visit_u64(v),
            _ => Err(self.refuse("int", &v)),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<V::Value, E> {
        match self.want {
            Want::Int | Want::Float => self.inner.visit_i128(v),
            _ => Err(self.refuse("int", &v)),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<V::Value, E> {
        match self.want {
            Want::Int | Want::Float => self.inner.visit_u128(v),
            _ => Err(self.refuse("int", &v)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        match self.want {
            // yaml.v3 truncates a float that fits into an integer field.
            Want::Int if v.is_finite() && v.abs() < 9.2e18 => self.inner.visit_i64(v as i64),
            Want::Float => self.inner.visit_f64(v),
            _ => Err(self.refuse("float", &v)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        match self.want {
            Want::Str => self.inner.visit_str(v),
            Want::Bytes => self.inner.visit_bytes(v.as_bytes()),
            Want::Char => self.inner.visit_str(v),
            // yaml.v3 reads YAML 1.1's spellings into a bool field, quoted or not.
            Want::Bool => match v {
                "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => {
                    self.inner.visit_bool(true)
                }
                "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => {
                    self.inner.visit_bool(false)
                }
                _ => Err(self.refuse("str", &v)),
            },
            Want::Int | Want::Float => Err(self.refuse("str", &v)),
        }
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<V::Value, E> {
        match self.want {
            Want::Bytes => self.inner.visit_bytes(v),
            Want::Str => match std::str::from_utf8(v) {
                Ok(s) => self.inner.visit_str(s),
                Err(_) => Err(self.refuse("binary", &String::from_utf8_lossy(v))),
            },
            _ => Err(self.refuse("binary", &String::from_utf8_lossy(v))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<V::Value, A::Error> {
        Err(self.refuse("seq", &"[…]"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<V::Value, A::Error> {
        Err(self.refuse("map", &"{…}"))
    }
}

/// Wraps a visitor so the deserializers and accessors it is handed keep Go's rules and record
/// the field path. Every visitor of a value is wrapped once, so the value it is handed first
/// is also where a map key's text is recorded ([`path::key_seen`]).
struct Wrap<V>(V);

/// Visitor methods that hand over a value which names a key (`serde_path_to_error`'s rule:
/// text, booleans and integers).
macro_rules! visit_key {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            path::key_seen(Some(&v));
            self.0.$method(v)
        }
    )*};
}

/// Visitor methods that hand over a value which names no key.
macro_rules! visit_other {
    ($($method:ident($ty:ty)),* $(,)?) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
            path::key_seen(None);
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    visit_key! {
        visit_bool(bool), visit_i64(i64), visit_u64(u64), visit_i128(i128), visit_u128(u128),
        visit_str(&str), visit_borrowed_str(&'de str), visit_string(String),
    }

    visit_other! {
        visit_f64(f64), visit_char(char), visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]), visit_byte_buf(Vec<u8>),
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        path::key_seen(None);
        self.0.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        path::key_seen(None);
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        path::key_seen(None);
        self.0.visit_some(GoRules(d))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        path::key_seen(None);
        self.0.visit_newtype_struct(GoRules(d))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        path::key_seen(None);
        self.0.visit_seq(Elements {
            access: seq,
            index: 0,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        path::key_seen(None);
        self.0.visit_map(Wrap(map))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        path::key_seen(None);
        self.0.visit_enum(Wrap(data))
    }
}

/// A map key, map value, list element or enum variant: an error that passes through is
/// recorded at the current path ([`path::fail`]), which the map or list put the value's key or
/// index on (nothing is recorded inside a key: the map records the key's error).
impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let result = self.0.deserialize(GoRules(d));
        if result.is_err() {
            path::fail();
        }
        result
    }
}

/// A list's elements, counted for the path.
struct Elements<A> {
    access: A,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Elements<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let pushed = path::push(Some(Segment::Index(self.index)));
        self.index += 1;
        let result = self.access.next_element_seed(Wrap(seed));
        path::pop(pushed);
        if result.is_err() {
            path::fail();
        }
        result
    }
    fn size_hint(&self) -> Option<usize> {
        self.access.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        path::key_start();
        let result = self.0.next_key_seed(Wrap(seed));
        path::key_end(result.is_err());
        result
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let pushed = path::push_key();
        let result = self.0.next_value_seed(Wrap(seed));
        path::pop(pushed);
        if result.is_err() {
            path::fail();
        }
        result
    }
    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Variant<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        path::key_start();
        let result = self.0.variant_seed(Wrap(seed));
        let segment = path::variant_end(result.is_err());
        let (value, access) = result?;
        Ok((value, Variant { access, segment }))
    }
}

/// An enum variant's content, whose path ends with the variant's name.
struct Variant<A> {
    access: A,
    segment: Option<Segment>,
}

impl<A> Variant<A> {
    /// Runs `f` with the variant on the path; an error is recorded there.
    fn scoped<R, E: de::Error>(self, f: impl FnOnce(A) -> Result<R, E>) -> Result<R, E> {
        let pushed = path::push(self.segment);
        let result = f(self.access);
        if result.is_err() {
            path::fail();
        }
        path::pop(pushed);
        result
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.scoped(|a| a.unit_variant())
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.scoped(|a| a.newtype_variant_seed(Wrap(seed)))
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        self.scoped(|a| a.tuple_variant(len, Wrap(v)))
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        self.scoped(|a| a.struct_variant(fields, Wrap(v)))
    }
}

/// An enum written as a string: null is Go's zero value `""`, which names no variant.
/// `inner` is the caller's visitor in a [`Wrap`].
struct EnumOrNull<V> {
    name: &'static str,
    variants: &'static [&'static str],
    inner: V,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for EnumOrNull<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }
    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_enum("".into_deserializer())
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visit_none()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_enum(self.name, self.variants, self.inner)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.inner.visit_enum(v.into_deserializer())
    }
}

macro_rules! scalar {
    ($($method:ident => $want:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_option(Scalar { want: Want::$want, inner: Wrap(visitor) })
        }
    )*};
}

macro_rules! forward {
    ($($method:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for GoRules<D> {
    type Error = D::Error;

    scalar! {
        deserialize_bool => Bool,
        deserialize_i8 => Int, deserialize_i16 => Int, deserialize_i32 => Int,
        deserialize_i64 => Int, deserialize_i128 => Int,
        deserialize_u8 => Int, deserialize_u16 => Int, deserialize_u32 => Int,
        deserialize_u64 => Int, deserialize_u128 => Int,
        deserialize_f32 => Float, deserialize_f64 => Float,
        deserialize_char => Char,
        deserialize_str => Str, deserialize_string => Str,
        deserialize_bytes => Bytes, deserialize_byte_buf => Bytes,
    }

    forward! {
        deserialize_any, deserialize_option, deserialize_unit, deserialize_seq,
        deserialize_map, deserialize_identifier, deserialize_ignored_any,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_option(EnumOrNull {
            name,
            variants,
            inner: Wrap(visitor),
        })
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// A byte string in a config file (a dialogue step's `send`): plain text, or `!!binary`
/// base64 for bytes that are not text, as Go's `string` fields take both. Printed back as
/// text when it is UTF-8, else as `!!binary`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GoBytes(pub Vec<u8>);

impl<'de> Deserialize<'de> for GoBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = GoBytes;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("text or !!binary bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoBytes, E> {
                Ok(GoBytes(v.as_bytes().to_vec()))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<GoBytes, E> {
                Ok(GoBytes(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<GoBytes, E> {
                Ok(GoBytes(v))
            }
        }
        d.deserialize_byte_buf(BytesVisitor)
    }
}

impl Serialize for GoBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.serialize_bytes(&self.0),
        }
    }
}

/// A field deserializer that keeps the field's default when the value is null, for the
/// fields whose upstream default is not Go's zero value (yaml.v3 leaves a field untouched
/// on null): `keep_default_on_null!(name, Type, default_fn)` defines `name`, used as
/// `#[serde(default = "default_fn", deserialize_with = "name")]`.
macro_rules! keep_default_on_null {
    ($name:ident, $ty:ty, $default:path) => {
        fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            Ok(<Option<$ty> as serde::Deserialize>::deserialize(d)?.unwrap_or_else($default))
        }
    };
}
pub(crate) use keep_default_on_null;
