"""API pagination (its own module: DRF imports it while loading its generic views)."""

from rest_framework.pagination import CursorPagination, PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class NewestFirstCursor(CursorPagination):
    """For lists that grow for ever (orders): no COUNT over the whole history, stable pages while new rows arrive."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = ("-created_at", "-id")
