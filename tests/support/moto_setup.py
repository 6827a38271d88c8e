"""Set up a running moto server for the ses-probe tests.

Usage: python moto_setup.py ENDPOINT SPEC_JSON

SPEC_JSON: {"region": "...", "users": [{"name": "...", "actions": ["..."]}],
            "identities": ["..."], "enforce_auth": true}
Creates IAM users with an inline policy allowing `actions` on every resource
(or, given `statements` instead, a policy of exactly those statements) and
an access key each, SESv2 email identities, then (if asked) switches on moto's IAM
enforcement for every later request. Prints {"users": {name: {access_key_id,
secret_access_key}}} as JSON. The keys are moto's, valid only in moto.
"""

import json
import sys
import urllib.request

import boto3


def main() -> None:
    endpoint, spec = sys.argv[1], json.loads(sys.argv[2])
    kw = dict(
        endpoint_url=endpoint,
        region_name=spec.get("region", "us-east-1"),
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    iam = boto3.client("iam", **kw)
    ses = boto3.client("sesv2", **kw)
    out = {"users": {}}
    for user in spec.get("users", []):
        name = user["name"]
        iam.create_user(UserName=name)
        statements = user.get("statements") or [
            {"Effect": "Allow", "Action": user["actions"], "Resource": "*"}
        ]
        policy = {"Version": "2012-10-17", "Statement": statements}
        iam.put_user_policy(
            UserName=name, PolicyName="probe", PolicyDocument=json.dumps(policy)
        )
        key = iam.create_access_key(UserName=name)["AccessKey"]
        out["users"][name] = {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }
    for identity in spec.get("identities", []):
        ses.create_email_identity(EmailIdentity=identity)
    if spec.get("enforce_auth"):
        req = urllib.request.Request(
            endpoint + "/moto-api/reset-auth",
            data=b"0",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        urllib.request.urlopen(req, timeout=10).read()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
