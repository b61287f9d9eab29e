//! The JSON bodies of the FedML SDK 0.9.6 routes, each read once into a typed struct. A field of
//! the wrong type is refused with a message that names it and says what it must be
//! (`tagNameList[2] must be a string, not a number`), never dropped or read as 0 or "". Fields
//! the SDK sends and this server does not use (`fileSize`) are still checked; unknown fields are
//! ignored, as the SDK's own server does.

use fedml_proto::CompletedPart;
use serde_json::{Map, Value};

use fedml_platform::Error;

/// heartBeat and getUser: `{"apiKey": "<key>"}`. A missing key is left to authentication, which
/// says how to get one.
pub struct KeyBody {
    pub api_key: Option<String>,
}

/// multipart/upload/complete: `{"fileKey", "uploadId", "partETags": [{"partNumber", "etag"}]}`.
pub struct CompleteBody {
    pub file_key: String,
    pub upload_id: String,
    pub parts: Vec<CompletedPart>,
}

/// dataset (POST): `{"datasetName", "description": str|null, "fileSize": int, "fileUrl",
/// "tagNameList": [str]}`.
///
/// What the SDK was not given is `None` (kept, as in every upload: see
/// `fedml_proto::CreateUpload`): its `description=None` arrives as `null`, while a string, even
/// empty, was given; its `tag_list` defaults to `[]` and is always sent, so an empty (or absent)
/// list is tags not given — the SDK has no way to say "no tags" apart from that, and no overwrite
/// either (a dataset record makes a new name), so nothing is lost by it.
pub struct DatasetBody {
    pub dataset_name: String,
    pub description: Option<String>,
    pub file_url: String,
    pub tags: Option<Vec<String>>,
}

impl KeyBody {
    pub fn parse(body: &Value) -> Result<KeyBody, Error> {
        let f = Fields::of(body)?;
        Ok(KeyBody { api_key: f.optional_string("apiKey")? })
    }
}

impl CompleteBody {
    pub fn parse(body: &Value) -> Result<CompleteBody, Error> {
        let f = Fields::of(body)?;
        let mut parts = Vec::new();
        for (i, part) in f.list("partETags")?.iter().enumerate() {
            let at = format!("partETags[{i}]");
            let p = Fields::within(part, &at)?;
            let part_number = p.integer("partNumber")?;
            let part_number = u32::try_from(part_number).ok().filter(|&n| n > 0).ok_or_else(|| {
                Error::Invalid(format!("{at}.partNumber is {part_number}; part numbers run 1, 2, 3, …"))
            })?;
            parts.push(CompletedPart { part_number, etag: p.string("etag")? });
        }
        Ok(CompleteBody { file_key: f.string("fileKey")?, upload_id: f.string("uploadId")?, parts })
    }
}

impl DatasetBody {
    pub fn parse(body: &Value) -> Result<DatasetBody, Error> {
        let f = Fields::of(body)?;
        // Sent by the SDK and not used (the size is the one the server received), but a wrong
        // type is still a wrong request.
        f.optional_integer("fileSize")?;
        Ok(DatasetBody {
            dataset_name: f.string("datasetName")?,
            description: f.optional_string("description")?,
            file_url: f.string("fileUrl")?,
            tags: Some(f.optional_string_list("tagNameList")?).filter(|tags| !tags.is_empty()),
        })
    }
}

/// The fields of one JSON object, read with messages that name them (`prefix.field`).
struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
}

/// What a JSON value is, for messages: "a number", "an object", "null", …
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl<'a> Fields<'a> {
    fn of(body: &'a Value) -> Result<Fields<'a>, Error> {
        match body {
            Value::Object(object) => Ok(Fields { object, prefix: String::new() }),
            other => Err(Error::Invalid(format!("the request body must be a JSON object, not {}", kind(other)))),
        }
    }

    fn within(value: &'a Value, at: &str) -> Result<Fields<'a>, Error> {
        match value {
            Value::Object(object) => Ok(Fields { object, prefix: format!("{at}.") }),
            other => Err(Error::Invalid(format!(
                "{at} must be an object such as {{\"partNumber\": 1, \"etag\": \"…\"}}, not {}",
                kind(other)
            ))),
        }
    }

    fn wrong(&self, key: &str, expected: &str, got: &Value) -> Error {
        Error::Invalid(format!("{}{key} must be {expected}, not {}", self.prefix, kind(got)))
    }

    fn missing(&self, key: &str, expected: &str) -> Error {
        Error::Invalid(format!("{}{key} is missing; it must be {expected}", self.prefix))
    }

    /// The value of `key`; absent and `null` are both `None`.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<String, Error> {
        self.optional_string(key)?.ok_or_else(|| self.missing(key, "a string"))
    }

    fn optional_string(&self, key: &str) -> Result<Option<String>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.wrong(key, "a string", other)),
        }
    }

    fn integer(&self, key: &str) -> Result<u64, Error> {
        self.optional_integer(key)?.ok_or_else(|| self.missing(key, "a whole number"))
    }

    fn optional_integer(&self, key: &str) -> Result<Option<u64>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| self.wrong(key, "a whole number of 0 or more", v)),
        }
    }

    fn list(&self, key: &str) -> Result<&'a Vec<Value>, Error> {
        match self.get(key) {
            None => Err(self.missing(key, "a list")),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong(key, "a list", other)),
        }
    }

    /// A list of strings; absent or `null` is the empty list.
    fn optional_string_list(&self, key: &str) -> Result<Vec<String>, Error> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => return Err(self.wrong(key, "a list of strings", other)),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(self.wrong(&format!("{key}[{i}]"), "a string", other)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn refused<T>(r: Result<T, Error>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn what_the_sdk_sends_is_read() {
        let d = DatasetBody::parse(&json!({"datasetName": "d", "description": null, "fileSize": 41,
            "fileUrl": "http://x/fedml-compat/files/u", "tagNameList": ["a", "b"]}))
        .expect("dataset");
        assert_eq!((d.dataset_name.as_str(), d.description, d.tags.map(|t| t.len())), ("d", None, Some(2)));
        let given = DatasetBody::parse(&json!({"datasetName": "d", "description": "", "fileUrl": "u",
            "tagNameList": []}))
        .expect("parse");
        assert_eq!((given.description.as_deref(), given.tags), (Some(""), None), "\"\" given, [] the SDK's default");
        let c = CompleteBody::parse(&json!({"fileKey": "1/f", "uploadId": "u",
            "partETags": [{"etag": "\"e\"", "partNumber": 1}]}))
        .expect("complete");
        assert_eq!((c.parts[0].part_number, c.parts[0].etag.as_str()), (1, "\"e\""));
        assert!(CompleteBody::parse(&json!({"fileKey": "1/f", "uploadId": "u", "partETags": []})).is_ok());
        assert_eq!(KeyBody::parse(&json!({"apiKey": "k"})).expect("key").api_key.as_deref(), Some("k"));
        assert!(KeyBody::parse(&json!({})).expect("no key").api_key.is_none());
    }

    #[test]
    fn wrong_types_name_the_field() {
        let base = || json!({"datasetName": "d", "fileUrl": "u", "tagNameList": ["a"]});
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert_eq!(
            refused(DatasetBody::parse(&with("tagNameList", json!(["a", "b", 3])))),
            "tagNameList[2] must be a string, not a number"
        );
        assert_eq!(
            refused(DatasetBody::parse(&with("description", json!(7)))),
            "description must be a string, not a number"
        );
        assert!(
            refused(DatasetBody::parse(&with("tagNameList", json!("a,b")))).starts_with("tagNameList must be a list")
        );
        assert!(
            refused(DatasetBody::parse(&with("datasetName", json!(["d"])))).starts_with("datasetName must be a string")
        );
        assert!(refused(DatasetBody::parse(&with("datasetName", Value::Null))).starts_with("datasetName is missing"));
        assert!(
            refused(DatasetBody::parse(&with("fileSize", json!("41")))).starts_with("fileSize must be a whole number")
        );
        assert!(refused(DatasetBody::parse(&json!([1]))).contains("JSON object"));
        let complete =
            |parts: Value| CompleteBody::parse(&json!({"fileKey": "1/f", "uploadId": "u", "partETags": parts}));
        assert!(refused(complete(json!([{"etag": "e"}]))).starts_with("partETags[0].partNumber is missing"));
        assert!(refused(complete(json!([{"partNumber": 1}]))).starts_with("partETags[0].etag is missing"));
        assert!(
            refused(complete(json!([{"partNumber": "1", "etag": "e"}]))).starts_with("partETags[0].partNumber must be")
        );
        assert!(
            refused(complete(json!([{"partNumber": 1, "etag": 5}]))).starts_with("partETags[0].etag must be a string")
        );
        assert!(refused(complete(json!([{"partNumber": 0, "etag": "e"}]))).starts_with("partETags[0].partNumber is 0"));
        assert!(refused(complete(json!([{"partNumber": 1.5, "etag": "e"}]))).contains("whole number"));
        assert!(refused(complete(json!([{"partNumber": 4294967296u64, "etag": "e"}]))).contains("4294967296"));
        assert!(refused(complete(json!(["e"]))).starts_with("partETags[0] must be an object"));
        assert!(refused(complete(Value::Null)).starts_with("partETags is missing"));
        assert!(refused(complete(json!({}))).starts_with("partETags must be a list"));
        assert!(refused(KeyBody::parse(&json!({"apiKey": 12}))).starts_with("apiKey must be a string"));
    }
}
