//! Creating and dropping payload field indexes.
//!
//! The indexed fields live in `config.json`, which is replaced atomically:
//! a field index is durable once that file is, and the index itself is
//! derived state (rebuilt from the payloads when its checkpoint is missing
//! or covers other fields).

use crate::filter::FieldType;
use crate::{Error, Result};

use super::config::StoredConfig;
use super::{Collection, Payload};

impl Collection {
    /// Index payload field `field` as `ty` (replacing an index of another
    /// type). Durable when it returns; kept up to date by every write.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty field name; I/O errors.
    pub fn create_field_index(&self, field: &str, ty: FieldType) -> Result<()> {
        self.check_open()?;
        if field.is_empty() {
            return Err(Error::InvalidInput("field name is empty".into()));
        }
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        if writer.fields.iter().any(|(f, t)| f == field && *t == ty) {
            return Ok(());
        }
        let existing: Vec<(u32, Payload)> = {
            let state = self.state.read();
            state
                .live
                .iter()
                .map(|i| Ok((i, state.payload(i)?.clone())))
                .collect::<Result<_>>()?
        };
        let mut fields = writer.fields.clone();
        fields.retain(|(f, _)| f != field);
        fields.push((field.to_owned(), ty));
        let mut state = self.state.write();
        state.indexes.drop_index(field);
        state
            .indexes
            .create(field, ty, existing.iter().map(|(i, p)| (*i, p)))?;
        if let Err(err) = self.write_fields(&fields) {
            state.indexes.drop_index(field);
            if let Some((_, old)) = writer.fields.iter().find(|(f, _)| f == field) {
                state
                    .indexes
                    .create(field, *old, existing.iter().map(|(i, p)| (*i, p)))?;
            }
            return Err(err);
        }
        writer.fields = fields;
        writer.checkpointed = None;
        Ok(())
    }

    /// Stop indexing `field`; `false` if it was not indexed. Durable when it
    /// returns.
    ///
    /// # Errors
    /// I/O errors writing the configuration.
    pub fn delete_field_index(&self, field: &str) -> Result<bool> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.check_writable(&writer)?;
        if !writer.fields.iter().any(|(f, _)| f == field) {
            return Ok(false);
        }
        let mut fields = writer.fields.clone();
        fields.retain(|(f, _)| f != field);
        self.write_fields(&fields)?;
        self.state.write().indexes.drop_index(field);
        writer.fields = fields;
        writer.checkpointed = None;
        Ok(true)
    }

    fn write_fields(&self, fields: &[(String, crate::filter::FieldType)]) -> Result<()> {
        StoredConfig {
            config: self.config.clone(),
            payload_indexes: fields.to_vec(),
        }
        .write(&self.dir)
    }
}
