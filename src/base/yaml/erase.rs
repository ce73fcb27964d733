//! A type-erased serde deserializer for config decoding: the config types' derived code runs
//! against one concrete deserializer ([`DynDe`]) whatever sits underneath, so serde-saphyr's
//! and [`GoRules`](super::go::GoRules)' code is compiled once, not once per config type.
//!
//! erased-serde did this before, with 0.56 MB more code in the stripped binary: its visitor
//! trait has a method per serde visitor method, and every config type's visitors
//! instantiated all thirty of them, each boxing its output. Here a visitor is erased behind
//! one method that takes the value as an [`Input`], and writes its output into a slot
//! instead of a box. The error type stays
//! serde-saphyr's, so an error crosses the erased layer whole, position and all.
//!
//! Narrower visitor calls arrive as their wide form (`visit_u8` as `visit_u64`, `visit_char`
//! and `visit_string` as `visit_str`, `visit_byte_buf` as `visit_bytes`), which is what
//! serde's default visitor methods do with them anyway; a 128-bit integer arrives as its
//! 64-bit form or is refused. Borrowed text is lent as text: the config types own their data.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// serde-saphyr's error, boxed: results stay two words wide through the config types' code,
/// whose every `?` would otherwise move a 112-byte error.
pub(super) struct Error(Box<serde_saphyr::Error>);

impl Error {
    pub(super) fn into_inner(self) -> serde_saphyr::Error {
        *self.0
    }

    #[cold]
    #[inline(never)]
    fn boxed(e: serde_saphyr::Error) -> Self {
        Error(Box::new(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Error {}

/// Each of serde's error kinds as serde-saphyr makes it (it gives them a position).
impl de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::boxed(de::Error::custom(msg))
    }
    #[cold]
    #[inline(never)]
    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error::boxed(de::Error::invalid_type(unexp, exp))
    }
    #[cold]
    #[inline(never)]
    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        Error::boxed(de::Error::invalid_value(unexp, exp))
    }
    #[cold]
    #[inline(never)]
    fn invalid_length(len: usize, exp: &dyn de::Expected) -> Self {
        Error::boxed(de::Error::invalid_length(len, exp))
    }
    #[cold]
    #[inline(never)]
    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        Error::boxed(de::Error::unknown_variant(variant, expected))
    }
    #[cold]
    #[inline(never)]
    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        Error::boxed(de::Error::unknown_field(field, expected))
    }
    #[cold]
    #[inline(never)]
    fn missing_field(field: &'static str) -> Self {
        Error::boxed(de::Error::missing_field(field))
    }
    #[cold]
    #[inline(never)]
    fn duplicate_field(field: &'static str) -> Self {
        Error::boxed(de::Error::duplicate_field(field))
    }
}

/// What the config type asked the deserializer for: one per `deserialize_*` method.
#[derive(Clone, Copy)]
pub(super) enum Request {
    Any,
    Bool,
    I8,
    I16,
    I32,
    I64,
    I128,
    U8,
    U16,
    U32,
    U64,
    U128,
    F32,
    F64,
    Char,
    Str,
    String,
    Bytes,
    ByteBuf,
    Option,
    Unit,
    UnitStruct(&'static str),
    NewtypeStruct(&'static str),
    Seq,
    Tuple(usize),
    TupleStruct(&'static str, usize),
    Map,
    Struct(&'static str, &'static [&'static str]),
    Enum(&'static str, &'static [&'static str]),
    Identifier,
    IgnoredAny,
}

/// What the deserializer handed the visitor: one per group of visitor methods.
pub(super) enum Input<'a, 'de> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
    None,
    Unit,
    Some(&'a mut dyn DynDeserializer<'de>),
    NewtypeStruct(&'a mut dyn DynDeserializer<'de>),
    Seq(&'a mut dyn DynSeq<'de>),
    Map(&'a mut dyn DynMap<'de>),
    Enum(&'a mut dyn DynEnum<'de>),
}

/// A deserializer, used once.
pub(super) trait DynDeserializer<'de> {
    fn request(&mut self, request: Request, visitor: &mut dyn DynVisitor<'de>)
        -> Result<(), Error>;
    fn is_human_readable(&self) -> bool;
}

/// A visitor, used once: its value goes into its own slot.
pub(super) trait DynVisitor<'de> {
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result;
    fn visit(&mut self, input: Input<'_, 'de>) -> Result<(), Error>;
}

/// A seed, used once: its value goes into its own slot.
pub(super) trait DynSeed<'de> {
    fn deserialize(&mut self, d: &mut dyn DynDeserializer<'de>) -> Result<(), Error>;
}

pub(super) trait DynSeq<'de> {
    /// False at the end of the list.
    fn next(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<bool, Error>;
    fn size_hint(&self) -> Option<usize>;
}

pub(super) trait DynMap<'de> {
    /// False at the end of the mapping.
    fn next_key(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<bool, Error>;
    fn next_value(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error>;
    fn size_hint(&self) -> Option<usize>;
}

/// An enum: first the variant's name, then one of its content methods.
pub(super) trait DynEnum<'de> {
    fn variant(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error>;
    fn unit(&mut self) -> Result<(), Error>;
    fn newtype(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error>;
    fn tuple(&mut self, len: usize, visitor: &mut dyn DynVisitor<'de>) -> Result<(), Error>;
    fn fields(
        &mut self,
        fields: &'static [&'static str],
        visitor: &mut dyn DynVisitor<'de>,
    ) -> Result<(), Error>;
}

/// An erased part used twice; serde's protocol forbids it, so only a bug reaches this.
fn reused() -> Error {
    de::Error::custom("internal error: a deserializer part was used twice")
}

/// `e` as this module's error: serde-saphyr's error boxed when it is one (every deserializer
/// under [`GoRules`](super::go::GoRules) uses that type), else its text.
fn to_saphyr<E: de::Error>(e: E) -> Error {
    match super::go::into_saphyr_error(e) {
        Ok(e) => Error::boxed(e),
        Err(e) => de::Error::custom(e),
    }
}

/// This module's error as the error type a caller's signature names: serde-saphyr's in
/// practice, its text otherwise.
#[cold]
#[inline(never)]
fn from_saphyr<E: de::Error>(e: Error) -> E {
    super::go::from_saphyr_error(e.into_inner())
}

// ---- The config types' side: one concrete deserializer and its accessors. ----

/// The deserializer the config types see.
pub(super) struct DynDe<'a, 'de>(pub(super) &'a mut dyn DynDeserializer<'de>);

/// A visitor in a slot, erased; `K` says which of its methods a request's answer may call.
struct Erase<V, T, K> {
    out: Option<T>,
    visitor: Option<V>,
    kind: std::marker::PhantomData<K>,
}

impl<V, T, K> Erase<V, T, K> {
    fn new(visitor: V) -> Self {
        Erase {
            out: None,
            visitor: Some(visitor),
            kind: std::marker::PhantomData,
        }
    }
}

fn run<'de, K: Dispatch, V: Visitor<'de>>(
    d: &mut dyn DynDeserializer<'de>,
    request: Request,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut erased = Erase::<V, V::Value, K>::new(visitor);
    d.request(request, &mut erased)?;
    erased.out.ok_or_else(reused)
}

impl<'de, V: Visitor<'de>, K: Dispatch> DynVisitor<'de> for Erase<V, V::Value, K> {
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match &self.visitor {
            Some(v) => v.expecting(f),
            None => f.write_str("a value"),
        }
    }

    fn visit(&mut self, input: Input<'_, 'de>) -> Result<(), Error> {
        let v = self.visitor.take().ok_or_else(reused)?;
        self.out = Some(K::visit(v, input)?);
        Ok(())
    }
}

/// Which visitor methods the answer to a request may call. A request for a struct, map,
/// list, enum, option or newtype is answered with that shape or refused: any other input gets
/// the error serde's default visitor method gives it (`invalid type: …, expected …`), made in
/// one place. So serde's default methods are not compiled for every visitor type, nor the
/// derived structs' `visit_seq` (a struct written as a YAML list, which Go refuses too).
trait Dispatch {
    fn visit<'de, V: Visitor<'de>>(v: V, input: Input<'_, 'de>) -> Result<V::Value, Error>;
}

/// Every input: scalars, `deserialize_any`, identifiers.
struct AnyInput;
/// A mapping: structs, maps, struct variants.
struct MapInput;
/// A sequence: lists, tuples, tuple structs and variants.
struct SeqInput;
/// An enum.
struct EnumInput;
/// Null or a value.
struct OptionInput;
/// A newtype struct's content.
struct NewtypeInput;
/// Null.
struct UnitInput;

/// What serde's default visitor method for `input` says, as it says it.
#[cold]
#[inline(never)]
fn refuse(input: &Input, expected: &dyn de::Expected) -> Error {
    let unexpected = match *input {
        Input::Bool(b) => de::Unexpected::Bool(b),
        Input::I64(n) => de::Unexpected::Signed(n),
        Input::U64(n) => de::Unexpected::Unsigned(n),
        Input::F64(n) => de::Unexpected::Float(n),
        Input::Str(s) => de::Unexpected::Str(s),
        Input::Bytes(b) => de::Unexpected::Bytes(b),
        Input::None | Input::Some(_) => de::Unexpected::Option,
        Input::Unit => de::Unexpected::Unit,
        Input::NewtypeStruct(_) => de::Unexpected::NewtypeStruct,
        Input::Seq(_) => de::Unexpected::Seq,
        Input::Map(_) => de::Unexpected::Map,
        Input::Enum(_) => de::Unexpected::Enum,
    };
    de::Error::invalid_type(unexpected, expected)
}

impl Dispatch for AnyInput {
    fn visit<'de, V: Visitor<'de>>(v: V, input: Input<'_, 'de>) -> Result<V::Value, Error> {
        match input {
            Input::Bool(b) => v.visit_bool(b),
            Input::I64(n) => v.visit_i64(n),
            Input::U64(n) => v.visit_u64(n),
            Input::F64(n) => v.visit_f64(n),
            Input::Str(s) => v.visit_str(s),
            Input::Bytes(b) => v.visit_bytes(b),
            Input::None => v.visit_none(),
            Input::Unit => v.visit_unit(),
            Input::Some(d) => v.visit_some(DynDe(d)),
            Input::NewtypeStruct(d) => v.visit_newtype_struct(DynDe(d)),
            Input::Seq(s) => v.visit_seq(SeqRef(s)),
            Input::Map(m) => v.visit_map(MapRef(m)),
            Input::Enum(e) => v.visit_enum(EnumRef(e)),
        }
    }
}

/// Dispatch for kinds that take only the listed inputs; any other is refused with serde's
/// default error ([`refuse`]).
macro_rules! only {
    ($($kind:ident: |$v:ident| { $($input:pat => $call:expr,)+ })*) => {$(
        impl Dispatch for $kind {
            fn visit<'de, V: Visitor<'de>>(
                $v: V,
                input: Input<'_, 'de>,
            ) -> Result<V::Value, Error> {
                match input {
                    $($input => $call,)+
                    other => Err(refuse(&other, &$v)),
                }
            }
        }
    )*};
}

only! {
    MapInput: |v| { Input::Map(m) => v.visit_map(MapRef(m)), }
    SeqInput: |v| { Input::Seq(s) => v.visit_seq(SeqRef(s)), }
    EnumInput: |v| { Input::Enum(e) => v.visit_enum(EnumRef(e)), }
    OptionInput: |v| {
        Input::None => v.visit_none(),
        Input::Unit => v.visit_unit(),
        Input::Some(d) => v.visit_some(DynDe(d)),
    }
    NewtypeInput: |v| { Input::NewtypeStruct(d) => v.visit_newtype_struct(DynDe(d)), }
    UnitInput: |v| { Input::Unit => v.visit_unit(), }
}

/// A seed in a slot, erased.
struct EraseSeed<S, T> {
    seed: Option<S>,
    out: Option<T>,
}

impl<S> EraseSeed<S, ()> {
    fn new<'de>(seed: S) -> EraseSeed<S, S::Value>
    where
        S: DeserializeSeed<'de>,
    {
        EraseSeed {
            seed: Some(seed),
            out: None,
        }
    }
}

impl<'de, S: DeserializeSeed<'de>> DynSeed<'de> for EraseSeed<S, S::Value> {
    fn deserialize(&mut self, d: &mut dyn DynDeserializer<'de>) -> Result<(), Error> {
        let seed = self.seed.take().ok_or_else(reused)?;
        self.out = Some(seed.deserialize(DynDe(d))?);
        Ok(())
    }
}

macro_rules! requests {
    ($($method:ident => $request:ident / $kind:ident),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            run::<$kind, V>(self.0, Request::$request, visitor)
        }
    )*};
}

impl<'de> Deserializer<'de> for DynDe<'_, 'de> {
    type Error = Error;

    requests! {
        deserialize_any => Any / AnyInput, deserialize_bool => Bool / AnyInput,
        deserialize_i8 => I8 / AnyInput, deserialize_i16 => I16 / AnyInput,
        deserialize_i32 => I32 / AnyInput, deserialize_i64 => I64 / AnyInput,
        deserialize_i128 => I128 / AnyInput,
        deserialize_u8 => U8 / AnyInput, deserialize_u16 => U16 / AnyInput,
        deserialize_u32 => U32 / AnyInput, deserialize_u64 => U64 / AnyInput,
        deserialize_u128 => U128 / AnyInput,
        deserialize_f32 => F32 / AnyInput, deserialize_f64 => F64 / AnyInput,
        deserialize_char => Char / AnyInput,
        deserialize_str => Str / AnyInput, deserialize_string => String / AnyInput,
        deserialize_bytes => Bytes / AnyInput, deserialize_byte_buf => ByteBuf / AnyInput,
        deserialize_option => Option / OptionInput, deserialize_unit => Unit / UnitInput,
        deserialize_seq => Seq / SeqInput, deserialize_map => Map / MapInput,
        // Field names: a flattened struct's field visitor takes keys of every type.
        deserialize_identifier => Identifier / AnyInput,
        deserialize_ignored_any => IgnoredAny / AnyInput,
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        run::<UnitInput, V>(self.0, Request::UnitStruct(name), visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        run::<NewtypeInput, V>(self.0, Request::NewtypeStruct(name), visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        run::<SeqInput, V>(self.0, Request::Tuple(len), visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        run::<SeqInput, V>(self.0, Request::TupleStruct(name, len), visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        run::<MapInput, V>(self.0, Request::Struct(name, fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        run::<EnumInput, V>(self.0, Request::Enum(name, variants), visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

struct SeqRef<'a, 'de>(&'a mut dyn DynSeq<'de>);

impl<'de> SeqAccess<'de> for SeqRef<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        let mut erased = EraseSeed::new(seed);
        if !self.0.next(&mut erased)? {
            return Ok(None);
        }
        erased.out.ok_or_else(reused).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct MapRef<'a, 'de>(&'a mut dyn DynMap<'de>);

impl<'de> MapAccess<'de> for MapRef<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        let mut erased = EraseSeed::new(seed);
        if !self.0.next_key(&mut erased)? {
            return Ok(None);
        }
        erased.out.ok_or_else(reused).map(Some)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        let mut erased = EraseSeed::new(seed);
        self.0.next_value(&mut erased)?;
        erased.out.ok_or_else(reused)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct EnumRef<'a, 'de>(&'a mut dyn DynEnum<'de>);

impl<'a, 'de> EnumAccess<'de> for EnumRef<'a, 'de> {
    type Error = Error;
    type Variant = EnumRef<'a, 'de>;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self), Error> {
        let mut erased = EraseSeed::new(seed);
        self.0.variant(&mut erased)?;
        let value = erased.out.ok_or_else(reused)?;
        Ok((value, self))
    }
}

impl<'de> VariantAccess<'de> for EnumRef<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        self.0.unit()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        let mut erased = EraseSeed::new(seed);
        self.0.newtype(&mut erased)?;
        erased.out.ok_or_else(reused)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut erased = Erase::<V, V::Value, SeqInput>::new(visitor);
        self.0.tuple(len, &mut erased)?;
        erased.out.ok_or_else(reused)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let mut erased = Erase::<V, V::Value, MapInput>::new(visitor);
        self.0.fields(fields, &mut erased)?;
        erased.out.ok_or_else(reused)
    }
}

// ---- The deserializer's side: any serde deserializer behind the erased traits. ----

/// A deserializer, erased; `None` once used.
pub(super) struct Holder<D>(pub(super) Option<D>);

impl<'de, D: Deserializer<'de>> DynDeserializer<'de> for Holder<D> {
    fn request(
        &mut self,
        request: Request,
        visitor: &mut dyn DynVisitor<'de>,
    ) -> Result<(), Error> {
        let d = self.0.take().ok_or_else(reused)?;
        let v = VisitorRef(visitor);
        let result = match request {
            Request::Any => d.deserialize_any(v),
            Request::Bool => d.deserialize_bool(v),
            Request::I8 => d.deserialize_i8(v),
            Request::I16 => d.deserialize_i16(v),
            Request::I32 => d.deserialize_i32(v),
            Request::I64 => d.deserialize_i64(v),
            Request::I128 => d.deserialize_i128(v),
            Request::U8 => d.deserialize_u8(v),
            Request::U16 => d.deserialize_u16(v),
            Request::U32 => d.deserialize_u32(v),
            Request::U64 => d.deserialize_u64(v),
            Request::U128 => d.deserialize_u128(v),
            Request::F32 => d.deserialize_f32(v),
            Request::F64 => d.deserialize_f64(v),
            Request::Char => d.deserialize_char(v),
            Request::Str => d.deserialize_str(v),
            Request::String => d.deserialize_string(v),
            Request::Bytes => d.deserialize_bytes(v),
            Request::ByteBuf => d.deserialize_byte_buf(v),
            Request::Option => d.deserialize_option(v),
            Request::Unit => d.deserialize_unit(v),
            Request::UnitStruct(name) => d.deserialize_unit_struct(name, v),
            Request::NewtypeStruct(name) => d.deserialize_newtype_struct(name, v),
            Request::Seq => d.deserialize_seq(v),
            Request::Tuple(len) => d.deserialize_tuple(len, v),
            Request::TupleStruct(name, len) => d.deserialize_tuple_struct(name, len, v),
            Request::Map => d.deserialize_map(v),
            Request::Struct(name, fields) => d.deserialize_struct(name, fields, v),
            Request::Enum(name, variants) => d.deserialize_enum(name, variants, v),
            Request::Identifier => d.deserialize_identifier(v),
            Request::IgnoredAny => d.deserialize_ignored_any(v),
        };
        result.map_err(to_saphyr)
    }

    fn is_human_readable(&self) -> bool {
        self.0.as_ref().is_none_or(|d| d.is_human_readable())
    }
}

/// No config field holds more than 64 bits, so a 128-bit integer that does not fit in 64 is
/// refused here, once, rather than by serde's default `visit_i128` in every visitor.
#[cold]
#[inline(never)]
fn past_64_bits<E: de::Error>(v: impl fmt::Display, expected: &dyn de::Expected) -> E {
    E::invalid_value(de::Unexpected::Other(&format!("integer `{v}`")), expected)
}

/// An erased visitor as a serde visitor.
struct VisitorRef<'a, 'de>(&'a mut dyn DynVisitor<'de>);

impl<'de> Visitor<'de> for VisitorRef<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.visit(Input::Bool(v)).map_err(from_saphyr)
    }
    fn visit_i8<E: de::Error>(self, v: i8) -> Result<(), E> {
        self.visit_i64(v.into())
    }
    fn visit_i16<E: de::Error>(self, v: i16) -> Result<(), E> {
        self.visit_i64(v.into())
    }
    fn visit_i32<E: de::Error>(self, v: i32) -> Result<(), E> {
        self.visit_i64(v.into())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.visit(Input::I64(v)).map_err(from_saphyr)
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<(), E> {
        match (i64::try_from(v), u64::try_from(v)) {
            (Ok(v), _) => self.visit_i64(v),
            (_, Ok(v)) => self.visit_u64(v),
            _ => Err(past_64_bits(v, &self)),
        }
    }
    fn visit_u8<E: de::Error>(self, v: u8) -> Result<(), E> {
        self.visit_u64(v.into())
    }
    fn visit_u16<E: de::Error>(self, v: u16) -> Result<(), E> {
        self.visit_u64(v.into())
    }
    fn visit_u32<E: de::Error>(self, v: u32) -> Result<(), E> {
        self.visit_u64(v.into())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.visit(Input::U64(v)).map_err(from_saphyr)
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<(), E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(past_64_bits(v, &self)),
        }
    }
    fn visit_f32<E: de::Error>(self, v: f32) -> Result<(), E> {
        self.visit_f64(v.into())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.visit(Input::F64(v)).map_err(from_saphyr)
    }
    fn visit_char<E: de::Error>(self, v: char) -> Result<(), E> {
        self.visit_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.visit(Input::Str(v)).map_err(from_saphyr)
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<(), E> {
        self.0.visit(Input::Bytes(v)).map_err(from_saphyr)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.0.visit(Input::None).map_err(from_saphyr)
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.visit(Input::Unit).map_err(from_saphyr)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let mut held = Holder(Some(d));
        self.0.visit(Input::Some(&mut held)).map_err(from_saphyr)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let mut held = Holder(Some(d));
        self.0
            .visit(Input::NewtypeStruct(&mut held))
            .map_err(from_saphyr)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let mut held = SeqHolder(seq);
        self.0.visit(Input::Seq(&mut held)).map_err(from_saphyr)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let mut held = MapHolder(map);
        self.0.visit(Input::Map(&mut held)).map_err(from_saphyr)
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let mut held = EnumHolder {
            access: Some(data),
            variant: None,
        };
        self.0.visit(Input::Enum(&mut held)).map_err(from_saphyr)
    }
}

/// An erased seed as a serde seed.
struct SeedRef<'a, 'de>(&'a mut dyn DynSeed<'de>);

impl<'de> DeserializeSeed<'de> for SeedRef<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let mut held = Holder(Some(d));
        self.0.deserialize(&mut held).map_err(from_saphyr)
    }
}

struct SeqHolder<A>(A);

impl<'de, A: SeqAccess<'de>> DynSeq<'de> for SeqHolder<A> {
    fn next(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<bool, Error> {
        self.0
            .next_element_seed(SeedRef(seed))
            .map(|v| v.is_some())
            .map_err(to_saphyr)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

struct MapHolder<A>(A);

impl<'de, A: MapAccess<'de>> DynMap<'de> for MapHolder<A> {
    fn next_key(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<bool, Error> {
        self.0
            .next_key_seed(SeedRef(seed))
            .map(|k| k.is_some())
            .map_err(to_saphyr)
    }

    fn next_value(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error> {
        self.0.next_value_seed(SeedRef(seed)).map_err(to_saphyr)
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

/// An enum access before and after its variant is read.
struct EnumHolder<'de, A: EnumAccess<'de>> {
    access: Option<A>,
    variant: Option<A::Variant>,
}

impl<'de, A: EnumAccess<'de>> EnumHolder<'de, A> {
    fn take_variant(&mut self) -> Result<A::Variant, Error> {
        self.variant.take().ok_or_else(reused)
    }
}

impl<'de, A: EnumAccess<'de>> DynEnum<'de> for EnumHolder<'de, A> {
    fn variant(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error> {
        let access = self.access.take().ok_or_else(reused)?;
        let ((), variant) = access.variant_seed(SeedRef(seed)).map_err(to_saphyr)?;
        self.variant = Some(variant);
        Ok(())
    }

    fn unit(&mut self) -> Result<(), Error> {
        self.take_variant()?.unit_variant().map_err(to_saphyr)
    }

    fn newtype(&mut self, seed: &mut dyn DynSeed<'de>) -> Result<(), Error> {
        self.take_variant()?
            .newtype_variant_seed(SeedRef(seed))
            .map_err(to_saphyr)
    }

    fn tuple(&mut self, len: usize, visitor: &mut dyn DynVisitor<'de>) -> Result<(), Error> {
        self.take_variant()?
            .tuple_variant(len, VisitorRef(visitor))
            .map_err(to_saphyr)
    }

    fn fields(
        &mut self,
        fields: &'static [&'static str],
        visitor: &mut dyn DynVisitor<'de>,
    ) -> Result<(), Error> {
        self.take_variant()?
            .struct_variant(fields, VisitorRef(visitor))
            .map_err(to_saphyr)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::super::from_str;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Shape {
        Dot,
        Circle(f64),
        Pair(i64, i64),
        Rect { w: u32, h: u32 },
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Doc {
        #[serde(default)]
        shapes: Vec<Shape>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        small: i8,
        #[serde(default)]
        big: u64,
        #[serde(default)]
        negative: i64,
        #[serde(default)]
        flag: bool,
        #[serde(default)]
        letter: Option<char>,
        #[serde(default)]
        labels: BTreeMap<String, String>,
        #[serde(default)]
        wrapped: Option<Wrapped>,
        #[serde(default)]
        pair: Option<(String, u16)>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Wrapped(String);

    #[test]
    fn every_shape_of_value_crosses_the_erased_layer() {
        let doc: Doc = from_str(
            "shapes: [dot, {circle: 1.5}, {pair: [-1, 2]}, {rect: {w: 3, h: 4}}]\n\
             name: n\nsmall: -8\nbig: 18446744073709551615\nnegative: -9223372036854775808\n\
             flag: true\nletter: x\nlabels: {a: b, c: d}\nwrapped: w\npair: [p, 80]\n",
        )
        .expect("a valid document");
        assert_eq!(
            doc,
            Doc {
                shapes: vec![
                    Shape::Dot,
                    Shape::Circle(1.5),
                    Shape::Pair(-1, 2),
                    Shape::Rect { w: 3, h: 4 },
                ],
                name: Some("n".into()),
                small: -8,
                big: u64::MAX,
                negative: i64::MIN,
                flag: true,
                letter: Some('x'),
                labels: [("a", "b"), ("c", "d")]
                    .into_iter()
                    .map(|(k, v)| (k.into(), v.into()))
                    .collect(),
                wrapped: Some(Wrapped("w".into())),
                pair: Some(("p".into(), 80)),
            }
        );
    }

    #[test]
    fn an_error_keeps_its_position_across_the_erased_layer() {
        let e = from_str::<Doc>("flag: true\nshapes:\n  - dot\n  - {rect: {w: 3, h: x}}\n")
            .expect_err("h is not a number");
        let at = e.location().expect("a position");
        // A value's error points at its key, as for every config error.
        assert_eq!((at.line(), at.column()), (4, 19), "{e}");
        assert!(e.to_string().contains("`x`"), "{e}");
    }

    #[test]
    fn an_unknown_variant_is_named() {
        let e = from_str::<Doc>("shapes: [square]\n").expect_err("no such shape");
        let text = e.to_string();
        assert!(text.contains("square") && text.contains("circle"), "{text}");
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_refused() {
        for (yaml, want) in [
            ("[[dot], n]\n", "mapping"),
            ("shapes: [{rect: [3, 4]}]\n", "mapping"),
            ("shapes: {dot: 1}\n", "sequence"),
            ("wrapped: [w]\n", "string"),
            ("name: {a: b}\n", "string"),
        ] {
            let e = from_str::<Doc>(yaml).expect_err(yaml);
            assert!(e.to_string().contains(want), "{yaml}: {e}");
            assert!(e.location().is_some(), "{yaml}: {e}");
        }
    }

    #[test]
    fn an_integer_past_64_bits_is_refused_not_wrapped() {
        let e = from_str::<Doc>("big: 18446744073709551616\n").expect_err("too big");
        assert!(e.location().is_some(), "{e}");
        let e = from_str::<Doc>("small: 300\n").expect_err("too big for i8");
        assert!(e.to_string().contains("300"), "{e}");
    }
}
