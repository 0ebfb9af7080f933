"""The baseline of bench/throughput.sh: an authenticated DRF endpoint that inserts one row, on the
same stack as ours. Only installed (the bench app) when BENCH_ENDPOINTS=1."""

from rest_framework.response import Response
from rest_framework.views import APIView

from portal.models import BenchmarkPing


class BareInsert(APIView):
    def post(self, request):
        ping = BenchmarkPing.objects.create()
        return Response({"id": ping.pk}, status=201)
