#!/usr/bin/env python3
"""Proves infra/template.yaml and the code agree (run by scripts/test.sh
with the infra virtualenv, which has cfn-lint's template decoder):

- every function binary (functions/lambda/Cargo.toml) has exactly one
  AWS::Serverless::Function built from it with cargo-lambda, and no other;
- every operation of shared/api/openapi.json is wired, once, to the function
  its `x-certifica-function` names (checked against the router by a Rust
  test), with the same method and path, and with the JWT authorizer unless
  the operation is public; no route exists that the document lacks;
- every function's environment is exactly what its code reads
  (functions/lambda/environment.json, checked against the code by a Rust
  test), with no test-only variable;
- function policies name actions and resources (no "*");
- the table's keys and indexes are the ones the DynamoDB adapter uses;
- every function logs (JSON) to its own group kept for LogRetentionDays;
- the bucket expires bulk zips by the tag the S3 adapter puts on them;
- Cognito users cannot write their email nor the custom attributes;
- an upload's claim outlasts stamp-on-upload's timeout;
- the jobs worker takes, with partial batch failures, the queue the API
  functions are allowed to send to; the queue redelivers as often as the
  worker counts (MAX_DELIVERIES), to a dead-letter queue, and its
  visibility timeout is 6 × the worker's timeout and outlasts credit holds.

Usage: python scripts/check-infra.py   (exit 1 with one line per problem)
"""

import json
import pathlib
import re
import sys

from cfnlint.decode import decode

root = pathlib.Path(__file__).resolve().parent.parent
problems = []


def problem(text):
    problems.append(text)


def check(template):
    """The problems of `template` (decoded), one line each."""
    problems.clear()
    resources = template["Resources"]
    functions = {name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    global_env = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})

    # 1. One function per binary, built with cargo-lambda from the functions crate.
    cargo = (root / "functions" / "lambda" / "Cargo.toml").read_text()
    binaries = re.findall(r'\[\[bin\]\]\s*name\s*=\s*"([^"]+)"', cargo)
    by_binary = {}
    for name, r in functions.items():
        meta = r.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        if meta.get("BuildMethod") != "rust-cargolambda":
            problem(f"{name}: Metadata.BuildMethod must be rust-cargolambda")
        code = r["Properties"].get("CodeUri")
        if code != "../functions/lambda" or not (root / "infra" / str(code) / "Cargo.toml").exists():
            problem(f"{name}: CodeUri must be ../functions/lambda (the crate with the binaries), is {code!r}")
        if binary in by_binary:
            problem(f"binary {binary} is deployed twice: {by_binary[binary]} and {name}")
        by_binary[binary] = name
    for b in binaries:
        if b not in by_binary:
            problem(f"binary {b} has no function in the template")
    for b, name in by_binary.items():
        if b not in binaries:
            problem(f"{name} builds {b!r}, which is not a binary of functions/lambda")

    # 2. Every documented operation wired to its function, with its auth; nothing else.
    openapi = json.loads((root / "shared" / "api" / "openapi.json").read_text())
    wired = {}
    for name, r in functions.items():
        for event_name, event in r["Properties"].get("Events", {}).items():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            key = (p["Method"].upper(), p["Path"])
            if key in wired:
                problem(f"{key[0]} {key[1]} is wired twice")
            public = p.get("Auth", {}).get("Authorizer") == "NONE"
            wired[key] = (r["Metadata"]["BuildProperties"]["Binary"], public, f"{name}.{event_name}")
    documented = set()
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            key = (method.upper(), path)
            documented.add(key)
            if key not in wired:
                problem(f"{method.upper()} {path} is documented but not wired in the template")
                continue
            binary, public, where = wired[key]
            if binary != op["x-certifica-function"]:
                problem(f"{method.upper()} {path} goes to {binary} ({where}); the router serves it in {op['x-certifica-function']}")
            if public != (op.get("security") == []):
                problem(f"{method.upper()} {path}: {'public' if public else 'behind the JWT authorizer'} in the template, not in openapi.json")
    for key, (_, _, where) in wired.items():
        if key not in documented:
            problem(f"{where}: {key[0]} {key[1]} is not in openapi.json")
    api = [r for r in resources.values() if r["Type"] == "AWS::Serverless::HttpApi"]
    if len(api) != 1 or api[0]["Properties"]["Auth"].get("DefaultAuthorizer") is None:
        problem("exactly one HttpApi with a default (JWT) authorizer is expected")

    # 3. Environments: exactly what each function reads.
    listed = json.loads((root / "functions" / "lambda" / "environment.json").read_text())
    for binary, name in by_binary.items():
        own = functions[name]["Properties"].get("Environment", {}).get("Variables", {})
        have = set(global_env) | set(own)
        need = set(listed["functions"].get(binary, []))
        for v in sorted(need - have):
            problem(f"{name} ({binary}) reads {v}, which the template does not set")
        for v in sorted(have - need):
            problem(f"{name} ({binary}) gets {v}, which its code does not read")
        for v in sorted(have & set(listed["testOnly"])):
            problem(f"{name}: {v} is for tests only")

    # 4. Least privilege: named actions and resources in every function policy.
    def statements(policies):
        for policy in policies or []:
            if isinstance(policy, dict):
                yield from policy.get("Statement", [])
            else:
                problem(f"policy {policy!r}: write explicit statements (SAM policy templates hide their actions)")


    for name, r in functions.items():
        for st in statements(r["Properties"].get("Policies")):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            res = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            if any("*" in a for a in actions):
                problem(f"{name}: wildcard action in {actions}")
            if any(x == "*" for x in res):
                problem(f"{name}: resource '*' for {actions}")

    # 5. The table's keys and indexes are the adapter's.
    dynamo = (root / "shared" / "aws" / "src" / "dynamo" / "keys.rs").read_text()
    schema = dict(re.findall(r'\("(\w+)", "(HASH|RANGE)"\)', dynamo.split("TABLE_KEY_SCHEMA", 1)[1].split("];", 1)[0]))
    tables = [r for r in resources.values() if r["Type"] == "AWS::DynamoDB::Table"]
    if len(tables) != 1:
        problem("exactly one DynamoDB table is expected")
    else:
        t = tables[0]["Properties"]
        keys = {k["AttributeName"]: k["KeyType"] for k in t["KeySchema"]}
        for index in t.get("GlobalSecondaryIndexes", []):
            keys.update({k["AttributeName"]: k["KeyType"] for k in index["KeySchema"]})
        if keys != schema:
            problem(f"table keys {keys} differ from the adapter's TABLE_KEY_SCHEMA {schema}")
    # 6. Every function logs to its own group, kept for the retention parameter.
    for name, r in functions.items():
        group = r["Properties"].get("LoggingConfig", {}).get("LogGroup", {})
        target = resources.get(group.get("Ref", "") if isinstance(group, dict) else "", {})
        if target.get("Type") != "AWS::Logs::LogGroup" or target["Properties"].get("RetentionInDays") != {"Ref": "LogRetentionDays"}:
            problem(f"{name}: LoggingConfig.LogGroup must be its own log group kept LogRetentionDays")

    # 7. Bulk zips expire by the tag the S3 adapter puts on them.
    s3 = (root / "shared" / "aws" / "src" / "s3.rs").read_text()
    tag = re.search(r'BULK_ZIP_TAG: &str = "([^=]+)=([^"]+)"', s3)
    buckets = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"]
    rules = [rule for b in buckets for rule in b["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])]
    if not tag or not any({"Key": tag.group(1), "Value": tag.group(2)} in rule.get("TagFilters", []) for rule in rules):
        problem("no lifecycle rule expires the bulk zips by the adapter's BULK_ZIP_TAG")

    # 8. Users cannot write what identifies them or grants them access.
    for name, r in resources.items():
        if r["Type"] != "AWS::Cognito::UserPoolClient":
            continue
        writable = r["Properties"].get("WriteAttributes")
        if not writable:
            problem(f"{name}: WriteAttributes must be listed (missing, users may write every standard attribute)")
        elif any(a == "email" or a.startswith("custom:") for a in writable):
            problem(f"{name}: users must not write email or custom attributes, WriteAttributes is {writable}")

    # 9. An upload's claim outlasts stamp-on-upload's longest run (a crashed run's claim lapses after it).
    upload_rs = (root / "shared" / "api" / "src" / "upload" / "mod.rs").read_text()
    claim = re.search(r"pub const CLAIM_MINUTES: i64 = (\d+);", upload_rs)
    stamp = by_binary.get("stamp-on-upload")
    timeout = functions[stamp]["Properties"].get("Timeout") if stamp else None
    if not claim or not isinstance(timeout, int) or int(claim.group(1)) * 60 <= timeout:
        problem(f"stamp-on-upload's Timeout ({timeout} s) must be shorter than the upload claim (CLAIM_MINUTES)")
    # 10. Jobs: the worker takes the queue the API functions send to, reports partial batch
    # failures, and the queue's redelivery agrees with the code.
    jobs_rs = (root / "shared" / "core" / "src" / "jobs.rs").read_text()
    deliveries = re.search(r"pub const MAX_DELIVERIES: u32 = (\d+);", jobs_rs)
    api_rs = (root / "shared" / "api" / "src" / "lib.rs").read_text()
    hold = re.search(r"reservation_ttl: chrono::Duration::minutes\((\d+)\)", api_rs)
    worker = by_binary.get("jobs-worker")
    sqs_events = [e["Properties"] for e in functions[worker]["Properties"].get("Events", {}).values() if e["Type"] == "SQS"] if worker else []
    if len(sqs_events) != 1:
        problem("jobs-worker must have exactly one SQS event (the jobs queue)")
    else:
        event = sqs_events[0]
        queue_name = event["Queue"].get("Fn::GetAtt", [None])[0] if isinstance(event["Queue"], dict) else None
        queue = resources.get(queue_name or "", {})
        if queue.get("Type") != "AWS::SQS::Queue":
            problem("jobs-worker's SQS event must take a queue of the template (!GetAtt Queue.Arn)")
        else:
            q = queue["Properties"]
            timeout = functions[worker]["Properties"].get("Timeout")
            visibility = q.get("VisibilityTimeout")
            if not isinstance(timeout, int) or not isinstance(visibility, int) or visibility < 6 * timeout:
                problem(f"{queue_name}: VisibilityTimeout ({visibility} s) must be at least 6 × jobs-worker's Timeout ({timeout} s)")
            if not hold or not isinstance(visibility, int) or visibility <= int(hold.group(1)) * 60:
                problem(f"{queue_name}: VisibilityTimeout must outlast the credit holds (reservation_ttl)")
            redrive = q.get("RedrivePolicy", {})
            if not deliveries or redrive.get("maxReceiveCount") != int(deliveries.group(1)):
                problem(f"{queue_name}: RedrivePolicy.maxReceiveCount must be MAX_DELIVERIES ({deliveries.group(1) if deliveries else '?'})")
            if resources.get(redrive.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [""])[0], {}).get("Type") != "AWS::SQS::Queue":
                problem(f"{queue_name}: its RedrivePolicy must send to a dead-letter queue of the template")
        if "ReportBatchItemFailures" not in event.get("FunctionResponseTypes", []):
            problem("jobs-worker's SQS event must report partial batch failures (FunctionResponseTypes)")
        for name, r in functions.items():
            own = r["Properties"].get("Environment", {}).get("Variables", {})
            if "CERTIFICA_JOBS_QUEUE" not in own:
                continue
            if own["CERTIFICA_JOBS_QUEUE"] != {"Ref": queue_name}:
                problem(f"{name}: CERTIFICA_JOBS_QUEUE must be the worker's queue ({queue_name})")
            sends = any("sqs:SendMessage" in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]])
                        and st["Resource"] == {"Fn::GetAtt": [queue_name, "Arn"]}
                        for st in statements(r["Properties"].get("Policies")))
            if not sends:
                problem(f"{name}: may not send to {queue_name} (sqs:SendMessage on its Arn)")
    return list(problems), len(by_binary), len(wired)


def self_test(template):
    """Each kind of disagreement is caught (the check cannot pass vacuously)."""
    import copy

    def broken(change):
        t = copy.deepcopy(template)
        change(t)
        return check(t)[0]

    fns = {n: r for n, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    issue = next(n for n, r in fns.items() if r["Metadata"]["BuildProperties"]["Binary"] == "issue-certificates")
    mutations = {
        "a function removed": lambda t: t["Resources"].pop(issue),
        "a route sent to another function": lambda t: t["Resources"][issue]["Properties"]["Events"]["Issue"]["Properties"].update(Path="/v1/otra"),
        "a variable missing": lambda t: t["Resources"][issue]["Properties"]["Environment"]["Variables"].pop("CERTIFICA_SEAL_SECRET"),
        "a test-only variable set": lambda t: t["Resources"][issue]["Properties"]["Environment"]["Variables"].update(CERTIFICA_AWS_ENDPOINT="x"),
        "a wildcard action": lambda t: t["Resources"][issue]["Properties"]["Policies"][0]["Statement"][0].update(Action="s3:*"),
        "a public route made private": lambda t: next(r for r in t["Resources"].values() if r["Type"] == "AWS::Serverless::Function" and r["Metadata"]["BuildProperties"]["Binary"] == "verify")["Properties"]["Events"]["Verify"]["Properties"].pop("Auth"),
        "the zip lifecycle rule dropped": lambda t: next(r for r in t["Resources"].values() if r["Type"] == "AWS::S3::Bucket")["Properties"]["LifecycleConfiguration"]["Rules"].pop(0),
        "a function logging to the default group": lambda t: t["Resources"][issue]["Properties"].pop("LoggingConfig"),
        "an upload function that outlives its claim": lambda t: t["Resources"][next(n for n, r in t["Resources"].items() if r["Type"] == "AWS::Serverless::Function" and r["Metadata"]["BuildProperties"]["Binary"] == "stamp-on-upload")]["Properties"].update(Timeout=900),
        "users allowed to change their email": lambda t: t["Resources"]["UserPoolClient"]["Properties"].update(WriteAttributes=["email"]),
        "a queue redelivering more than the worker counts": lambda t: t["Resources"]["JobsQueue"]["Properties"]["RedrivePolicy"].update(maxReceiveCount=10),
        "a queue whose visibility is below the worker's timeout": lambda t: t["Resources"]["JobsQueue"]["Properties"].update(VisibilityTimeout=120),
        "a worker failing whole batches": lambda t: t["Resources"]["JobsWorkerFunction"]["Properties"]["Events"]["Chunks"]["Properties"].pop("FunctionResponseTypes"),
        "a function queueing without permission": lambda t: t["Resources"][issue]["Properties"]["Policies"][0]["Statement"].pop(3),
        "an index renamed": lambda t: next(r for r in t["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table")["Properties"]["GlobalSecondaryIndexes"][0]["KeySchema"][0].update(AttributeName="g1"),
    }
    for what, change in mutations.items():
        if not broken(change):
            sys.exit(f"infra self-test: {what} was not caught")


template, errors = decode(str(root / "infra" / "template.yaml"))
if errors:
    sys.exit(f"infra/template.yaml cannot be read: {errors}")
self_test(template)
found, functions_count, routes_count = check(template)
if found:
    print("\n".join(f"infra: {p}" for p in found))
    sys.exit(1)
print(f"infra: template and code agree ({functions_count} functions, {routes_count} routes); each kind of mismatch is caught")
