//! JSON Merge Patch (RFC 7396), for `PATCH` of records and integrations.
//!
//! A patch object sets each of its keys in the target, recursively for
//! objects; a `null` removes the key; anything that is not an object
//! replaces the target whole. Small enough to own rather than depend on.

use serde_json::{Map, Value};

/// Applies `patch` to `target` in place.
pub fn apply(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(&key);
            } else {
                apply(map.entry(key).or_insert(Value::Null), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(target: Value, patch: Value) -> Value {
        let mut target = target;
        apply(&mut target, patch);
        target
    }

    #[test]
    fn the_rfc_7396_examples_hold() {
        // RFC 7396, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(patched(target.clone(), patch.clone()), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn keys_the_patch_does_not_name_are_kept() {
        let target = json!({"connector": {"kind": "scim", "base_url": "http://a", "bearer_token": "t"}});
        let result = patched(target, json!({"connector": {"base_url": "http://b"}}));
        assert_eq!(result["connector"]["bearer_token"], "t");
        assert_eq!(result["connector"]["base_url"], "http://b");
    }
}
