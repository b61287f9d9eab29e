"""Helpers of scripts/backends for the cloud emulators (stdlib only).

    cloud_setup.py gcs-key FILE ENDPOINT      a fresh service-account key (RSA, made by openssl)
    cloud_setup.py gcs-bucket ENDPOINT NAME   creates a bucket (JSON API; the emulator needs no token)
    cloud_setup.py azure-container ENDPOINT ACCOUNT KEY NAME   creates a container (Shared Key)
"""

import base64
import datetime
import hashlib
import hmac
import json
import subprocess
import sys
import urllib.parse
import urllib.request


def gcs_key(path, endpoint):
    pem = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        check=True, capture_output=True, text=True,
    ).stdout
    key = {
        "type": "service_account",
        "project_id": "fedml-test",
        "private_key_id": "fedml-test-key",
        "private_key": pem,
        "client_email": "fedml-test@fedml-test.iam.gserviceaccount.com",
        "gcs_base_url": endpoint,
    }
    with open(path, "w") as f:
        json.dump(key, f)


def gcs_bucket(endpoint, name):
    request = urllib.request.Request(
        endpoint + "/storage/v1/b", data=json.dumps({"name": name}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request).read()


def azure_container(endpoint, account, key, name):
    url = f"{endpoint}/{name}?restype=container"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")
    version = "2021-08-06"
    path = urllib.parse.urlparse(url).path
    to_sign = "PUT\n\n\n\n\n\n\n\n\n\n\n\n" + f"x-ms-date:{date}\nx-ms-version:{version}\n" + f"/{account}{path}" + "\nrestype:container"
    signature = base64.b64encode(hmac.new(base64.b64decode(key), to_sign.encode(), hashlib.sha256).digest()).decode()
    request = urllib.request.Request(url, data=None, method="PUT", headers={
        "x-ms-date": date, "x-ms-version": version, "Authorization": f"SharedKey {account}:{signature}",
        "Content-Length": "0",
    })
    urllib.request.urlopen(request).read()


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"gcs-key": gcs_key, "gcs-bucket": gcs_bucket, "azure-container": azure_container}[command](*args)
