//! Request signing (Bitget `api-doc/common/signature`, identical for v2 and v3):
//! `ACCESS-SIGN = base64(HMAC_SHA256(secret, timestamp + METHOD + requestPath + ["?" + query] + body))`,
//! the query exactly as sent (not re-sorted), the body as the raw bytes sent (`""` for GET).
//! WS login: `base64(HMAC_SHA256(secret, timestamp_s + "GET" + "/user/verify"))`, seconds.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prehash string of a REST request.
pub fn prehash(timestamp_ms: i64, method: &str, path: &str, query: &str, body: &str) -> String {
    let mut s = format!("{timestamp_ms}{}{path}", method.to_ascii_uppercase());
    if !query.is_empty() {
        s.push('?');
        s.push_str(query);
    }
    s.push_str(body);
    s
}

/// base64(HMAC-SHA256(secret, message)).
pub fn hmac_b64(secret: &str, message: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `ACCESS-SIGN` of a REST request.
pub fn sign_rest(
    secret: &str,
    timestamp_ms: i64,
    method: &str,
    path: &str,
    query: &str,
    body: &str,
) -> String {
    hmac_b64(secret, &prehash(timestamp_ms, method, path, query, body))
}

/// `sign` of the WS login (timestamp in **seconds**, see exchanges-private.md §2.1).
pub fn sign_ws_login(secret: &str, timestamp_s: i64) -> String {
    hmac_b64(secret, &format!("{timestamp_s}GET/user/verify"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently with Python's hmac module:
    // python3 -c "import hmac,hashlib,base64; m='1735689600000'+'POST'+'/api/v2/mix/order/place-order'+'{\"symbol\":\"BTCUSDT\"}'; print(base64.b64encode(hmac.new(b'test-secret',m.encode(),hashlib.sha256).digest()).decode())"
    // → DCS6itv4s41ofFkLPUs7Db3U3A85qMd9sQp+H5WkZJY=
    // python3 -c "import hmac,hashlib,base64; m='1735689600000'+'GET'+'/api/v2/mix/order/detail?symbol=BTCUSDT&productType=USDT-FUTURES&clientOid=sr-1'; print(base64.b64encode(hmac.new(b'test-secret',m.encode(),hashlib.sha256).digest()).decode())"
    // → NZgFKh1XM4L9i+soenlHxpM2NOdEOVtC5P0ZC4MWpj8=
    // python3 -c "import hmac,hashlib,base64; m='1735689600'+'GET'+'/user/verify'; print(base64.b64encode(hmac.new(b'test-secret',m.encode(),hashlib.sha256).digest()).decode())"
    // → DRWAU1gZMh5G+UmvOLgVJepHxm7NTFas85cplleR00k=
    #[test]
    fn python_vectors() {
        assert_eq!(
            sign_rest(
                "test-secret",
                1735689600000,
                "post",
                "/api/v2/mix/order/place-order",
                "",
                r#"{"symbol":"BTCUSDT"}"#
            ),
            "DCS6itv4s41ofFkLPUs7Db3U3A85qMd9sQp+H5WkZJY="
        );
        assert_eq!(
            sign_rest(
                "test-secret",
                1735689600000,
                "GET",
                "/api/v2/mix/order/detail",
                "symbol=BTCUSDT&productType=USDT-FUTURES&clientOid=sr-1",
                ""
            ),
            "NZgFKh1XM4L9i+soenlHxpM2NOdEOVtC5P0ZC4MWpj8="
        );
        assert_eq!(
            sign_ws_login("test-secret", 1735689600),
            "DRWAU1gZMh5G+UmvOLgVJepHxm7NTFas85cplleR00k="
        );
    }

    #[test]
    fn empty_query_has_no_question_mark() {
        assert_eq!(
            prehash(1, "GET", "/api/v3/account/settings", "", ""),
            "1GET/api/v3/account/settings"
        );
    }
}
