"""Signs requests with botocore, the signer of boto3 and the AWS CLI, for tests/botocore.rs.

Prints a JSON list of signed requests as they would go on the wire: method, URL, headers
(with Host added the way the HTTP layer adds it), body (base64), and the service and region
they were signed for. Real SDK calls (STS GetCallerIdentity and AssumeRole, IAM ListRoles and
CreateRole) are captured at botocore's `before-send` event, so nothing is sent anywhere.
"""

import base64
import json
import sys
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

AKID = "AKIAIRSABOTOCORE0001"
SECRET = "botocore/Secret+Key/0123456789abcdefghijk"
SESSION_AKID = "ASIAIRSABOTOCORE0002"
SESSION_SECRET = "session/Secret+Key/0123456789abcdefghijkl"
TOKEN = "IQoJb3JpZ2luX2VjEPT//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+irsa/test+token=="
ENDPOINT = "https://sts.irsa.test:8443"

out = []


def wire(name, prepared_or_request, service, region, secret, token=None):
    url = prepared_or_request.url
    parts = urlsplit(url)
    headers = [[k, v if isinstance(v, str) else v.decode("latin-1")] for k, v in prepared_or_request.headers.items()]
    if not any(k.lower() == "host" for k, _ in headers):
        headers.append(["Host", botocore.auth._host_from_url(url)])
    body = prepared_or_request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    out.append(
        {
            "name": name,
            "method": prepared_or_request.method,
            "path": parts.path,
            "query": parts.query,
            "headers": headers,
            "body": base64.b64encode(body).decode("ascii"),
            "service": service,
            "region": region,
            "secret": secret,
            "token": token,
        }
    )


class Captured(Exception):
    pass


def capture(name, service, region, secret, token):
    def handler(request, **kwargs):
        wire(name, request, service, region, secret, token)
        raise Captured()

    return handler


def sdk_call(name, service, region, akid, secret, token, call):
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )
    client.meta.events.register("before-send.*", capture(name, service, region, secret, token))
    try:
        call(client)
    except Captured:
        return
    raise SystemExit(f"{name}: request was not captured")


def manual(name, method, url, service, region, akid, secret, token=None, headers=None, data=None, presign=None):
    creds = botocore.credentials.Credentials(akid, secret, token)
    req = AWSRequest(method=method, url=url, headers=headers or {}, data=data)
    if presign is None:
        botocore.auth.SigV4Auth(creds, service, region).add_auth(req)
    else:
        botocore.auth.SigV4QueryAuth(creds, service, region, expires=presign).add_auth(req)
    wire(name, req.prepare(), service, region, secret, token)


sdk_call("sts get-caller-identity", "sts", "us-east-1", AKID, SECRET, None, lambda c: c.get_caller_identity())
sdk_call(
    "sts get-caller-identity with session token",
    "sts",
    "eu-west-1",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    lambda c: c.get_caller_identity(),
)
sdk_call(
    "sts assume-role with a session policy",
    "sts",
    "us-east-1",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    lambda c: c.assume_role(
        RoleArn="arn:aws:iam::111122223333:role/kf-user",
        RoleSessionName="alice@example.com",
        Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        Tags=[{"Key": "team", "Value": "a b+c/d"}],
    ),
)
# IAM is global, but with a custom endpoint botocore signs with the configured region.
sdk_call(
    "iam list-roles (client region eu-west-1)",
    "iam",
    "eu-west-1",
    AKID,
    SECRET,
    None,
    lambda c: c.list_roles(PathPrefix="/kubeflow/", MaxItems=10),
)
sdk_call(
    "iam create-role",
    "iam",
    "us-east-1",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    lambda c: c.create_role(
        RoleName="kf-profile-team-a",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
        Description="ünïcode & spaces",
    ),
)
manual(
    "GET query with escapes and a repeated parameter",
    "GET",
    ENDPOINT + "/?Action=ListRoles&Version=2010-05-08&PathPrefix=%2Fa%20b%2F&Marker=x&Marker=%E1%88%B4",
    "iam",
    "us-east-1",
    AKID,
    SECRET,
)
manual(
    "header values with tabs and runs of spaces (botocore collapses all whitespace)",
    "POST",
    ENDPOINT + "/",
    "sts",
    "us-east-1",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "X-Irsa-Note": "  a\t\tb   c  "},
    data=b"Action=GetCallerIdentity&Version=2011-06-15",
)
manual(
    "path with dot segments, spaces and unicode",
    "GET",
    ENDPOINT + "/a/./b/../c%20d/%E1%88%B4/",
    "sts",
    "us-east-1",
    AKID,
    SECRET,
)
manual(
    "presigned GetCallerIdentity with a signed x-k8s-aws-id header (EKS token style)",
    "GET",
    ENDPOINT + "/?Action=GetCallerIdentity&Version=2011-06-15",
    "sts",
    "us-east-1",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    headers={"x-k8s-aws-id": "kubeflow-cluster"},
    presign=60,
)
manual(
    "presigned without a session token",
    "GET",
    ENDPOINT + "/?Action=GetCallerIdentity&Version=2011-06-15",
    "sts",
    "us-east-1",
    AKID,
    SECRET,
    presign=900,
)



def sdk_presigned(name, service, region, akid, secret, token, method, params, expires):
    client = boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name=region,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=token,
    )
    url = client.generate_presigned_url(method, Params=params, ExpiresIn=expires, HttpMethod="GET")
    wire(name, AWSRequest(method="GET", url=url).prepare(), service, region, secret, token)


sdk_presigned(
    "boto3 generate_presigned_url get_caller_identity",
    "sts",
    "us-west-2",
    SESSION_AKID,
    SESSION_SECRET,
    TOKEN,
    "get_caller_identity",
    {},
    300,
)

json.dump(out, sys.stdout, indent=1)
