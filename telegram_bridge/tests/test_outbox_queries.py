"""What delivering a visitor's message costs the database: a fixed number of statements,
however many queued messages go out in the same post."""

import pytest

from conversations.tests.factories import start, visitor_says

# The drain, with no transaction held across the post: the lease (a conditional update),
# the cursor with its conversation and tenant, the head event, the messages; in the
# handler a delivery left half sent by an earlier try and the topic; the cursor moved on.
# Then the head event and the messages that find nothing left, and the lease let go.
SINGLE_POST_QUERIES = 10
# However many messages the post merges: they come in the same read.
MERGED_POST_QUERIES = SINGLE_POST_QUERIES


def test_a_single_visitor_message_costs_a_fixed_number_of_queries(client, agents, django_assert_num_queries):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    visitor_says(conversation, "hello")
    with django_assert_num_queries(SINGLE_POST_QUERIES):
        assert agents.drain(conversation) == 1
    assert agents.topic_texts(conversation)[1:] == ["hello"]


@pytest.mark.parametrize("queued", [2, 10])
def test_a_merged_post_costs_the_same_queries_however_many_messages_it_carries(
    client, agents, django_assert_num_queries, queued
):
    conversation = start(client, name="Ada")
    agents.drain(conversation)
    for i in range(queued):
        visitor_says(conversation, f"message {i}")
    with django_assert_num_queries(MERGED_POST_QUERIES):
        assert agents.drain(conversation) == 1
    assert agents.topic_texts(conversation)[1:] == ["\n".join(f"message {i}" for i in range(queued))]
