//! What a protocol learns of an object only as it is stored, kept beside it afterwards: the S3
//! checksums a client asked to be kept (known at the end of the body), the sizes of a multipart
//! upload's parts. Kept with the version just stored; a read between the store and this sees the
//! object without them.

use super::{Caller, Need, Platform};
use crate::catalogue::{Attributes, ObjectRecord};
use crate::error::{Error, Result};

impl Platform {
    /// Changes the attributes of the object version `record` of `namespace` (one the caller just
    /// stored: it needs the right to write there) by `change`; answers the record as now kept.
    pub async fn annotate(
        &self,
        caller: &Caller,
        namespace: Option<&str>,
        mut record: ObjectRecord,
        change: impl FnOnce(&mut Attributes),
    ) -> Result<ObjectRecord> {
        let here = self.enter(caller, namespace, Need::Write).await?;
        if record.owner_id != here.id {
            return Err(Error::NotFound("no such object in this namespace".into()));
        }
        change(&mut record.attributes);
        let kept = self.catalogue.set_attributes(&here.id, &record.id, record.meta.version, &record.attributes).await?;
        if !kept {
            return Err(super::not_found(&record.meta.data_name));
        }
        Ok(record)
    }
}
