"""A minimal local fake of the AWS operations moto 5.2.5 does not implement, speaking
their real wire protocols, so the Rust SDK clients talk to it unchanged.

Operations covered (everything else answers 404/400):
  AWS Backup (restJson1):
    GET /restore-jobs/{id}                                 DescribeRestoreJob
    GET /restore-jobs/{id}/metadata                        GetRestoreJobMetadata
    GET /backup-vaults/{name}/recovery-points/{arn}        DescribeRecoveryPoint
    GET /backup-vaults/{name}/access-policy                GetBackupVaultAccessPolicy
    GET /backup-vaults/                                    ListBackupVaults (pages of 10; each
        vault name once, only the vaults the caller's account sees, see "AccountId" below)
    GET /backup-vaults/{name}/recovery-points/             ListRecoveryPointsByBackupVault
        (RecoveryPointByBackupVault items of every entry of that vault the caller's
        account sees, pages as the readiness listings')
    GET /backup-vaults/{name}/recovery-points/{arn}/restore-metadata
                                                           GetRecoveryPointRestoreMetadata
    GET /resources/                                        ListProtectedResources (pages of 2)
    GET /resources/{arn}/recovery-points/                  ListRecoveryPointsByResource
        (the vaults' recovery points whose ResourceArn is {arn}, pages of 2)
    GET /restore-testing/plans                             ListRestoreTestingPlans
    GET /restore-testing/plans/{plan}/selections           ListRestoreTestingSelections
    GET /restore-testing/plans/{plan}/selections/{name}    GetRestoreTestingSelection
    PUT /restore-jobs                                      StartRestoreJob: the same
        IdempotencyToken gives the same job id and starts nothing new
  AWS STS (awsQuery, POST / form):   DecodeAuthorizationMessage, GetCallerIdentity,
    AssumeRole, refused as AWS refuses a role that is missing or does not trust the
    caller (moto 5.2's AssumeRole needs no role and trusts anyone, so it cannot), unless
    the scenario lists the role in "assumableRoles": that request is then passed to moto
    at the URL given, whose answer (credentials acting in the role's account) is returned
  AWS KMS (awsJson1.1, POST / with X-Amz-Target), only to inject failures:
    TrentService.DescribeKey, TrentService.GetKeyPolicy
  AWS IAM (awsQuery, POST / form), only to count calls: every action is recorded as
    {"operation": Action, "key": InstanceProfileName | RoleName | UserName | ""} and
    answered NoSuchEntity.
  SNS http(s) subscription endpoint: POST /_fake/sns/{name} stores the delivery.
  A dependency that hangs: any request whose path starts with /_hang (point an SDK
    client's endpoint at http://127.0.0.1:PORT/_hang) is recorded as {"operation":
    "Hang", "key": path} and answered only after HANG_SECONDS (then with a 503).

Control API (tests and the demo):
  POST /_fake/scenario   merge {"restoreJobs": {id: {"describe": {...}, "metadata": {...},
                         "errors": {op: err}, "hang": [op]}}, "vaults": {name: {"policy": "...",
                         "recoveryPoints": {arn: {...}}, "errors": {op: err}}},
                         (a vault entry with "name" and "AccountId" is the vault of that name of that
                         account, whatever its key: vault names repeat across accounts)
                         "tokens": {token: {"decoded": "..."} | {"error": err}},
                         "kmsKeys": {id-or-arn-or-alias: {"arn": ..., "policy": ..., "errors": {op: err}}},
                         "startRestoreJob": {recoveryPointArn: {"error": err}},
                         "callerAccount": "123456789012",
                         "assumableRoles": {role-arn: moto-url},
                         "protectedResources": {arn: {"ResourceType": ..., "AccountId": ...,
                         "errors": {op: err}}},
                         "restoreTestingPlans": {plan: {"selections": {name: {"ProtectedResourceType": ...,
                         "IamRoleArn": ...}}, "AccountId": ..., "errors": {op: err}}},
                         "listPageSize": N}
                         (a vault's recovery point may carry "restoreMetadata": {...}; the readiness
                         listings answer pages of min(maxResults, listPageSize) items, 2 unless set:
                         small, so that the tests page through them; the readiness bench sets 1,000;
                         a protected resource, restore testing plan or vault with an "AccountId" is listed only
                         to that account: to credentials AssumeRole handed out for a role of it, or to
                         any other credentials when it is callerAccount; without one, to every caller)
                         where err = {"status": 403, "code": "AccessDeniedException", "message": "..."}
  GET  /_fake/requests   the operations served so far: [{"operation", "key"}]
                         (StartRestoreJob's key is the recovery point ARN)
  GET  /_fake/started-restore-jobs  the restore jobs StartRestoreJob created:
                         [{"RestoreJobId", "request"}], one per idempotency token
  GET  /_fake/sns/{name} the SNS deliveries received on that endpoint
  GET  /_fake/health

Usage: python aws_fake.py [--tls-dir DIR]
Prints "PORT <n>" (and "TLS_PORT <n> CA <cert.pem>" with --tls-dir) on stdout once
listening, and exits when its standard input closes, so it never outlives its parent.
"""

import json
import os
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

LOCK = threading.Lock()
STATE = {
    "restoreJobs": {},
    "vaults": {},
    "tokens": {},
    "kmsKeys": {},
    "startRestoreJob": {},
    "callerAccount": "123456789012",
    "assumableRoles": {},
    "protectedResources": {},
    "restoreTestingPlans": {},
    "listPageSize": 2,
}
# ResourceArn -> [(vault name, recovery point ARN)], in the vaults' order; rebuilt after
# each scenario change (the readiness bench lists 10,000 resources' recovery points).
RP_INDEX = None
REQUESTS = []
ASSUMED = {}  # AccessKeyId moto handed out through AssumeRole -> the role's account
STARTED = []  # restore jobs created by StartRestoreJob, in order
IDEMPOTENCY = {}  # IdempotencyToken -> RestoreJobId
VAULT_PAGE = 10
SNS = {}
HANG_SECONDS = 30


def merge(dst, src):
    for key, value in src.items():
        if isinstance(value, dict) and isinstance(dst.get(key), dict):
            merge(dst[key], value)
        else:
            dst[key] = value


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-fake/1"
    # Buffered: a response (status line, headers, body) leaves in one write when the
    # request is done, so that no Nagle/delayed-ACK stall between headers and body
    # distorts the timings of tests/fakes/latency_proxy.py's bench.
    wbufsize = 1 << 16

    def log_message(self, fmt, *args):  # keep test output quiet
        if os.environ.get("AWS_FAKE_VERBOSE"):
            sys.stderr.write("aws-fake: " + (fmt % args) + "\n")

    # -- plumbing -------------------------------------------------------------
    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, payload, content_type="application/json", headers=None):
        data = payload if isinstance(payload, bytes) else payload.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def record(self, operation, key):
        with LOCK:
            REQUESTS.append({"operation": operation, "key": key})

    def rest_error(self, err):
        self.send(
            err.get("status", 400),
            json.dumps({"message": err.get("message", ""), "Message": err.get("message", "")}),
            headers={"x-amzn-ErrorType": err["code"]},
        )

    def not_found(self, what):
        self.rest_error({"status": 404, "code": "ResourceNotFoundException", "message": what})

    def hang_if_asked(self):
        """Hangs a request to /_hang... (a dependency that never answers in time)."""
        if not self.path.startswith("/_hang"):
            return False
        self.body()
        self.record("Hang", self.path.split("?", 1)[0])
        time.sleep(HANG_SECONDS)
        try:
            self.send(503, json.dumps({"message": "hung"}), headers={"x-amzn-ErrorType": "ServiceUnavailable"})
            self.wfile.flush()
        except OSError:
            pass  # the client gave up long ago
        return True

    # -- routes ---------------------------------------------------------------
    def do_GET(self):
        if self.hang_if_asked():
            return
        raw_path = self.path.split("?", 1)[0]
        parts = raw_path.strip("/").split("/")
        if raw_path == "/_fake/health":
            return self.send(200, "{}")
        if raw_path == "/_fake/requests":
            with LOCK:
                return self.send(200, json.dumps(REQUESTS))
        if len(parts) == 3 and parts[:2] == ["_fake", "sns"]:
            with LOCK:
                return self.send(200, json.dumps(SNS.get(parts[2], [])))
        if raw_path == "/_fake/started-restore-jobs":
            with LOCK:
                return self.send(200, json.dumps(STARTED))
        if parts == ["backup-vaults"]:
            return self.list_vaults()
        if parts == ["resources"]:
            return self.list_protected_resources()
        if len(parts) == 3 and parts[0] == "resources" and parts[2] == "recovery-points":
            return self.list_recovery_points_by_resource(urllib.parse.unquote(parts[1]))
        if parts[:2] == ["restore-testing", "plans"] and len(parts) in (2, 4, 5):
            return self.list_restore_testing(parts)
        if parts[0] == "restore-jobs" and len(parts) in (2, 3):
            job_id = urllib.parse.unquote(parts[1])
            op = "DescribeRestoreJob" if len(parts) == 2 else "GetRestoreJobMetadata"
            if len(parts) == 3 and parts[2] != "metadata":
                return self.not_found(raw_path)
            self.record(op, job_id)
            with LOCK:
                job = json.loads(json.dumps(STATE["restoreJobs"].get(job_id)))
            if job is None:
                return self.not_found(f"Restore job {job_id} not found")
            if op in job.get("errors", {}):
                return self.rest_error(job["errors"][op])
            if op in job.get("hang", []):
                time.sleep(HANG_SECONDS)
                return self.send(503, json.dumps({"message": "hung"}), headers={"x-amzn-ErrorType": "ServiceUnavailable"})
            if op == "DescribeRestoreJob":
                return self.send(200, json.dumps(job.get("describe", {"RestoreJobId": job_id})))
            return self.send(
                200, json.dumps({"RestoreJobId": job_id, "Metadata": job.get("metadata", {})})
            )
        if len(parts) == 3 and parts[0] == "backup-vaults" and parts[2] == "recovery-points":
            return self.list_recovery_points_by_vault(urllib.parse.unquote(parts[1]))
        if parts[0] == "backup-vaults" and len(parts) >= 3:
            vault_name = urllib.parse.unquote(parts[1])
            rp_arn = urllib.parse.unquote(parts[3]) if len(parts) >= 4 else None
            vault = self.vault_view(vault_name, rp_arn)
            if parts[2] == "access-policy" and len(parts) == 3:
                op = "GetBackupVaultAccessPolicy"
                self.record(op, vault_name)
                if vault is None:
                    return self.not_found(f"Backup vault {vault_name} not found")
                if op in vault.get("errors", {}):
                    return self.rest_error(vault["errors"][op])
                if vault.get("policy") is None:
                    return self.not_found(f"Backup vault {vault_name} has no access policy")
                return self.send(
                    200,
                    json.dumps(
                        {
                            "BackupVaultName": vault_name,
                            "BackupVaultArn": vault.get("arn", ""),
                            "Policy": vault["policy"],
                        }
                    ),
                )
            if parts[2] == "recovery-points" and len(parts) == 5 and parts[4] == "restore-metadata":
                op = "GetRecoveryPointRestoreMetadata"
                self.record(op, rp_arn)
                rp = (vault or {}).get("recoveryPoints", {}).get(rp_arn)
                if rp is None:
                    return self.not_found(f"Recovery point {rp_arn} not found")
                if op in (vault or {}).get("errors", {}):
                    return self.rest_error(vault["errors"][op])
                return self.send(
                    200,
                    json.dumps(
                        {
                            "BackupVaultArn": vault.get("arn", ""),
                            "RecoveryPointArn": rp_arn,
                            "ResourceType": rp.get("ResourceType", ""),
                            "RestoreMetadata": rp.get("restoreMetadata", {}),
                        }
                    ),
                )
            if parts[2] == "recovery-points" and len(parts) == 4:
                op = "DescribeRecoveryPoint"
                self.record(op, rp_arn)
                if vault is None:
                    return self.not_found(f"Backup vault {vault_name} not found")
                if op in vault.get("errors", {}):
                    return self.rest_error(vault["errors"][op])
                rp = vault.get("recoveryPoints", {}).get(rp_arn)
                if rp is None:
                    return self.not_found(f"Recovery point {rp_arn} not found")
                return self.send(200, json.dumps(rp))
        return self.not_found(raw_path)

    def do_PUT(self):
        if self.hang_if_asked():
            return
        raw_path = self.path.split("?", 1)[0]
        body = self.body()
        if raw_path.strip("/") == "restore-jobs":
            return self.start_restore_job(json.loads(body or b"{}"))
        return self.not_found(raw_path)

    # -- AWS Backup writes and lists ------------------------------------------
    def list_vaults(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        start = int(query.get("nextToken", ["0"])[0] or 0)
        size = min(int(query.get("maxResults", [VAULT_PAGE])[0]), VAULT_PAGE)
        self.record("ListBackupVaults", str(start))
        seen = {}
        account = self.requester_account()  # takes LOCK: before it is held
        with LOCK:
            for key, vault in STATE["vaults"].items():
                name = vault.get("name", key)
                if vault.get("AccountId") in (None, account) and name not in seen:
                    seen[name] = {
                        "BackupVaultName": name,
                        "BackupVaultArn": vault.get("arn", ""),
                        "NumberOfRecoveryPoints": len(vault.get("recoveryPoints", {})),
                    }
        names = list(seen)
        page = [seen[n] for n in names[start : start + size]]
        result = {"BackupVaultList": page}
        if start + size < len(names):
            result["NextToken"] = str(start + size)
        return self.send(200, json.dumps(result))

    def list_recovery_points_by_vault(self, name):
        """ListRecoveryPointsByBackupVault: the recovery points of every entry that is the
        vault `name` of the caller's account (tests add to the same vault in several
        scenarios), with the fields of RecoveryPointByBackupVault."""
        op = "ListRecoveryPointsByBackupVault"
        account = self.requester_account()  # takes LOCK: before it is held
        with LOCK:
            vaults = [
                v
                for key, v in STATE["vaults"].items()
                if v.get("name", key) == name and v.get("AccountId") in (None, account)
            ]
            errors = {}
            items = []
            for vault in vaults:
                errors.update(vault.get("errors", {}))
                for rp_arn, rp in vault.get("recoveryPoints", {}).items():
                    items.append(
                        {
                            "RecoveryPointArn": rp_arn,
                            "BackupVaultName": rp.get("BackupVaultName", name),
                            "BackupVaultArn": rp.get("BackupVaultArn", vault.get("arn")),
                            "ResourceArn": rp.get("ResourceArn"),
                            "ResourceType": rp.get("ResourceType"),
                            "CreationDate": rp.get("CreationDate"),
                            "Status": rp.get("Status", "COMPLETED"),
                            "EncryptionKeyArn": rp.get("EncryptionKeyArn"),
                            "IsEncrypted": rp.get("IsEncrypted", False),
                            "EncryptionKeyType": rp.get("EncryptionKeyType"),
                        }
                    )
        if not vaults:
            self.record(op, name)
            return self.not_found(f"Backup vault {name} not found")
        if op in errors:
            self.record(op, name)
            return self.rest_error(errors[op])
        items = [{k: v for k, v in i.items() if v is not None} for i in items]
        return self.page(items, "RecoveryPoints", op, name)

    def vault_view(self, name, rp_arn):
        """A copy of the vault without its recovery points but the one asked for (a copy
        of the whole vault per request would make 10,000 recovery points quadratic)."""
        account = self.requester_account()
        with LOCK:
            vault = STATE["vaults"].get(name)
            if vault is not None and vault.get("name", name) != name:
                vault = None
            if vault is None:
                # Vault names repeat across accounts (each has `Default`): an entry with a
                # "name" is that vault of its "AccountId".
                vault = next(
                    (
                        v
                        for v in STATE["vaults"].values()
                        if v.get("name") == name and v.get("AccountId") in (None, account)
                    ),
                    None,
                )
            if vault is None:
                return None
            view = {k: v for k, v in vault.items() if k != "recoveryPoints"}
            points = vault.get("recoveryPoints", {})
            view["recoveryPoints"] = {rp_arn: points[rp_arn]} if rp_arn in points else {}
            return json.loads(json.dumps(view))

    def page(self, items, key, operation, record_key):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        token = (query.get("nextToken") or query.get("NextToken") or ["0"])[0]
        start = int(token or 0)
        with LOCK:
            size = STATE["listPageSize"]
        asked = (query.get("maxResults") or query.get("MaxResults") or [""])[0]
        if asked.isdigit() and int(asked) > 0:
            size = min(size, int(asked))
        self.record(operation, record_key)
        result = {key: items[start : start + size]}
        if start + size < len(items):
            result["NextToken"] = str(start + size)
        return self.send(200, json.dumps(result))

    def requester_account(self):
        """The account the request's credentials act in (SigV4's Credential=AKID/...)."""
        auth = self.headers.get("Authorization", "")
        key = auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else ""
        with LOCK:
            return ASSUMED.get(key, STATE["callerAccount"])

    def visible(self, entry):
        """Whether a resource or plan is listed to this request's account."""
        owner = entry.get("AccountId")
        return owner is None or owner == self.requester_account()

    def list_protected_resources(self):
        with LOCK:
            resources = json.loads(json.dumps(STATE["protectedResources"]))
        items = [
            {"ResourceArn": arn, "ResourceType": r.get("ResourceType", "")}
            for arn, r in sorted(resources.items())
            if self.visible(r)
        ]
        return self.page(items, "Results", "ListProtectedResources", "")

    def list_recovery_points_by_resource(self, resource_arn):
        global RP_INDEX
        op = "ListRecoveryPointsByResource"
        with LOCK:
            errors = STATE["protectedResources"].get(resource_arn, {}).get("errors", {})
            if RP_INDEX is None:
                RP_INDEX = {}
                for name, vault in STATE["vaults"].items():
                    for rp_arn, rp in vault.get("recoveryPoints", {}).items():
                        RP_INDEX.setdefault(rp.get("ResourceArn"), []).append((name, rp_arn))
            items = []
            for name, rp_arn in RP_INDEX.get(resource_arn, []):
                rp = STATE["vaults"][name]["recoveryPoints"][rp_arn]
                items.append(
                    {
                        "RecoveryPointArn": rp_arn,
                        "BackupVaultName": rp.get("BackupVaultName", name),
                        "CreationDate": rp.get("CreationDate"),
                        "Status": rp.get("Status", "COMPLETED"),
                        "EncryptionKeyArn": rp.get("EncryptionKeyArn"),
                    }
                )
        if op in errors:
            self.record(op, resource_arn)
            return self.rest_error(errors[op])
        items = [{k: v for k, v in i.items() if v is not None} for i in items]
        return self.page(items, "RecoveryPoints", op, resource_arn)

    def list_restore_testing(self, parts):
        with LOCK:
            plans = json.loads(json.dumps(STATE["restoreTestingPlans"]))
        plans = {name: plan for name, plan in plans.items() if self.visible(plan)}
        if len(parts) == 2:
            op = "ListRestoreTestingPlans"
            for plan in plans.values():
                if op in plan.get("errors", {}):
                    self.record(op, "")
                    return self.rest_error(plan["errors"][op])
            items = [
                {
                    "RestoreTestingPlanName": name,
                    "RestoreTestingPlanArn": f"arn:aws:backup:us-east-1:123456789012:restore-testing-plan:{name}-abc",
                    "CreationTime": 1_772_000_000.0,
                    "ScheduleExpression": "cron(0 1 ? * * *)",
                }
                for name in sorted(plans)
            ]
            return self.page(items, "RestoreTestingPlans", op, "")
        op = "ListRestoreTestingSelections"
        name = urllib.parse.unquote(parts[2])
        plan = plans.get(name)
        if plan is None or parts[3] != "selections":
            self.record(op, name)
            return self.not_found(f"Restore testing plan {name} not found")
        if op in plan.get("errors", {}):
            self.record(op, name)
            return self.rest_error(plan["errors"][op])
        if len(parts) == 5:
            op = "GetRestoreTestingSelection"
            sel_name = urllib.parse.unquote(parts[4])
            self.record(op, f"{name}/{sel_name}")
            sel = plan.get("selections", {}).get(sel_name)
            if sel is None:
                return self.not_found(f"Restore testing selection {sel_name} not found")
            got = {
                "RestoreTestingSelectionName": sel_name,
                "RestoreTestingPlanName": name,
                "CreationTime": 1_772_000_000.0,
                "ProtectedResourceType": sel.get("ProtectedResourceType", ""),
                "IamRoleArn": sel.get("IamRoleArn", ""),
                "ProtectedResourceArns": sel.get("ProtectedResourceArns", ["*"]),
                "ValidationWindowHours": 0,
            }
            if "RestoreMetadataOverrides" in sel:
                got["RestoreMetadataOverrides"] = sel["RestoreMetadataOverrides"]
            return self.send(200, json.dumps({"RestoreTestingSelection": got}))
        items = [
            {
                "RestoreTestingSelectionName": sel_name,
                "RestoreTestingPlanName": name,
                "CreationTime": 1_772_000_000.0,
                "ProtectedResourceType": sel.get("ProtectedResourceType", ""),
                "IamRoleArn": sel.get("IamRoleArn", ""),
            }
            for sel_name, sel in sorted(plan.get("selections", {}).items())
        ]
        return self.page(items, "RestoreTestingSelections", op, name)

    def start_restore_job(self, request):
        rp_arn = request.get("RecoveryPointArn", "")
        self.record("StartRestoreJob", rp_arn)
        if not rp_arn or "Metadata" not in request:
            return self.rest_error(
                {"status": 400, "code": "MissingParameterValueException", "message": "RecoveryPointArn and Metadata are required"}
            )
        with LOCK:
            err = STATE["startRestoreJob"].get(rp_arn, {}).get("error")
            if err:
                return self.rest_error(err)
            token = request.get("IdempotencyToken")
            if token and token in IDEMPOTENCY:
                job_id = IDEMPOTENCY[token]
            else:
                job_id = str(uuid.uuid4()).upper()
                if token:
                    IDEMPOTENCY[token] = job_id
                STARTED.append({"RestoreJobId": job_id, "request": request})
                STATE["restoreJobs"][job_id] = {
                    "describe": {
                        "RestoreJobId": job_id,
                        "RecoveryPointArn": rp_arn,
                        "IamRoleArn": request.get("IamRoleArn"),
                        "ResourceType": request.get("ResourceType"),
                        "Status": "CREATED",
                    },
                    "metadata": request.get("Metadata", {}),
                }
        return self.send(200, json.dumps({"RestoreJobId": job_id}))

    def do_POST(self):
        global RP_INDEX
        if self.hang_if_asked():
            return
        raw_path = self.path.split("?", 1)[0]
        parts = raw_path.strip("/").split("/")
        body = self.body()
        if raw_path == "/_fake/scenario":
            with LOCK:
                merge(STATE, json.loads(body or b"{}"))
                RP_INDEX = None
            return self.send(200, "{}")
        if len(parts) == 3 and parts[:2] == ["_fake", "sns"]:
            try:
                delivery = json.loads(body)
            except ValueError:
                delivery = {"raw": body.decode("utf-8", "replace")}
            with LOCK:
                SNS.setdefault(parts[2], []).append(delivery)
            return self.send(200, "{}")
        target = self.headers.get("X-Amz-Target")
        if target:
            return self.kms(target, json.loads(body or b"{}"))
        form = urllib.parse.parse_qs(body.decode(), keep_blank_values=True)
        action = form.get("Action", [""])[0]
        if action == "DecodeAuthorizationMessage":
            return self.decode(form.get("EncodedMessage", [""])[0])
        if action == "GetCallerIdentity":
            return self.caller_identity()
        if action == "AssumeRole":
            role = form.get("RoleArn", [""])[0]
            self.record("AssumeRole", role)
            with LOCK:
                account = STATE["callerAccount"]
                moto = STATE["assumableRoles"].get(role)
            if moto:
                return self.pass_on(moto, body, role.split(":")[4] if role.count(":") >= 5 else None)
            return self.query_error(
                403,
                "AccessDenied",
                f"User: arn:aws:sts::{account}:assumed-role/restore-doctor/function is not "
                f"authorized to perform: sts:AssumeRole on resource: {role}",
            )
        if form.get("Version", [""])[0] == "2010-05-08":  # IAM
            key = next(
                (form[k][0] for k in ("InstanceProfileName", "RoleName", "UserName") if k in form),
                "",
            )
            self.record(action, key)
            return self.iam_error(404, "NoSuchEntity", f"{action}: {key} not found")
        return self.query_error(400, "InvalidAction", f"Could not find operation {action}")

    # -- STS (awsQuery) -------------------------------------------------------
    def pass_on(self, url, body, account=None):
        """The same request to moto (a deployed role), its answer as it came; the access
        key handed out is remembered as acting in `account`."""
        # The signature's headers too: moto picks the service from its credential scope.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(url.rstrip("/") + "/", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, data, kind = resp.status, resp.read(), resp.headers.get("Content-Type", "text/xml")
        except urllib.error.HTTPError as e:
            status, data, kind = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
        text = data.decode("utf-8", "replace")
        if account and "<AccessKeyId>" in text:
            key = text.split("<AccessKeyId>", 1)[1].split("</AccessKeyId>", 1)[0]
            with LOCK:
                ASSUMED[key] = account
        self.send(status, data, content_type=kind)

    def query_error(self, status, code, message):
        xml = (
            '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        self.send(status, xml, content_type="text/xml")

    def iam_error(self, status, code, message):
        xml = (
            '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
            f"<Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
        )
        self.send(status, xml, content_type="text/xml")

    def caller_identity(self):
        self.record("GetCallerIdentity", "")
        with LOCK:
            account = STATE["callerAccount"]
        xml = (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<GetCallerIdentityResult>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/restore-doctor/function</Arn>"
            f"<UserId>AROAEXAMPLE:function</UserId><Account>{account}</Account>"
            "</GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        )
        self.send(200, xml, content_type="text/xml")

    def decode(self, token):
        self.record("DecodeAuthorizationMessage", token)
        with LOCK:
            entry = STATE["tokens"].get(token)
        if entry is None:
            return self.query_error(
                400,
                "InvalidAuthorizationMessageException",
                "The message is invalid or has expired.",
            )
        if "error" in entry:
            err = entry["error"]
            return self.query_error(err.get("status", 400), err["code"], err.get("message", ""))
        decoded = entry["decoded"]
        if not isinstance(decoded, str):
            decoded = json.dumps(decoded)
        xml = (
            '<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            "<DecodeAuthorizationMessageResult>"
            f"<DecodedMessage>{escape(decoded)}</DecodedMessage>"
            "</DecodeAuthorizationMessageResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</DecodeAuthorizationMessageResponse>"
        )
        self.send(200, xml, content_type="text/xml")

    # -- KMS (awsJson1.1) -----------------------------------------------------
    def kms(self, target, request):
        op = target.split(".")[-1]
        key_ref = request.get("KeyId", "")
        self.record(op, key_ref)
        with LOCK:
            key = json.loads(json.dumps(STATE["kmsKeys"].get(key_ref)))
        ctype = "application/x-amz-json-1.1"
        if key is None:
            return self.send(
                400,
                json.dumps({"__type": "NotFoundException", "message": f"Key '{key_ref}' does not exist"}),
                content_type=ctype,
            )
        if op in key.get("errors", {}):
            err = key["errors"][op]
            return self.send(
                err.get("status", 400),
                json.dumps({"__type": err["code"], "message": err.get("message", "")}),
                content_type=ctype,
            )
        if op == "DescribeKey":
            arn = key["arn"]
            return self.send(
                200,
                json.dumps(
                    {
                        "KeyMetadata": {
                            "KeyId": arn.rsplit("/", 1)[-1],
                            "Arn": arn,
                            "AWSAccountId": arn.split(":")[4],
                            "Enabled": True,
                            "KeyManager": key.get("keyManager", "CUSTOMER"),
                        }
                    }
                ),
                content_type=ctype,
            )
        if op == "GetKeyPolicy":
            return self.send(
                200,
                json.dumps({"Policy": key.get("policy", "{}"), "PolicyName": "default"}),
                content_type=ctype,
            )
        return self.send(
            400,
            json.dumps({"__type": "UnknownOperationException", "message": op}),
            content_type=ctype,
        )


def self_signed(tls_dir):
    """A certificate for 127.0.0.1 (so moto, trusting it through REQUESTS_CA_BUNDLE,
    can deliver SNS https notifications here)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    os.makedirs(tls_dir, exist_ok=True)
    cert_path = os.path.join(tls_dir, "cert.pem")
    key_path = os.path.join(tls_dir, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path


def main():
    tls_dir = None
    if "--tls-dir" in sys.argv:
        tls_dir = sys.argv[sys.argv.index("--tls-dir") + 1]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_address[1]}", flush=True)
    if tls_dir:
        cert, key = self_signed(tls_dir)
        tls = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        tls.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        threading.Thread(target=tls.serve_forever, daemon=True).start()
        print(f"TLS_PORT {tls.server_address[1]} CA {cert}", flush=True)
    # Exit with the parent: it holds our stdin open while it needs us.
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    main()
