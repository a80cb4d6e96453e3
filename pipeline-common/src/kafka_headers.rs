//! A consumed record's headers, read without trusting their names to be UTF-8.
//!
//! Kafka does not check that a header's name is UTF-8, and rdkafka's `Headers::try_get` (and so
//! `Headers::iter`) unwraps the conversion: one record whose producer wrote a name in another
//! encoding would panic whichever task read it, on every redelivery. This reads names and
//! values through librdkafka's own accessor and hands the name over as bytes; callers that want
//! text decide what a name that is not UTF-8 means to them.
#![allow(unsafe_code)]

use rdkafka::bindings as rdsys;
use rdkafka::message::{BorrowedHeaders, Headers};
use std::ffi::CStr;

/// One header as the producer wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'a> {
    /// Its name, in whatever bytes the producer used.
    pub name: &'a [u8],
    /// Its value; `None` when the header has none.
    pub value: Option<&'a [u8]>,
}

impl<'a> RawHeader<'a> {
    /// The name as text, when it is UTF-8.
    pub fn name_str(&self) -> Option<&'a str> {
        std::str::from_utf8(self.name).ok()
    }
}

/// The headers of a consumed record, in order.
pub fn raw_headers(headers: &BorrowedHeaders) -> impl Iterator<Item = RawHeader<'_>> + Clone {
    (0..headers.count()).filter_map(move |idx| raw_header(headers, idx))
}

fn raw_header(headers: &BorrowedHeaders, idx: usize) -> Option<RawHeader<'_>> {
    // rdkafka's BorrowedHeaders is an opaque type whose address is librdkafka's header list.
    let list = headers as *const BorrowedHeaders as *const rdsys::rd_kafka_headers_t;
    let mut name = std::ptr::null();
    let mut value = std::ptr::null();
    let mut size = 0usize;
    // SAFETY: `list` is the live header list `headers` borrows; librdkafka writes pointers into
    // that list, which stay valid for as long as it does, that is for the borrow of `headers`.
    let err =
        unsafe { rdsys::rd_kafka_header_get_all(list, idx, &mut name, &mut value, &mut size) };
    if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
        return None;
    }
    // SAFETY: librdkafka's header names are NUL-terminated and live with the list (above).
    let name = unsafe { CStr::from_ptr(name) }.to_bytes();
    let value = (!value.is_null())
        // SAFETY: `size` bytes at `value` belong to the list (above).
        .then(|| unsafe { std::slice::from_raw_parts(value.cast::<u8>(), size) });
    Some(RawHeader { name, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header list as librdkafka holds one, freed at the end.
    struct List(*mut rdsys::rd_kafka_headers_t);

    impl List {
        fn new(headers: &[(&[u8], Option<&[u8]>)]) -> List {
            let list = unsafe { rdsys::rd_kafka_headers_new(4) };
            for (name, value) in headers {
                let (ptr, len) = value.map_or((std::ptr::null(), 0), |v| (v.as_ptr(), v.len()));
                unsafe {
                    rdsys::rd_kafka_header_add(
                        list,
                        name.as_ptr().cast(),
                        name.len() as isize,
                        ptr.cast(),
                        len as isize,
                    )
                };
            }
            List(list)
        }

        fn borrowed(&self) -> &BorrowedHeaders {
            unsafe { &*(self.0 as *const BorrowedHeaders) }
        }
    }

    impl Drop for List {
        fn drop(&mut self) {
            unsafe { rdsys::rd_kafka_headers_destroy(self.0) }
        }
    }

    #[test]
    fn names_that_are_not_utf8_are_read_not_panicked_on() {
        let list = List::new(&[
            (b"ce_type", Some(b"order.created")),
            (b"ce_\xff\xfe", Some(b"x")),
            (b"empty", None),
        ]);
        let read: Vec<RawHeader<'_>> = raw_headers(list.borrowed()).collect();
        assert_eq!(read.len(), 3);
        assert_eq!(read[0].name_str(), Some("ce_type"));
        assert_eq!(read[0].value, Some(&b"order.created"[..]));
        assert_eq!(read[1].name, b"ce_\xff\xfe");
        assert_eq!(read[1].name_str(), None);
        assert_eq!(read[2].value, None);
        // What this module exists for: rdkafka's own iterator panics on the second header.
        let panicked = std::panic::catch_unwind(|| list.borrowed().iter().count()).is_err();
        assert!(
            panicked,
            "rdkafka reads such a name without panicking now: use it again"
        );
    }
}
