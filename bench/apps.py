from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Benchmark-only code: the bare insert endpoint (bench/throughput.sh) and `generate_orders`.
    Installed only when BENCH_ENDPOINTS=1 (never in production), so neither exists otherwise."""

    name = "bench"
    label = "bench"
    verbose_name = "Benchmarks"
