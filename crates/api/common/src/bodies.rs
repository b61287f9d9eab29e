//! How large a request body the front ends read whole may be. How long a body may take is the
//! server's (its middleware paces every body, whatever the route).

/// The largest JSON body a call takes: the largest legitimate one is a complete request naming
/// 10,000 parts (about 1 MB even with long ETags; see the test below), with room to spare.
pub const JSON_BODY_LIMIT: usize = 2 << 20;

/// The body of the FedML-compatible calls that carry their key inside (heartBeat, getUser): it
/// is read before anyone is authenticated, so it is kept small.
pub const KEY_BODY_LIMIT: usize = 16 << 10;
