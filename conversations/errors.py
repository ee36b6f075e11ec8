"""The refusals of conversation services and selectors, each with its stable code and
message (the API shows both; the socket and Telegram show the message). How each surface
answers them: chatorical/errors.py."""

from chatorical.errors import Conflict, Invalid, NotFound


class ConversationNotFound(NotFound):
    code = "conversation_not_found"
    message = "No such conversation."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    message = "This conversation is closed."


class AlreadyClaimed(Conflict):
    code = "already_claimed"

    def __init__(self, *, claimed_by: str):
        super().__init__(f"Already claimed by {claimed_by}.")


class InvalidName(Invalid):
    """A visitor's name that is not a string, holds NUL or is too long (or, where one is
    required, is blank)."""

    code = "invalid_name"
