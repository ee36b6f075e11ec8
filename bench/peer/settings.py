"""Settings of the minimal peer: no database, no apps, no middleware, one channel layer."""

import os

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [os.environ["REDIS_URL"]],
            "prefix": f"{os.environ.get('REDIS_KEY_PREFIX', 'bench')}:peer",
        },
    }
}
USE_TZ = True
