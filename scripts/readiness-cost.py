#!/usr/bin/env python3
"""What restore readiness costs per month for an account with 1,000 recovery points, in the
scheduled (daily) and the change-triggered modes of the Lambda (issue #13): the measured
figures (BENCHMARKS.md, "Restore readiness") times AWS list prices.

  python3 scripts/readiness-cost.py [--recovery-points 1000] [--run-seconds S]
      [--calls-per-run N] [--memory-mb 256] [--changes-per-month 100]
      [--resources-per-change 20] [--architecture arm64|x86_64]

Every price below is a named constant with the AWS page it was read from, the Region and
the date. A price that could not be read from an AWS page is None and its line says "not
verified" (with the quantity, so that it can be priced by hand): it is left out of the
total rather than guessed. Free tiers are shown but not subtracted (an account's other
functions share them).
"""

import argparse

READ = "2026-12-01"

# --- Prices, read from AWS pages on READ ------------------------------------------------
# AWS Lambda, US East (N. Virginia), x86: "$0.20 per 1 million requests"; "$0.00001667 for
# every GB-second"; free tier "1 million requests per month", "400,000 GB-seconds per month".
# https://aws.amazon.com/lambda/pricing/ ("All examples below are based on price in US East
# (N. Virginia)": "The monthly compute price is $0.00001667 per GB-s", "The monthly request
# price is $0.20 per 1 million requests") and
# https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND_X86 = 0.00001667
LAMBDA_FREE_REQUESTS = 1_000_000
LAMBDA_FREE_GB_SECONDS = 400_000
# Arm (the template's default): "For functions using the Arm/Graviton2 architecture,
# duration charges are 20 percent lower than the current pricing for x86."
# https://aws.amazon.com/blogs/aws/aws-lambda-functions-powered-by-aws-graviton2-processor-run-your-functions-on-arm-and-get-up-to-34-better-price-performance/
LAMBDA_ARM_DURATION_FACTOR = 0.80

# Amazon EventBridge: "AWS Free Tier: AWS management events are ingested by the event bus
# for free." (the CloudTrail events of the change-triggered mode: PutRolePolicy,
# PutKeyPolicy, ... are management events; delivered to a function of the same account).
# https://aws.amazon.com/eventbridge/pricing/
EVENTBRIDGE_MANAGEMENT_EVENT = 0.0

# AWS IAM: "IAM is an AWS service that you can use with no additional charge."
# https://docs.aws.amazon.com/sdk-for-java/v1/developer-guide/security-iam.html
IAM_READ = 0.0

# Not verified: no AWS page read gave these (the pricing pages render their rate tables
# client-side, and the stored text holds none of them):
DYNAMODB_ON_DEMAND_PER_WRITE = None  # https://aws.amazon.com/dynamodb/pricing/on-demand/
DYNAMODB_ON_DEMAND_PER_READ = None  # same page
SCHEDULER_PER_INVOCATION = None  # https://aws.amazon.com/eventbridge/pricing/ (Scheduler)
SNS_PER_PUBLISH = None  # https://aws.amazon.com/sns/pricing/
KMS_PER_REQUEST = None  # https://aws.amazon.com/kms/pricing/ (whether DescribeKey and
#                         GetKeyPolicy are charged is not verified either)
# The same page: "AWS Free Tier includes 20,000 free AWS KMS requests each month", "calculated
# across all regions".
KMS_FREE_REQUESTS = 20_000
BACKUP_READ = None  # https://aws.amazon.com/backup/pricing/ (List*/Get*/Describe* calls)

# --- Measured figures (BENCHMARKS.md, "Restore readiness"; `bash scripts/bench-readiness.sh`)
# One readiness run over 1,000 recovery points (50 roles, 10 keys, 5 vaults), the release
# CLI with 25 ms added to every AWS call: its AWS calls by service and its wall time.
MEASURED_RECOVERY_POINTS = 1000
MEASURED_CALLS = {"backup": 1068, "iam": 213, "kms": 20, "sts": 1}
MEASURED_RUN_SECONDS = 35.2
# A change re-checks a few resources and lists their recovery points per resource
# (src/aws/readiness.rs, `Scope.only`): ListRecoveryPointsByResource,
# GetRecoveryPointRestoreMetadata and DescribeRecoveryPoint, three Backup calls per resource,
# and 94 ms per resource at 25 ms per call: the bench's figures from before the full run
# listed by vault, when every resource was read that way (3,062 Backup calls and 94 s for
# 1,000 recovery points, BENCHMARKS.md, "Restore readiness", "Before this").
SCOPED_BACKUP_CALLS_PER_RESOURCE = 3
SCOPED_SECONDS_PER_RESOURCE = 0.094
# The function's memory (template.yaml, `MemorySize: 256`): Lambda bills the memory
# configured, not the 15.5 MiB it uses (BENCHMARKS.md, "Lambda cold start and memory").
MEMORY_MB = 256


def money(x):
    if x is None:
        return "not verified"
    if 0 < x < 0.0001:
        return "< $0.0001"
    return f"${x:,.4f}"


def quantity(q):
    return f"{q:,.0f}" if float(q).is_integer() else f"{q:,.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--recovery-points", type=int, default=MEASURED_RECOVERY_POINTS)
    p.add_argument("--run-seconds", type=float, default=MEASURED_RUN_SECONDS,
                   help="wall time of one run over the measured recovery points")
    p.add_argument("--memory-mb", type=int, default=MEMORY_MB)
    p.add_argument("--runs-per-month", type=int, default=30, help="daily schedule")
    p.add_argument("--changes-per-month", type=int, default=100,
                   help="CloudTrail events the change rule matches (an assumption)")
    p.add_argument("--resources-per-change", type=int, default=20,
                   help="resources one change re-checks (1,000 recovery points / 50 roles)")
    p.add_argument("--architecture", choices=["arm64", "x86_64"], default="arm64")
    args = p.parse_args()

    per_gb_s = LAMBDA_PER_GB_SECOND_X86 * (LAMBDA_ARM_DURATION_FACTOR if args.architecture == "arm64" else 1)
    gb = args.memory_mb / 1024
    scale = args.recovery_points / MEASURED_RECOVERY_POINTS
    per_resource_s = args.run_seconds / MEASURED_RECOVERY_POINTS
    # Averaged over the measured run: a change that re-checks a few resources reads its
    # role and keys once too, so this slightly overstates the IAM and KMS calls of a change.
    calls_per_resource = {s: n / MEASURED_RECOVERY_POINTS for s, n in MEASURED_CALLS.items()}

    def mode(runs, resources_per_run, seconds_per_run, publishes, per_resource):
        gb_s = runs * seconds_per_run * gb
        lines = [
            ("Lambda requests (one per run or matching event)", runs, LAMBDA_PER_REQUEST),
            ("Lambda GB-seconds", gb_s, per_gb_s),
            ("DynamoDB writes (one per resource)", runs * resources_per_run, DYNAMODB_ON_DEMAND_PER_WRITE),
            ("DynamoDB reads (one per resource)", runs * resources_per_run, DYNAMODB_ON_DEMAND_PER_READ),
            ("SNS publishes (one summary per run, at most)", publishes, SNS_PER_PUBLISH),
        ]
        for service, price in (("iam", IAM_READ), ("kms", KMS_PER_REQUEST), ("backup", BACKUP_READ)):
            n = runs * resources_per_run * per_resource.get(service, 0)
            lines.append((f"{service.upper() if service != 'backup' else 'Backup'} read calls", n, price))
        return lines

    scheduled_resources = round(args.recovery_points)
    scheduled = mode(args.runs_per_month, scheduled_resources, args.run_seconds * scale, args.runs_per_month,
                     calls_per_resource)
    scheduled.append(("EventBridge Scheduler invocations", args.runs_per_month, SCHEDULER_PER_INVOCATION))
    change_seconds = args.resources_per_change * max(per_resource_s, SCOPED_SECONDS_PER_RESOURCE)
    scoped = dict(calls_per_resource, backup=SCOPED_BACKUP_CALLS_PER_RESOURCE)
    changed = mode(args.changes_per_month, args.resources_per_change, change_seconds, args.changes_per_month,
                   scoped)
    changed.append(("CloudTrail management events into EventBridge", args.changes_per_month,
                    EVENTBRIDGE_MANAGEMENT_EVENT))

    print(f"Restore readiness, {args.recovery_points:,} recovery points, {args.architecture}, "
          f"{args.memory_mb} MB; US East (N. Virginia) list prices read {READ}; free tiers not subtracted")
    print()
    print("| mode | item | per month | unit price | cost per month |")
    print("| --- | --- | --- | --- | --- |")
    totals = {}
    for name, lines in (("scheduled (daily)", scheduled), ("change-triggered", changed)):
        total = 0.0
        for item, qty, price in lines:
            cost = None if price is None else qty * price
            total += cost or 0.0
            unit = "not verified" if price is None else ("free" if price == 0 else f"${price:.10f}".rstrip("0"))
            print(f"| {name} | {item} | {quantity(qty)} | {unit} | {money(cost)} |")
        totals[name] = total
    print()
    for name, total in totals.items():
        print(f"- {name}: {money(total)} per month of verified prices, plus the lines marked not verified")
    print(f"- Lambda free tier (per account and month): {LAMBDA_FREE_REQUESTS:,} requests, "
          f"{LAMBDA_FREE_GB_SECONDS:,} GB-seconds")
    kms = max(qty for lines in (scheduled, changed) for item, qty, _ in lines if item.startswith("KMS"))
    print(f"- KMS free tier (per account and month, all Regions): {KMS_FREE_REQUESTS:,} requests; "
          f"readiness makes at most {kms:,.0f} KMS calls a month per mode")
    print(f"- one scheduled run: {args.run_seconds * scale:,.0f} s of {args.memory_mb} MB; "
          f"one change: {change_seconds:,.1f} s for {args.resources_per_change} resources")


if __name__ == "__main__":
    main()
