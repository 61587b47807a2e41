"""The figures of `benches/e2e.sh tenants`: every job checked exact against its tenant's ground truth, and the run's
wall time against the larger of the slowest tenant's request-budget time and the CPU time of the run.

Arguments: WORKDIR URL N WALL_S RSS_KIB USER_S SYS_S EMULATOR_CPU_S CORES MACHINE_BUSY_S STEAL_S (the script passes them).
"""

import json
import os
import sys
import urllib.request


def delivered(out):
    ids = []
    for root, _, files in os.walk(out):
        for f in files:
            if f.endswith(".jsonl"):
                with open(os.path.join(root, f)) as fh:
                    for line in fh:
                        ids.append(json.loads(line)["metadata"]["uid"])
    return ids


def main():
    w, url, n, wall, rss, user, sys_t, ecpu, cores, machine, steal = sys.argv[1:]
    steal = float(steal)
    n, wall, rss, cores = int(n), float(wall), int(rss), int(cores)
    user, sys_t, ecpu, machine = float(user), float(sys_t), float(ecpu), float(machine)
    tenants = [l.strip() for l in open(f"{w}/tenants") if l.strip()]
    stats = json.load(open(f"{w}/stats.json"))
    by_tenant = stats["requests_by_tenant"]
    exact, records, problems = 0, 0, []
    for i, t in enumerate(tenants):
        truth = set()
        with urllib.request.urlopen(f"{url}/_emulator/ground-truth?tenant={t}") as r:
            for ids in json.load(r).values():
                truth.update(ids)
        got = delivered(f"{w}/out/t{i}")
        records += len(got)
        if len(got) == len(set(got)) and set(got) == truth:
            exact += 1
        elif len(problems) < 5:
            problems.append(f"t{i}: {len(got)} delivered, {len(set(got))} distinct, {len(truth)} expected")
    lines = [l for l in open(f"{w}/tenants.stderr") if l.startswith("{")]
    reports = [json.loads(l) for l in lines if '"content_types"' in l]
    summary = [json.loads(l) for l in lines if '"peak_jobs"' in l]
    last = summary[-1] if summary else {}
    outcomes = {}
    for r in reports:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    slowest = max(by_tenant.get(t, 0) for t in tenants)
    budget = max(slowest - 5, 0) * 60 / 2000
    cpu_need = (user + sys_t + ecpu) / cores
    machine_need = machine / cores
    bound = max(budget, cpu_need)
    machine_bound = max(budget, machine_need)
    print(f"tenants: {n} job files of {n} tenants, 5 content types, {records} records; "
          f"--max-jobs {last.get('max_jobs', '?')}, at most {last.get('peak_jobs', '?')} jobs at once, "
          f"{last.get('turns', '?')} turns")
    print(f"  exact: {exact}/{n} jobs{'' if not problems else ' -- ' + '; '.join(problems)}; outcomes {outcomes}")
    print(f"  wall {wall:.2f} s, peak RSS {rss} KiB = {rss / 1024:.1f} MiB (target < 256 MiB)")
    print(f"  slowest tenant: {slowest} API requests = {budget:.2f} s of its 2000/min budget")
    print(f"  CPU: collector {user + sys_t:.2f} s (user {user:.2f}, sys {sys_t:.2f}) + emulator {ecpu:.2f} s "
          f"over {cores} cores = {cpu_need:.2f} s")
    print(f"  machine: {machine:.2f} s busy over {cores} cores = {machine_need:.2f} s (processes' CPU plus the "
          f"kernel's journal, writeback and loopback work; idle and I/O wait excluded); the hypervisor took "
          f"{steal:.2f} s of the cores for other machines")
    print(f"  wall / max(budget, process CPU) = {wall / bound:.3f}; wall / max(budget, machine CPU) = "
          f"{wall / machine_bound:.3f} (target <= 1.2)")
    print(f"  per job: {wall / n * 1000:.1f} ms wall, {(user + sys_t) / n * 1000:.1f} ms collector CPU, "
          f"{rss / n:.1f} KiB RSS")
    if exact != n:
        sys.exit(1)


main()
