"""Cursor pagination for large collections: no COUNT over the table on every page."""

from rest_framework.pagination import CursorPagination
from rest_framework.response import Response


class IdCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class CountedCursorPagination(IdCursorPagination):
    """Cursor pages plus "count": for segments and lists, where the count is the
    point and is one indexed query."""

    def paginate_queryset(self, queryset, request, view=None):
        self.count = queryset.order_by().count()
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        return Response(
            {
                "count": self.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )
