//! Buckets are namespaces: the caller's own (its user name) and its organisations'. Listing,
//! heading and the bucket's settings (location, versioning: always on) read them; CreateBucket
//! makes an organisation of that name (the caller its admin), DeleteBucket deletes an empty one.
//! Who may do what is the platform's decision ([`Platform::namespace`], `create_org`,
//! `delete_org`); an unknown namespace and one the caller has no role in read alike.

use fedml_platform::Caller;
use fedml_platform::operations::Need;
use fedml_proto::{CreateOrg, NamespaceInfo};
use s3s::dto::{
    Bucket, BucketVersioningStatus, CreateBucketInput, CreateBucketOutput, DeleteBucketInput, DeleteBucketOutput,
    GetBucketLocationInput, GetBucketLocationOutput, GetBucketVersioningInput, GetBucketVersioningOutput,
    HeadBucketInput, HeadBucketOutput, ListBucketsInput, ListBucketsOutput, Owner,
};
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use crate::Fedml;
use crate::auth::caller;
use crate::errors::{On, s3};
use crate::objects::timestamp;

impl Fedml {
    /// The namespace a request names as its bucket, if the caller may do what `need` says there.
    pub(crate) async fn bucket(&self, caller: &Caller, bucket: &str, need: Need) -> S3Result<NamespaceInfo> {
        self.platform.namespace(caller, bucket, need).await.map_err(|e| s3(e, On::Bucket))
    }

    pub(crate) async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = caller(&req)?;
        let namespaces = self.platform.namespaces(&caller).await.map_err(|e| s3(e, On::Bucket))?;
        let prefix = req.input.prefix.as_deref().unwrap_or("");
        let buckets = namespaces
            .into_iter()
            .filter(|ns| ns.name.starts_with(prefix))
            .map(|ns| Bucket { name: Some(ns.name), creation_date: Some(timestamp(0)), bucket_region: None })
            .collect();
        let owner = Owner { display_name: Some(caller.user_name.clone()), id: Some(caller.user_id.clone()) };
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner),
            prefix: req.input.prefix,
            ..Default::default()
        }))
    }

    pub(crate) async fn head_bucket(&self, req: S3Request<HeadBucketInput>) -> S3Result<S3Response<HeadBucketOutput>> {
        let caller = caller(&req)?;
        self.bucket(&caller, &req.input.bucket, Need::Read).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(fedml_platform::operations::S3_REGION.into()),
            ..Default::default()
        }))
    }

    pub(crate) async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let caller = caller(&req)?;
        self.bucket(&caller, &req.input.bucket, Need::Read).await?;
        // us-east-1 is answered as no constraint, as S3 answers it.
        Ok(S3Response::new(GetBucketLocationOutput::default()))
    }

    pub(crate) async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let caller = caller(&req)?;
        self.bucket(&caller, &req.input.bucket, Need::Read).await?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: Some(BucketVersioningStatus::from_static(BucketVersioningStatus::ENABLED)),
            ..Default::default()
        }))
    }

    /// Makes the organisation `bucket`, the caller its admin. A namespace the caller may use
    /// already is `BucketAlreadyOwnedByYou`; a name taken otherwise `BucketAlreadyExists`.
    pub(crate) async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = caller(&req)?;
        let name = req.input.bucket;
        if !s3s::path::check_bucket_name(&name) {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidBucketName,
                format!(
                    "{name:?} is not a bucket name S3 takes: 3 to 63 lower-case letters, digits, '.' or '-', starting \
                     and ending with a letter or digit"
                ),
            ));
        }
        if self.platform.namespace(&caller, &name, Need::Read).await.is_ok() {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                format!("{name:?} is a namespace you may use already"),
            ));
        }
        match self.platform.create_org(&caller, &CreateOrg { name: name.clone() }).await {
            Ok(_) => Ok(S3Response::new(CreateBucketOutput { location: Some(format!("/{name}")) })),
            Err(fedml_platform::Error::Conflict(m)) => Err(S3Error::with_message(S3ErrorCode::BucketAlreadyExists, m)),
            Err(fedml_platform::Error::Invalid(m)) => Err(S3Error::with_message(S3ErrorCode::InvalidBucketName, m)),
            Err(e) => Err(s3(e, On::Bucket)),
        }
    }

    /// Deletes the organisation `bucket` when it holds nothing (its admins only); a user's own
    /// namespace is never deleted.
    pub(crate) async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let caller = caller(&req)?;
        let name = req.input.bucket;
        let found = self.bucket(&caller, &name, Need::Read).await?;
        if !found.organisation {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                format!("{name:?} is a user's own namespace, which cannot be deleted; only organisations' buckets can"),
            ));
        }
        match self.platform.delete_org(&caller, &name, false).await {
            Ok(_) => Ok(S3Response::new(DeleteBucketOutput {})),
            Err(fedml_platform::Error::Conflict(m)) => Err(S3Error::with_message(S3ErrorCode::BucketNotEmpty, m)),
            Err(e) => Err(s3(e, On::Bucket)),
        }
    }
}
