"""Bad input is a 4xx, never a 500, on a real daphne: oversized bodies, NUL characters and
oversized socket frames, then hypothesis-generated bodies and frames for the v1 and v2
widget endpoints and sockets. The server's log must hold no traceback afterwards.
(/api/v2 is fuzzed from its OpenAPI schema by test_api_v2_fuzz.py.)"""

import asyncio
import json
import string
from urllib.parse import quote

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations.tests.factories import conversation_for, token_for, v2_token_for
from tenants.models import ApiKey
from tenants.services import api_key_create

pytestmark = [pytest.mark.processes, pytest.mark.django_db(transaction=True)]

SITE = "https://shop.example"
TWO_MEGABYTES = 2 * 1024 * 1024


@pytest.fixture
def server(start_server, default_tenant):
    # Limits are tested elsewhere; here they would only turn generated requests into 429s.
    return start_server(RATE_LIMIT_SCALE=100000, WIDGET_ALLOWED_ORIGINS=SITE)


def assert_no_traceback(server):
    log = server.log_path.read_text()
    assert "Traceback" not in log and "internal_error" not in log, log[-3000:]


def assert_client_error(response: httpx.Response, status: int, code: str):
    assert response.status_code == status, response.text[:500]
    assert response.json()["error"]["code"] == code and response.json()["error"]["message"]


def test_oversized_bodies_answer_413_on_every_kind_of_endpoint(server, default_tenant):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    key = api_key_create(tenant=default_tenant, name="Big", scopes=list(ApiKey.Scope.values)).raw_key
    huge = json.dumps({"name": "x" * TWO_MEGABYTES})
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for path, headers in [
            ("/v1/start", {}),
            ("/v2/tenants/default/conversations", {}),
            (f"/v1/conversations/{conversation.id}/rename", {"Authorization": f"Bearer {token_for(conversation)}"}),
            (f"/api/v2/conversations/{conversation.id}/messages/", {"Authorization": f"Api-Key {key}"}),
        ]:
            response = http.post(path, content=huge, headers={"Content-Type": "application/json", **headers})
            assert_client_error(response, 413, "body_too_large")
    assert_no_traceback(server)


def test_nul_characters_answer_400(server, default_tenant):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert_client_error(http.post("/v1/start", json={"name": "Ada\x00"}), 400, "invalid_name")
        assert_client_error(
            http.post("/v2/tenants/default/conversations", json={"page_url": "https://shop.example/\x00"}),
            400,
            "invalid_page_url",
        )
        rename = http.post(
            f"/v1/conversations/{conversation.id}/rename",
            json={"name": "\x00"},
            headers={"Authorization": f"Bearer {token_for(conversation)}"},
        )
        assert_client_error(rename, 400, "invalid_name")
    assert_no_traceback(server)


async def test_a_50_megabyte_frame_is_cut_off_by_the_server_which_serves_on(server, default_tenant):
    conversation = await asyncio.to_thread(conversation_for, default_tenant, visitor_name="Ada")
    token = await asyncio.to_thread(token_for, conversation)
    async with websockets.connect(f"{server.ws_url}/v1/ws?token={token}", origin=SITE, max_size=None) as socket:
        await socket.recv()  # the welcome
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await socket.send("x" * (50 * 1024 * 1024))
            while True:
                await socket.recv()
        # The server fails the connection (1009, message too big) as soon as it reads the
        # frame's length; a client still sending may see only the reset, not the close frame.
        assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    async with websockets.connect(f"{server.ws_url}/v1/ws?token={token}", origin=SITE) as socket:
        assert json.loads(await socket.recv())["key"] == "welcome"
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{server.url}/health")).status_code == 200
    assert_no_traceback(server)


# --- generated input ---------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)
# Texts that reach the database and Telegram: NULs, control and astral characters, long runs.
nasty_text = st.text(st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    ["\x00", "a\x00b", " \t\n", "\ud7ff\ue000", "😀" * 50, "x" * 20000, "<script>", "%00", "../.."]
)
start_fields = st.fixed_dictionaries(
    {},
    optional={
        "name": nasty_text | json_values,
        "locale": nasty_text | st.sampled_from(["en", "de-AT", "zz-ZZZZ-1", "e" * 40]) | json_values,
        "page_url": nasty_text | st.sampled_from(["https://a.example/\x00", "http://", "https://a b"]) | json_values,
    },
)
bodies = st.one_of(
    start_fields.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")),
)
ids = st.uuids().map(str) | st.text(string.printable, max_size=40)

GENERATED = hypothesis_settings(
    max_examples=50, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_generated_widget_requests_never_answer_a_server_error(server, default_tenant):
    conversation = conversation_for(default_tenant, visitor_name="Ada")
    bearer = {"Authorization": f"Bearer {token_for(conversation)}"}
    http = httpx.Client(base_url=server.url, timeout=30, headers={"Origin": SITE})

    @GENERATED
    @given(body=bodies, conversation_id=ids, use_own_conversation=st.booleans())
    def widget_requests(body, conversation_id, use_own_conversation):
        target = str(conversation.id) if use_own_conversation else quote(conversation_id, safe="")
        json_headers = {"Content-Type": "application/json"}
        responses = [
            http.post("/v1/start", content=body, headers=json_headers),
            http.post("/v2/tenants/default/conversations", content=body, headers=json_headers),
            http.post(f"/v1/conversations/{target}/rename", content=body, headers={**json_headers, **bearer}),
            http.get(f"/v1/conversations/{target}/messages", headers=bearer),
            http.post(f"/v2/tenants/default/conversations/{target}/token"),
            http.get("/v2/tenants/default/bootstrap", params={"locale": body[:50]}),
        ]
        for response in responses:
            assert response.status_code < 500, (response.request.url, body[:200], response.text[:300])
            if response.status_code >= 400:
                assert set(response.json()["error"]) >= {"code", "message"}

    try:
        widget_requests()
    finally:
        http.close()
    assert_no_traceback(server)


frames = st.one_of(
    st.fixed_dictionaries({"type": st.just("message"), "text": nasty_text | json_values}).map(json.dumps),
    st.fixed_dictionaries({}, optional={"type": json_values, "text": json_values}).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=300),
    st.binary(max_size=300),
)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_generated_socket_frames_get_an_answer_and_keep_the_socket(server, default_tenant, version):
    conversation = conversation_for(default_tenant, visitor_name="Ada")

    async def exchange(frame) -> dict:
        token = token_for(conversation) if version == "v1" else v2_token_for(conversation)
        url = f"{server.ws_url}/{version}/ws?token={token}"
        async with websockets.connect(url, origin=SITE, max_size=None) as socket:
            while json.loads(await socket.recv()).get("key") != "welcome":
                pass  # the backlog of earlier examples
            await socket.send(frame)
            while True:  # past the offline note that may follow the welcome
                answer = json.loads(await asyncio.wait_for(socket.recv(), 10))
                if answer.get("key") != "offline":
                    return answer

    @hypothesis_settings(GENERATED, max_examples=30)
    @given(frame=frames)
    def socket_frames(frame):
        answer = asyncio.run(exchange(frame))
        if answer.get("direction") != "INBOUND":
            assert answer["type"] == "info_note" and answer["key"] and answer["text"], answer

    socket_frames()
    assert_no_traceback(server)
