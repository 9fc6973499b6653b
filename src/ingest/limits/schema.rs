//! Schemas bounded before any value is decoded: columns (each leaf of a
//! nested one counted), nesting, a name given twice at any level.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};

use super::{IngestLimits, Limit, OverLimit};

/// Checks a schema against the limits and the one naming rule: at most
/// `max_columns` leaves, `max_nesting` levels, and no two fields of one
/// struct (or the top) with the same name.
///
/// # Errors
///
/// [`SchemaFault`] naming the first fault.
pub fn check_schema(schema: &Schema, limits: &IngestLimits) -> Result<(), SchemaFault> {
    check_fields(schema.fields(), &mut Vec::new(), 0, limits)?;
    let leaves: usize = schema.fields().iter().map(|f| leaves(f.data_type())).sum();
    if leaves > limits.max_columns {
        return Err(SchemaFault::Over(OverLimit::new(
            Limit::Columns,
            limits.max_columns,
            format!("{leaves} columns (nested fields counted one by one)"),
        )));
    }
    Ok(())
}

/// A schema's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaFault {
    /// Over a limit.
    #[error(transparent)]
    Over(OverLimit),
    /// Two columns of one level with one name (the dotted path).
    #[error("column {0:?} is named twice (a value would be lost: name each column once)")]
    Duplicate(String),
}

fn check_fields(
    fields: &Fields,
    path: &mut Vec<String>,
    depth: usize,
    limits: &IngestLimits,
) -> Result<(), SchemaFault> {
    let mut names: Vec<&str> = fields.iter().map(|f| f.name().as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
        let mut named = path.clone();
        named.push(twice[0].to_owned());
        return Err(SchemaFault::Duplicate(named.join(".")));
    }
    for field in fields {
        path.push(field.name().clone());
        check_type(field.data_type(), path, depth, limits)?;
        path.pop();
    }
    Ok(())
}

fn check_type(
    data_type: &DataType,
    path: &mut Vec<String>,
    depth: usize,
    limits: &IngestLimits,
) -> Result<(), SchemaFault> {
    let Some(kids) = type_children(data_type) else {
        return Ok(());
    };
    if depth >= limits.max_nesting {
        return Err(SchemaFault::Over(OverLimit::new(
            Limit::Nesting,
            limits.max_nesting,
            format!(
                "column {:?} is nested more than {} levels deep",
                path.join("."),
                limits.max_nesting
            ),
        )));
    }
    match data_type {
        // A struct's fields are columns of their own, named apart.
        DataType::Struct(fields) => check_fields(fields, path, depth + 1, limits),
        _ => kids
            .iter()
            .try_for_each(|f| check_type(f.data_type(), path, depth + 1, limits)),
    }
}

/// The fields a type holds (list items, struct fields, map entries,
/// dictionary values), or `None` for a leaf.
fn type_children(data_type: &DataType) -> Option<Vec<Arc<Field>>> {
    match data_type {
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => Some(vec![Arc::clone(f)]),
        DataType::Struct(fields) => Some(fields.iter().cloned().collect()),
        DataType::Union(fields, _) => Some(fields.iter().map(|(_, f)| Arc::clone(f)).collect()),
        DataType::Dictionary(_, values) => Some(vec![Arc::new(Field::new(
            "values",
            (**values).clone(),
            true,
        ))]),
        DataType::RunEndEncoded(_, values) => Some(vec![Arc::clone(values)]),
        _ => None,
    }
}

/// Leaf columns of a type.
pub(crate) fn leaves(data_type: &DataType) -> usize {
    match type_children(data_type) {
        Some(kids) => kids
            .iter()
            .map(|f| leaves(f.data_type()))
            .sum::<usize>()
            .max(1),
        None => 1,
    }
}
