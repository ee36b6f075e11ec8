"""What delivering a visitor's message costs the database: a fixed number of statements,
however many queued messages go out in the same post."""

import pytest

from telegram_bridge.tests.test_flow import start, visitor_says

# The drain's transaction (a savepoint here, inside the test's) around: the claim, which
# reads the tenant and the conversation too; the handler's savepoint; the message with the
# parts posted before; the events queued behind it; the delivery; the event done. Then the
# claim that finds nothing left, in a transaction of its own.
SINGLE_POST_QUERIES = 11
# And for a merged post: the queued events' messages, in one query, and marking them done.
MERGED_POST_QUERIES = SINGLE_POST_QUERIES + 2


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
