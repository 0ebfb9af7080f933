"""API plumbing shared by every app: the one error shape, and token exchange."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from portal import api_examples, services
from portal.errors import ServiceError, record_refusal


def _message_for(data) -> str:
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return "The request has invalid fields; see `fields`."


def exception_handler(exc, context):
    """Every API error answers {"error": {"code", "message", "fields"}}."""
    if isinstance(exc, RequestDataTooBig):
        message = f"The request body is larger than {settings.API_MAX_BODY_BYTES // 1024} KB."
        return Response({"error": {"code": "parse_error", "message": message, "fields": {}}}, status=400)
    if isinstance(exc, ServiceError):
        record_refusal(exc)  # the view's transaction has rolled back by now
        body = {"error": {"code": exc.code, "message": exc.message, "fields": exc.fields, **getattr(exc, "extra", {})}}
        return Response(body, status=exc.status)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "error")
    if isinstance(exc, serializers.ValidationError):
        code = "validation_error"
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
    else:
        fields = {}
    response.data = {"error": {"code": code, "message": _message_for(data), "fields": fields}}
    return response


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    otp = serializers.CharField(max_length=20, required=False, allow_blank=True,
                                help_text="The current code from the authenticator app (or a recovery code); not needed for platform accounts.")


class TokenView(APIView):
    """Exchange a username and password for an API token (`Authorization: Token <token>`)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
        auth=[],
        examples=[api_examples.TOKEN],
    )
    def post(self, request):
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        token = services.api_token_exchange(request=request._request, **body.validated_data)
        return Response({"token": token}, status=status.HTTP_200_OK)
