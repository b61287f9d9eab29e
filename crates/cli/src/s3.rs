//! `fedml storage s3-credentials`: the S3 access key of the API key in use.

use crate::Outcome;
use crate::output::say;
use crate::output::{emit, table, visible};
use crate::storage::Common;

/// Prints the access key id, secret, endpoint and region (a table, or the envelope with
/// `--output json`), and on stderr how an S3 client takes them.
pub fn credentials(common: &Common) -> Outcome {
    let response = fedml_client::s3_credentials(&common.target(None));
    emit(common.output(), &response, |c| {
        let mut t = table(&["Access Key Id", "Secret Access Key", "Endpoint", "Region", "Buckets"]);
        t.row([
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            c.endpoint_url.clone(),
            c.region.clone(),
            c.buckets.join(", "),
        ]);
        say!("{t}");
        eprintln!(
            "They act as this API key (its namespaces are the buckets) and stop working when it is revoked. For \
             example:\n  AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=… AWS_REGION={} aws --endpoint-url {} s3 ls",
            visible(&c.access_key_id),
            visible(&c.region),
            visible(&c.endpoint_url)
        );
    })
}
