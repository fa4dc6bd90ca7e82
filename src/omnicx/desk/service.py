"""The desk's services, for the layers above it (the web console, automation): load a
conversation with row-level access, list, reply, change status, assign. Other domains
use these, never ``desk.models``; each takes a session and never commits."""

from omnicx.desk.access import LoadedConversation, Reach, load_conversation, reach_of
from omnicx.desk.assignment import assign, set_labels, set_priority
from omnicx.desk.listing import list_conversations
from omnicx.desk.messages import RECEIVED, SENT, Sender, message_call
from omnicx.desk.replies import post_message
from omnicx.desk.routing import drain_agent_queues, drain_queues
from omnicx.desk.status import handoff, set_status, snooze, wake
from omnicx.desk.teams import set_presence

__all__ = [
    "RECEIVED",
    "SENT",
    "LoadedConversation",
    "Reach",
    "Sender",
    "assign",
    "drain_agent_queues",
    "drain_queues",
    "handoff",
    "list_conversations",
    "load_conversation",
    "message_call",
    "post_message",
    "reach_of",
    "set_labels",
    "set_presence",
    "set_priority",
    "set_status",
    "snooze",
    "wake",
]
