import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatorical.settings")

from chatorical import metrics, tracing  # noqa: E402
from chatorical.direct_http import DirectHttpRouter  # noqa: E402

# Before the handler is built: Django's instrumentation adds a middleware.
tracing.configure()
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up)

from chatorical.logs import daphne_access_log_mask  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

daphne_access_log_mask()
metrics.process_started()

application = ProtocolTypeRouter(
    {
        "http": DirectHttpRouter(django_asgi_app),
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
