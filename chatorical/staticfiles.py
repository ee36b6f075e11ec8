"""The static files storage: WhiteNoise's compressed files under hashed names, once
collectstatic has run (`make run`, the release); before that (a test run, a fresh
checkout) the apps' files under their own names, which WhiteNoise serves from the apps'
folders. Prod always needs the collected manifest."""

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name):
        if not self.hashed_files and not settings.IS_PROD:
            return name
        return super().stored_name(name)
