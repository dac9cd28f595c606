//! The runtime of the generated decoders: the protobuf wire reader, the
//! [`ProtoMessage`] trait the generated code implements for each k8s-openapi struct,
//! and the field helpers (`opt`, `repeated`, `map`, …) whose trait dispatch on
//! [`Value`] picks the decoding of each field type.

pub(crate) use super::error::DecodeError;
use std::collections::BTreeMap;

/// Nesting limit for embedded messages (JSON schemas nest; hostile input must not
/// exhaust the stack).
pub(crate) const MAX_DEPTH: u32 = 100;

/// A protobuf wire type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireType {
    Varint,
    Fixed64,
    Len,
    Fixed32,
}

/// Reads one protobuf message's bytes.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    depth: u32,
    /// The raw key (tag and wire type) [`Reader::key`] returned last.
    last_key: u64,
}

/// At most this many elements are reserved ahead for a repeated field (more grow the
/// vector as usual), so a hostile run of empty elements cannot reserve much.
const MAX_RESERVE_AHEAD: usize = 1 << 16;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            depth: 0,
            last_key: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// How many bytes are left to read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for (i, &b) in self.buf.iter().enumerate().take(10) {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                if i == 9 && b > 1 {
                    return Err(DecodeError::VarintOverflow);
                }
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        if self.buf.len() >= 10 {
            Err(DecodeError::VarintOverflow)
        } else {
            Err(DecodeError::Truncated)
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// The next field key, `None` at the end of the message.
    pub(crate) fn key(&mut self) -> Result<Option<(u32, WireType)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        self.last_key = key;
        let tag = u32::try_from(key >> 3).map_err(|_| DecodeError::BadTag)?;
        if tag == 0 {
            return Err(DecodeError::BadTag);
        }
        let wt = match key & 7 {
            0 => WireType::Varint,
            1 => WireType::Fixed64,
            2 => WireType::Len,
            5 => WireType::Fixed32,
            other => {
                return Err(DecodeError::UnsupportedWireType {
                    tag,
                    wire_type: other as u8,
                });
            }
        };
        Ok(Some((tag, wt)))
    }

    /// The bytes of a length-delimited field.
    pub(crate) fn bytes(&mut self, wt: WireType) -> Result<&'a [u8], DecodeError> {
        expect(wt, WireType::Len)?;
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
        self.take(len)
    }

    pub(crate) fn fixed64(&mut self, wt: WireType) -> Result<u64, DecodeError> {
        expect(wt, WireType::Fixed64)?;
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    pub(crate) fn varint_field(&mut self, wt: WireType) -> Result<u64, DecodeError> {
        expect(wt, WireType::Varint)?;
        self.varint()
    }

    /// A reader for an embedded message, one level deeper.
    pub(crate) fn sub(&self, buf: &'a [u8]) -> Result<Reader<'a>, DecodeError> {
        if self.depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep { limit: MAX_DEPTH });
        }
        Ok(Reader {
            buf,
            depth: self.depth + 1,
            last_key: 0,
        })
    }

    /// How many occurrences of the field whose key was just read stand back to back
    /// from here (this one included), as an encoder writes a repeated field. A
    /// malformed tail ends the count; decoding reports it.
    fn run_length(&self, wt: WireType) -> usize {
        let mut ahead = Reader::new(self.buf);
        let mut n = 0;
        while n < MAX_RESERVE_AHEAD && ahead.skip(wt).is_ok() {
            n += 1;
            match ahead.varint() {
                Ok(key) if key == self.last_key => {}
                _ => break,
            }
        }
        n.max(1)
    }

    /// Skips a field this decoder does not know (a newer server's field).
    pub(crate) fn skip(&mut self, wt: WireType) -> Result<(), DecodeError> {
        match wt {
            WireType::Varint => self.varint().map(drop),
            WireType::Fixed64 => self.take(8).map(drop),
            WireType::Fixed32 => self.take(4).map(drop),
            WireType::Len => self.bytes(wt).map(drop),
        }
    }
}

fn expect(got: WireType, want: WireType) -> Result<(), DecodeError> {
    if got == want {
        Ok(())
    } else {
        Err(DecodeError::WireTypeMismatch)
    }
}

/// A message decoded field by field into an existing value (protobuf merge semantics).
pub(crate) trait ProtoMessage: PartialEq {
    /// The value of an empty message (Go's zero value).
    fn empty() -> Self;

    /// Decodes field `tag` from `r` into `self`; unknown tags are skipped.
    fn merge_field(
        &mut self,
        tag: u32,
        wt: WireType,
        r: &mut Reader<'_>,
    ) -> Result<(), DecodeError>;
}

/// Merges every field of `r` into `msg`.
pub(crate) fn merge_message<T: ProtoMessage>(
    msg: &mut T,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    while let Some((tag, wt)) = r.key()? {
        msg.merge_field(tag, wt, r)?;
    }
    Ok(())
}

/// Decodes a whole message from `bytes` (no envelope).
pub(crate) fn decode_message<T: ProtoMessage>(bytes: &[u8]) -> Result<T, DecodeError> {
    let mut msg = T::empty();
    merge_message(&mut msg, &mut Reader::new(bytes))?;
    Ok(msg)
}

/// Go's zero `time.Time` (0001-01-01T00:00:00Z): an empty `Time` message, `null` in JSON.
pub(crate) const GO_ZERO_TIME: jiff::Timestamp = jiff::Timestamp::constant(-62_135_596_800, 0);

/// One field value: scalars, strings, bytes, messages and the special types.
pub(crate) trait Value: Sized {
    /// Whether a repeated field of this type may come packed (scalars).
    const PACKABLE: bool = false;

    /// Decodes a fresh value.
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// Merges an occurrence into an existing value (replace for scalars).
    fn merge(&mut self, wt: WireType, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        *self = Self::decode(wt, r)?;
        Ok(())
    }

    /// One element of a repeated field (scalars also accept the packed encoding).
    fn decode_repeated(
        wt: WireType,
        r: &mut Reader<'_>,
        out: &mut Vec<Self>,
    ) -> Result<(), DecodeError> {
        out.push(Self::decode(wt, r)?);
        Ok(())
    }

    /// Whether the value is what JSON shows as `null` (a zero `Time`, empty raw JSON).
    fn is_null(&self) -> bool {
        false
    }

    /// Whether the value is Go's zero value (absent from JSON under `omitempty`).
    fn is_zero(&self) -> bool {
        false
    }
}

impl<T: ProtoMessage> Value for T {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut v = T::empty();
        v.merge(wt, r)?;
        Ok(v)
    }

    fn merge(&mut self, wt: WireType, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        let bytes = r.bytes(wt)?;
        merge_message(self, &mut r.sub(bytes)?)
    }

    fn is_zero(&self) -> bool {
        *self == T::empty()
    }
}

/// A named Go slice (`type ExtraValue []string`): a message whose field 1 holds the
/// elements.
impl<T: Value> Value for Vec<T> {
    fn decode(wt: WireType, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut out = Vec::new();
        inline(wt, r, |tag, wt, r| match tag {
            1 => repeated(&mut out, wt, r),
            _ => r.skip(wt),
        })?;
        Ok(out)
    }
}

/// Decodes the fields of an embedded message with `f` (an inlined Go struct whose
/// fields JSON, and so k8s-openapi, flattens into the outer object).
pub(crate) fn inline<'a, F>(wt: WireType, r: &mut Reader<'a>, mut f: F) -> Result<(), DecodeError>
where
    F: FnMut(u32, WireType, &mut Reader<'a>) -> Result<(), DecodeError>,
{
    let bytes = r.bytes(wt)?;
    let mut sub = r.sub(bytes)?;
    while let Some((tag, wt)) = sub.key()? {
        f(tag, wt, &mut sub)?;
    }
    Ok(())
}

/// An empty Go struct: its fields are skipped and it is `{}`, as in JSON.
pub(crate) fn empty_object(
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<serde_json::Value, DecodeError> {
    inline(wt, r, |_, wt, r| r.skip(wt))?;
    Ok(serde_json::Value::Object(serde_json::Map::new()))
}

/// A required (non-`Option`) field.
pub(crate) fn value<T: Value>(
    f: &mut T,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    f.merge(wt, r)
}

/// An optional field; a value JSON shows as `null` stays `None`.
pub(crate) fn opt<T: Value>(
    f: &mut Option<T>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    match f {
        Some(v) => v.merge(wt, r)?,
        None => *f = Some(T::decode(wt, r)?),
    }
    if f.as_ref().is_some_and(Value::is_null) {
        *f = None;
    }
    Ok(())
}

/// An optional field of a non-pointer Go field with `omitempty`: Go's zero value is
/// always on the wire but absent from JSON, so it stays `None`.
pub(crate) fn opt_omit_zero<T: Value>(
    f: &mut Option<T>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    opt(f, wt, r)?;
    if f.as_ref().is_some_and(Value::is_zero) {
        *f = None;
    }
    Ok(())
}

/// An optional boxed field.
pub(crate) fn opt_box<T: Value>(
    f: &mut Option<Box<T>>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    match f {
        Some(v) => (**v).merge(wt, r)?,
        None => *f = Some(Box::new(T::decode(wt, r)?)),
    }
    if f.as_deref().is_some_and(Value::is_null) {
        *f = None;
    }
    Ok(())
}

/// One element of a repeated field. The first one reserves room for the whole run of
/// elements that follows, so decoded vectors hold no spare capacity (objects kept in a
/// cache for long stay as small as they can).
pub(crate) fn repeated<T: Value>(
    f: &mut Vec<T>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    let packed = T::PACKABLE && wt == WireType::Len;
    if f.capacity() == 0 && !packed {
        f.reserve_exact(r.run_length(wt));
    }
    T::decode_repeated(wt, r, f)
}

/// One element of an optional repeated field.
pub(crate) fn opt_repeated<T: Value>(
    f: &mut Option<Vec<T>>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    repeated(f.get_or_insert_with(Vec::new), wt, r)
}

/// One entry of a `map<string, V>` field (key 1, value 2; a missing value is V's
/// empty encoding).
pub(crate) fn map<T: Value>(
    f: &mut BTreeMap<String, T>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    let bytes = r.bytes(wt)?;
    let mut entry = r.sub(bytes)?;
    let mut key = String::new();
    let mut value: Option<T> = None;
    while let Some((tag, wt)) = entry.key()? {
        match tag {
            1 => key = String::decode(wt, &mut entry)?,
            2 => match &mut value {
                Some(v) => v.merge(wt, &mut entry)?,
                None => value = Some(T::decode(wt, &mut entry)?),
            },
            _ => entry.skip(wt)?,
        }
    }
    let value = match value {
        Some(v) => v,
        None => T::decode(WireType::Len, &mut Reader::new(&[0]))?,
    };
    f.insert(key, value);
    Ok(())
}

/// One entry of an optional map field.
pub(crate) fn opt_map<T: Value>(
    f: &mut Option<BTreeMap<String, T>>,
    wt: WireType,
    r: &mut Reader<'_>,
) -> Result<(), DecodeError> {
    map(f.get_or_insert_with(BTreeMap::new), wt, r)
}

impl<K: ProtoMessage> ProtoMessage for crate::api::ObjectList<K> {
    fn empty() -> Self {
        Self {
            metadata: Default::default(),
            items: Vec::new(),
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wt: WireType,
        r: &mut Reader<'_>,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => value(&mut self.metadata, wt, r),
            2 => repeated(&mut self.items, wt, r),
            _ => r.skip(wt),
        }
    }
}
