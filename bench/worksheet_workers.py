"""Benchmark: worksheets per minute with 1 and 2 worker processes, and worker memory over 500 renders.

Needs PostgreSQL and Redis (the real stack). Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_load CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \
        .venv/bin/python bench/worksheet_workers.py [--renders 60] [--memory-renders 500]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django  # noqa: E402

django.setup()
from django.core.management import call_command  # noqa: E402

from bench.worksheet_render import a_job  # noqa: E402
from fulfillment.models import RenderStatus, Worksheet  # noqa: E402
from fulfillment.tasks import render_worksheet  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    return [int(x) for x in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]


def start_worker(concurrency: int) -> subprocess.Popen:
    log = open(ROOT / "var" / f"bench-worker-{concurrency}.log", "w+")
    process = subprocess.Popen([sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "prefork", "--concurrency",
                                str(concurrency), "--queues", "pdf", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    time.sleep(6)
    return process


def run(job, count: int, start_version: int, sample=None) -> float:
    ids = [Worksheet.objects.create(job=job, version=start_version + i).pk for i in range(count)]
    started = time.perf_counter()
    for pk in ids:
        render_worksheet.delay(pk)
    done = 0
    while done < count:
        time.sleep(0.5)
        done = Worksheet.objects.filter(pk__in=ids, status=RenderStatus.READY).count()
        if sample:
            sample(done)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=60)
    parser.add_argument("--memory-renders", type=int, default=500)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    job = a_job()
    version = 10_000
    print("| worker processes | renders | seconds | worksheets/minute |")
    print("| ---: | ---: | ---: | ---: |")
    for concurrency in (1, 2):
        worker = start_worker(concurrency)
        try:
            seconds = run(job, args.renders, version)
            version += args.renders
            print(f"| {concurrency} | {args.renders} | {seconds:.1f} | {args.renders / seconds * 60:.0f} |")
        finally:
            worker.terminate()
            worker.wait(timeout=60)
    worker = start_worker(1)
    marks = {}
    try:
        def sample(done):
            kids = children(worker.pid)
            if kids:
                marks.setdefault(done // 100 * 100, max(rss_kib(pid) for pid in kids))

        run(job, args.memory_renders, version, sample)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    print("\n| renders done | worker child RSS (MiB) |\n| ---: | ---: |")
    for done, kib in sorted(marks.items()):
        print(f"| {done} | {kib / 1024:.0f} |")


if __name__ == "__main__":
    main()
