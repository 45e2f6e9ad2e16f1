//! KMIP's TTLV encoding (Tag, Type, Length, Value; KMIP 1.x spec section 9.1): just the item
//! types the key manager's answers use, with every length checked on the way in.
//!
//! An item is a 3-byte tag, a 1-byte type, a 4-byte big-endian length and the value, padded
//! with zeros to a multiple of 8 bytes. A structure's value is its items, one after another.

/// A TTLV item type code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    Structure = 0x01,
    Integer = 0x02,
    LongInteger = 0x03,
    BigInteger = 0x04,
    Enumeration = 0x05,
    Boolean = 0x06,
    TextString = 0x07,
    ByteString = 0x08,
    DateTime = 0x09,
    Interval = 0x0A,
}

/// A decoded value.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Items in order.
    Structure(Vec<Item>),
    /// 32-bit signed.
    Integer(i32),
    /// 64-bit signed.
    LongInteger(i64),
    /// Big-endian two's complement, kept as bytes.
    BigInteger(Vec<u8>),
    /// 32-bit enumeration value.
    Enumeration(u32),
    /// True or false.
    Boolean(bool),
    /// UTF-8.
    Text(String),
    /// Raw bytes: key material travels as these.
    Bytes(Vec<u8>),
    /// Seconds since the Unix epoch.
    DateTime(i64),
    /// Seconds.
    Interval(u32),
}

/// Byte strings may hold key material: never printed.
impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Structure(items) => f.debug_list().entries(items).finish(),
            Self::Integer(v) => write!(f, "Integer({v})"),
            Self::LongInteger(v) => write!(f, "LongInteger({v})"),
            Self::BigInteger(v) => write!(f, "BigInteger({} bytes)", v.len()),
            Self::Enumeration(v) => write!(f, "Enumeration({v:#x})"),
            Self::Boolean(v) => write!(f, "Boolean({v})"),
            Self::Text(v) => write!(f, "Text({v:?})"),
            Self::Bytes(v) => write!(f, "Bytes({} bytes)", v.len()),
            Self::DateTime(v) => write!(f, "DateTime({v})"),
            Self::Interval(v) => write!(f, "Interval({v})"),
        }
    }
}

/// One tagged item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The 24-bit tag (0x42xxxx for the standard ones).
    pub tag: u32,
    /// Its value.
    pub value: Value,
}

/// Why bytes are not a TTLV item.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TtlvError {
    /// The input ends inside an item.
    #[error("TTLV truncated")]
    Truncated,
    /// An unknown type code.
    #[error("TTLV type {0:#04x} unknown")]
    UnknownType(u8),
    /// A fixed-size type with the wrong length, or bad padding.
    #[error("TTLV item {tag:#08x}: {what}")]
    Malformed {
        /// The item's tag.
        tag: u32,
        /// What is wrong.
        what: &'static str,
    },
    /// Structures nested deeper than any KMIP message needs.
    #[error("TTLV nested too deep")]
    TooDeep,
    /// Bytes after the one top-level item.
    #[error("TTLV has trailing bytes")]
    Trailing,
}

/// Deeper than any KMIP 1.x/2.x message: a bound against hostile input.
const MAX_DEPTH: usize = 16;

impl Item {
    /// An item.
    pub fn new(tag: u32, value: Value) -> Self {
        Self { tag, value }
    }

    /// A structure of `items`.
    pub fn structure(tag: u32, items: Vec<Item>) -> Self {
        Self::new(tag, Value::Structure(items))
    }

    /// The first child with `tag`, if this is a structure that has one.
    pub fn child(&self, tag: u32) -> Option<&Item> {
        self.children().iter().find(|i| i.tag == tag)
    }

    /// Every child with `tag`.
    pub fn children_with(&self, tag: u32) -> impl Iterator<Item = &Item> {
        self.children().iter().filter(move |i| i.tag == tag)
    }

    fn children(&self) -> &[Item] {
        match &self.value {
            Value::Structure(items) => items,
            _ => &[],
        }
    }

    /// The value as text, if it is one.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an enumeration, if it is one.
    pub fn enumeration(&self) -> Option<u32> {
        match self.value {
            Value::Enumeration(v) => Some(v),
            _ => None,
        }
    }

    /// The value as an integer, if it is one.
    pub fn integer(&self) -> Option<i32> {
        match self.value {
            Value::Integer(v) => Some(v),
            _ => None,
        }
    }

    /// The value as bytes, if it is a byte string.
    pub fn bytes(&self) -> Option<&[u8]> {
        match &self.value {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The encoded item.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.tag.to_be_bytes()[1..]);
        let start = out.len();
        out.extend_from_slice(&[0; 5]);
        let kind = match &self.value {
            Value::Structure(items) => {
                for item in items {
                    item.encode_into(out);
                }
                Kind::Structure
            }
            Value::Integer(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                Kind::Integer
            }
            Value::LongInteger(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                Kind::LongInteger
            }
            Value::BigInteger(v) => {
                out.extend_from_slice(v);
                Kind::BigInteger
            }
            Value::Enumeration(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                Kind::Enumeration
            }
            Value::Boolean(v) => {
                out.extend_from_slice(&u64::from(*v).to_be_bytes());
                Kind::Boolean
            }
            Value::Text(s) => {
                out.extend_from_slice(s.as_bytes());
                Kind::TextString
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b);
                Kind::ByteString
            }
            Value::DateTime(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                Kind::DateTime
            }
            Value::Interval(v) => {
                out.extend_from_slice(&v.to_be_bytes());
                Kind::Interval
            }
        };
        let len = out.len() - start - 5;
        out[start] = kind as u8;
        // A message is a few hundred bytes: far below u32::MAX.
        out[start + 1..start + 5].copy_from_slice(&(len as u32).to_be_bytes());
        out.resize(out.len() + padding(len), 0);
    }

    /// Decodes exactly one item filling `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, TtlvError> {
        let (item, used) = decode_at(bytes, 0)?;
        if used != bytes.len() {
            return Err(TtlvError::Trailing);
        }
        Ok(item)
    }
}

/// Zero bytes after a value of `len` bytes, to the next multiple of 8.
fn padding(len: usize) -> usize {
    (8 - len % 8) % 8
}

/// The total length of the item whose 8-byte head is `head` (head, value and padding), as a
/// reader needs it to know how much more to read.
pub fn item_len(head: &[u8; 8]) -> usize {
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    8 + len + padding(len)
}

fn decode_at(bytes: &[u8], depth: usize) -> Result<(Item, usize), TtlvError> {
    if depth > MAX_DEPTH {
        return Err(TtlvError::TooDeep);
    }
    let head: &[u8; 8] = bytes
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .ok_or(TtlvError::Truncated)?;
    let tag = u32::from_be_bytes([0, head[0], head[1], head[2]]);
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let total = item_len(head);
    let body = bytes.get(8..8 + len).ok_or(TtlvError::Truncated)?;
    let pad = bytes.get(8 + len..total).ok_or(TtlvError::Truncated)?;
    let malformed = |what| TtlvError::Malformed { tag, what };
    if pad.iter().any(|&b| b != 0) {
        return Err(malformed("non-zero padding"));
    }
    let fixed = |n: usize| -> Result<&[u8], TtlvError> {
        if len == n {
            Ok(body)
        } else {
            Err(malformed("wrong length"))
        }
    };
    let be4 = |b: &[u8]| [b[0], b[1], b[2], b[3]];
    let be8 = |b: &[u8]| [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]];
    let value = match head[3] {
        0x01 => {
            let mut items = Vec::new();
            let mut at = 0;
            while at < body.len() {
                let (item, used) = decode_at(&body[at..], depth + 1)?;
                items.push(item);
                at += used;
            }
            Value::Structure(items)
        }
        0x02 => Value::Integer(i32::from_be_bytes(be4(fixed(4)?))),
        0x03 => Value::LongInteger(i64::from_be_bytes(be8(fixed(8)?))),
        0x04 => Value::BigInteger(body.to_vec()),
        0x05 => Value::Enumeration(u32::from_be_bytes(be4(fixed(4)?))),
        0x06 => match u64::from_be_bytes(be8(fixed(8)?)) {
            0 => Value::Boolean(false),
            1 => Value::Boolean(true),
            _ => return Err(malformed("boolean not 0 or 1")),
        },
        0x07 => Value::Text(String::from_utf8(body.to_vec()).map_err(|_| malformed("text not UTF-8"))?),
        0x08 => Value::Bytes(body.to_vec()),
        0x09 => Value::DateTime(i64::from_be_bytes(be8(fixed(8)?))),
        0x0A => Value::Interval(u32::from_be_bytes(be4(fixed(4)?))),
        other => return Err(TtlvError::UnknownType(other)),
    };
    Ok((Item { tag, value }, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_the_spec_examples() {
        // KMIP 1.2 spec 9.1.2: an Integer 8 under tag 0x420020.
        assert_eq!(
            Item::new(0x420020, Value::Integer(8)).encode(),
            hex::decode("42002002000000040000000800000000").expect("hex")
        );
        // Text "Hello World" (11 bytes, padded to 16).
        assert_eq!(
            Item::new(0x420020, Value::Text("Hello World".into())).encode(),
            hex::decode("420020070000000B48656C6C6F20576F726C640000000000").expect("hex")
        );
        // A structure holding an Enumeration 254 and an Integer 255.
        let s = Item::structure(
            0x420020,
            vec![
                Item::new(0x420004, Value::Enumeration(254)),
                Item::new(0x420005, Value::Integer(255)),
            ],
        );
        assert_eq!(
            s.encode(),
            hex::decode("42002001000000204200040500000004000000FE000000004200050200000004000000FF00000000")
                .expect("hex")
        );
    }

    #[test]
    fn round_trips_every_type() {
        let item = Item::structure(
            0x420078,
            vec![
                Item::new(0x420001, Value::Integer(-7)),
                Item::new(0x420002, Value::LongInteger(1 << 40)),
                Item::new(0x420003, Value::BigInteger(vec![1; 8])),
                Item::new(0x420004, Value::Enumeration(3)),
                Item::new(0x420005, Value::Boolean(true)),
                Item::new(0x420006, Value::Text("k\u{e9}k-1".into())),
                Item::new(0x420007, Value::Bytes(vec![9; 33])),
                Item::new(0x420008, Value::DateTime(1_700_000_000)),
                Item::new(0x420009, Value::Interval(60)),
                Item::structure(0x42000A, vec![]),
            ],
        );
        let bytes = item.encode();
        assert_eq!(bytes.len() % 8, 0);
        assert_eq!(item_len(bytes[..8].try_into().expect("head")), bytes.len());
        assert_eq!(Item::decode(&bytes), Ok(item));
    }

    #[test]
    fn refuses_malformed_input() {
        let good = Item::structure(0x420078, vec![Item::new(0x420001, Value::Integer(1))]).encode();
        for cut in 0..good.len() {
            assert!(Item::decode(&good[..cut]).is_err(), "truncated at {cut}");
        }
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[0; 8]);
        assert_eq!(Item::decode(&trailing), Err(TtlvError::Trailing));
        let mut bad_type = good.clone();
        bad_type[11] = 0x0B;
        assert_eq!(Item::decode(&bad_type), Err(TtlvError::UnknownType(0x0B)));
        let mut bad_pad = good.clone();
        bad_pad[23] = 1;
        assert!(matches!(Item::decode(&bad_pad), Err(TtlvError::Malformed { .. })));
        let mut bad_len = good;
        bad_len[15] = 5;
        assert!(Item::decode(&bad_len).is_err());
        // Nesting beyond any real message.
        let mut deep = Item::structure(0x420001, vec![]);
        for _ in 0..20 {
            deep = Item::structure(0x420001, vec![deep]);
        }
        assert_eq!(Item::decode(&deep.encode()), Err(TtlvError::TooDeep));
    }

    #[test]
    fn key_bytes_are_not_printed() {
        let item = Item::new(0x420043, Value::Bytes(vec![0xAB; 32]));
        let shown = format!("{item:?}");
        assert!(shown.contains("32 bytes") && !shown.contains("171") && !shown.to_lowercase().contains("ab, "));
    }
}
