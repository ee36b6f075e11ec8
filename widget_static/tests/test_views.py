"""The widget views without a build: a clear JSON error instead of a crash."""

import pytest

from widget_static import views


@pytest.fixture
def no_built_widget(settings):
    # Only a finder over no directories: the built scripts in widget_static/static/ are not found.
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.STATICFILES_DIRS = []
    views._static_source.cache_clear()
    yield
    views._static_source.cache_clear()


@pytest.mark.parametrize("path", ["/widget.js", "/widget/v2.js"])
def test_a_widget_that_was_not_built_answers_a_json_503_that_says_how_to_build_it(client, no_built_widget, path):
    response = client.get(path)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "widget_not_built"
    assert "make widget" in error["message"]


SCRIPTS = [("/widget.js", "ChatoricalWidgetV1"), ("/widget/v2.js", "ChatoricalWidgetV2")]


@pytest.mark.parametrize(("path", "name"), SCRIPTS)
def test_the_built_widgets_are_served_at_their_paths(client, path, name):
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=300"
    assert f"window.{name}=".encode() in response.content
