"""The minimal peer `make bench` measures beside the project: a plain Channels group chat.

One consumer joins the group named in its URL and sends each frame it receives to that
group with `group_send`; every socket of the group gets it. Nothing is stored, nobody is
authenticated, no limit is checked: what is left is daphne, Channels and
`RedisPubSubChannelLayer`, the floor under any chat built on them. Its frames carry
`direction: INBOUND` like the project's, so one load generator drives both.
"""
