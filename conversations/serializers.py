"""How conversations and messages look to integrators: the /api/v2 API and the v1 admin
exports share these shapes."""

from rest_framework import serializers

from conversations.models import Conversation, Message


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = [
            "id",
            "status",
            "visitor_name",
            "locale",
            "page_url",
            "claimed_by_name",
            "note",
            "last_seq",
            "created_at",
            "updated_at",
            "closed_at",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "seq", "direction", "text", "agent_name", "created_at"]
        read_only_fields = fields


class ConversationExportSerializer(ConversationSerializer):
    messages = MessageSerializer(many=True, read_only=True, source="messages.all")

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
        read_only_fields = fields
