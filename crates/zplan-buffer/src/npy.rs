//! The `.npy` header (format 1.0) of a field file: magic, version, little-endian header length,
//! then a Python dict literal padded with spaces to a fixed size, so that the capacity can grow
//! in place without moving the data.
//!
//! ```text
//! \x93NUMPY \x01 \x00 <u16 len> {'descr': '<f4', 'fortran_order': False, 'shape': (C, 4), }   ...\n
//! ```

use crate::error::BufferError;
use std::path::Path;

/// Bytes before the data: magic (6) + version (2) + length (2) + the padded dict. A multiple of
/// 64, as numpy requires, and room for any shape of a few dimensions.
pub const HEADER_LEN: usize = 128;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Element types of the buffer's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// Unsigned byte (images, flags).
    U8,
    /// Little-endian 32-bit unsigned integer (episode ids).
    U32,
    /// Little-endian 32-bit float (actions, rewards).
    F32,
    /// Little-endian 64-bit float (true states).
    F64,
}

impl Dtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U32 | Dtype::F32 => 4,
            Dtype::F64 => 8,
        }
    }

    /// numpy's `descr`.
    pub fn descr(self) -> &'static str {
        match self {
            Dtype::U8 => "|u1",
            Dtype::U32 => "<u4",
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
        }
    }
}

/// The header for `capacity` rows of `row_shape` elements of `dtype`; `Err` when its text does
/// not fit in [`HEADER_LEN`] bytes.
pub fn header(
    dtype: Dtype,
    capacity: usize,
    row_shape: &[usize],
) -> Result<[u8; HEADER_LEN], String> {
    let mut dims = vec![capacity.to_string()];
    dims.extend(row_shape.iter().map(|d| d.to_string()));
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        dtype.descr()
    );
    // Magic, version and length before the dict; the final newline after it.
    if 10 + dict.len() + 1 > HEADER_LEN {
        return Err(format!(
            "the .npy header {dict} does not fit in {HEADER_LEN} bytes"
        ));
    }
    let mut out = [b' '; HEADER_LEN];
    out[..6].copy_from_slice(MAGIC);
    out[6] = 1;
    out[7] = 0;
    out[8..10].copy_from_slice(&((HEADER_LEN - 10) as u16).to_le_bytes());
    out[10..10 + dict.len()].copy_from_slice(dict.as_bytes());
    out[HEADER_LEN - 1] = b'\n';
    Ok(out)
}

/// Parses a header written by [`header`]: returns (dtype descr, shape).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<(String, Vec<usize>), BufferError> {
    let bad = |problem: String| BufferError::Corrupt {
        path: path.to_path_buf(),
        problem,
    };
    if bytes.len() < HEADER_LEN || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    if 10 + len != HEADER_LEN {
        return Err(bad(format!(
            "header of {} bytes, expected {HEADER_LEN}",
            10 + len
        )));
    }
    let dict = std::str::from_utf8(&bytes[10..HEADER_LEN])
        .map_err(|_| bad("header is not text".into()))?;
    let descr = dict
        .split("'descr': '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .ok_or_else(|| bad("header has no 'descr'".into()))?;
    let shape = dict
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| bad("header has no 'shape'".into()))?;
    let dims = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| bad(format!("bad dimension {d:?} in the shape")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if dims.is_empty() {
        return Err(bad("header shape has no dimensions".into()));
    }
    Ok((descr.to_string(), dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        for (dtype, shape) in [
            (Dtype::U8, vec![2, 80, 80]),
            (Dtype::F32, vec![3]),
            (Dtype::U32, vec![]),
            (Dtype::F64, vec![4]),
        ] {
            let h = header(dtype, 12345, &shape).unwrap();
            assert_eq!(h.len() % 64, 0);
            let (descr, dims) = parse(Path::new("x.npy"), &h).unwrap();
            assert_eq!(descr, dtype.descr());
            assert_eq!(dims[0], 12345);
            assert_eq!(&dims[1..], &shape[..]);
        }
    }

    #[test]
    fn a_shape_too_long_for_the_header_is_refused() {
        let long = vec![123_456_789; 8];
        let e = header(Dtype::F32, usize::MAX, &long).unwrap_err();
        assert!(e.contains("does not fit in 128 bytes"), "{e}");
        assert!(header(Dtype::F32, usize::MAX, &[2, 80, 80]).is_ok());
    }
}
