//! Payload indexes: create and drop.

use axum::extract::State;
use quiver_core::filter::FieldType;
use serde_json::Value;

use super::AppState;
use super::model::{CreateFieldIndex, UpdateResult, WaitParams};
use crate::envelope::Envelope;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::writes::Gate;

const SUPPORTED: &str = "keyword, integer, float, bool, datetime";

/// Decodes `field_schema`: a type name, or `{"type": name, ..}`.
pub(crate) fn field_type(schema: Option<Value>) -> ApiResult<FieldType> {
    let name = match schema {
        None => {
            return Err(ApiError::bad_request(format!(
                "missing `field_schema`: one of {SUPPORTED}"
            )));
        }
        Some(Value::String(s)) => s,
        Some(Value::Object(map)) => match map.get("type") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(ApiError::bad_request(
                    "`field_schema` object needs a string `type`",
                ));
            }
        },
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`field_schema` must be a type name or {{\"type\": ..}}, got {other}"
            )));
        }
    };
    serde_json::from_value(Value::String(name.clone())).map_err(|_| {
        ApiError::bad_request(format!(
            "unsupported field_schema `{name}`: supported are {SUPPORTED}"
        ))
    })
}

/// The field and type a create body asks to index.
///
/// # Errors
/// 400 for an empty field name or an unsupported `field_schema`.
pub(crate) fn index_of(body: CreateFieldIndex) -> ApiResult<(String, FieldType)> {
    if body.field_name.is_empty() {
        return Err(ApiError::bad_request("`field_name` must not be empty"));
    }
    let ty = field_type(body.field_schema)?;
    Ok((body.field_name, ty))
}

/// Index a payload field, so filters on it need not scan.
#[utoipa::path(put, path = "/collections/{name}/index", tag = "index",
    params(("name" = String, Path, description = "Collection name"), WaitParams),
    request_body = CreateFieldIndex,
    responses(
        (status = 200, description = "Built", body = Envelope<UpdateResult>),
        (status = 400, description = "Unsupported field type"),
        (status = 404, description = "No such collection"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath(name): ApiPath<String>,
    ApiQuery(wait): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<CreateFieldIndex>,
) -> ApiResult<Envelope<UpdateResult>> {
    let (field, ty) = index_of(body)?;
    state
        .write(
            &gate,
            name,
            wait.wait(),
            |_| Ok(()),
            move |c| {
                c.create_field_index(&field, ty)?;
                Ok(None)
            },
        )
        .await
}

/// Drop a payload index (filters on the field still work, by scanning).
#[utoipa::path(delete, path = "/collections/{name}/index/{field}", tag = "index",
    params(("name" = String, Path, description = "Collection name"),
           ("field" = String, Path, description = "Indexed payload key"), WaitParams),
    responses(
        (status = 200, description = "Dropped (or there was none)", body = Envelope<UpdateResult>),
        (status = 404, description = "No such collection"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Gate(gate): Gate,
    ApiPath((name, field)): ApiPath<(String, String)>,
    ApiQuery(wait): ApiQuery<WaitParams>,
) -> ApiResult<Envelope<UpdateResult>> {
    state
        .write(
            &gate,
            name,
            wait.wait(),
            |_| Ok(()),
            move |c| {
                c.delete_field_index(&field)?;
                Ok(None)
            },
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_schema_is_a_name_or_an_object_with_type() {
        assert_eq!(
            field_type(Some(json!("keyword"))).unwrap(),
            FieldType::Keyword
        );
        assert_eq!(
            field_type(Some(json!({"type": "integer", "lookup": true}))).unwrap(),
            FieldType::Integer
        );
        assert!(
            field_type(Some(json!("geo")))
                .unwrap_err()
                .message()
                .contains("geo")
        );
        assert!(field_type(None).is_err());
    }
}
