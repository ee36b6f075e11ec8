"""One JSON error shape for every HTTP API: {"error": {"code", "message"}}."""

from django.http import JsonResponse


class ApiError(Exception):
    """Raised by a view or service to answer the client with a clear 4xx."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message}}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def api_error_response(error: ApiError) -> JsonResponse:
    return error_response(error.status, error.code, error.message, error.headers)
